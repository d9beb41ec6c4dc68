"""Load rules/*.yaml and alerts/channels.yaml into one immutable Config.

Every problem is a ConfigError(file, line, col, message); all of them are collected and raised
together as ConfigErrors. `${VAR}` reads the environment; secrets stay SecretStr.
"""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from urllib.parse import urlsplit
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

from pydantic import BaseModel
from yaml.nodes import Node

from monitor.config.channelsfile import LoadedChannel, load_channels
from monitor.config.crontab import cron_trigger
from monitor.config.durations import parse_duration
from monitor.config.examples import check_examples
from monitor.config.rulesfile import Entry, Found, read_rules_file, rules_files
from monitor.config.yamlnodes import (
    Report,
    Source,
    boolean,
    is_null,
    is_plain,
    position,
    text,
    text_list,
)
from monitor.errors import ConfigError, ConfigErrors, QuerySyntaxError
from monitor.query import Query, QueryCompiler
from monitor.render import check_templates


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class FeedConfig:
    name: str
    url: str  # http(s) URL, file:// URL, or an absolute path (relative paths resolved against the rules file)
    every: timedelta = timedelta(minutes=10)
    tags: tuple[str, ...] = ()
    backfill: bool = False
    fulltext: bool = False  # fetch each new item's article page and match its main text too
    where: Location | None = field(default=None, compare=False, repr=False)  # moving it is no change

    @property
    def local(self) -> bool:
        """A feed read from a file: only such a feed may link to article pages that are local files."""
        return self.url.startswith("file://") or self.url.startswith("/")


@dataclass(frozen=True)
class RuleConfig:
    name: str
    match: str  # the query text as written
    query: Query  # compiled, aliases applied
    feeds: frozenset[str]  # resolved feed names (tags expanded); every feed when the rule names none
    alert: tuple[str, ...] = ()  # channel names; empty: matches are only logged (dry run)
    digest: str | None = None  # cron expression
    lookback: timedelta = timedelta(hours=24)
    where: Location | None = field(default=None, compare=False, repr=False)  # moving it is no change
    examples: tuple[str, ...] = field(default=(), compare=False)  # "match: \"text\"", each checked at load

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever what the rule matches (aliases too) or where it sends changes (drives lookback)."""
        import hashlib

        parts = [self.match, repr(self.query.aliases), ",".join(sorted(self.feeds)), ",".join(self.alert)]
        text = "\x1f".join([*parts, self.digest or ""])
        return hashlib.sha256(text.encode()).hexdigest()[:16]


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    options: BaseModel  # the channel class's validated Options (secrets as SecretStr)
    where: Location | None = field(default=None, compare=False, repr=False)  # moving it is no change


@dataclass(frozen=True)
class Config:
    feeds: dict[str, FeedConfig] = field(default_factory=dict)
    rules: dict[str, RuleConfig] = field(default_factory=dict)
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timezone: str | None = None  # IANA name; None: the machine's
    retention: timedelta = timedelta(days=30)
    templates_dir: Path | None = None
    warnings: tuple[str, ...] = ()  # file:line:col: warning (e.g. an interval under 1m)
    lookback: timedelta = timedelta(hours=24)  # the global default of every rule's lookback


MIN_INTERVAL = timedelta(minutes=1)
URL_EXPECTED = "an http(s) URL, a file:///absolute/path URL, or a path relative to the rules file"


def load_config(rules_dir: Path, channels_file: Path, env: Mapping[str, str] | None = None) -> Config:
    """Load and validate everything; raise ConfigErrors listing every problem found."""
    config, errors, _ = check_config(rules_dir, channels_file, env)
    if errors or config is None:
        raise ConfigErrors(errors)
    return config


def check_config(
    rules_dir: Path, channels_file: Path, env: Mapping[str, str] | None = None
) -> tuple[Config | None, list[ConfigError], list[str]]:
    """Load and validate everything: (the Config or None if any error, every error, every warning)."""
    report, found = Report(), Found()
    files = rules_files(rules_dir, report)
    for path in files:
        read_rules_file(path, found, report)
    channels = load_channels(channels_file, os.environ if env is None else env, report)
    config = _build(found, channels, channels_file)
    order = {str(path): index for index, path in enumerate([*files, channels_file])}
    errors = sorted(report.errors, key=lambda e: (order.get(e.file, -1), e.line, e.col))
    errors += check_templates(config.templates_dir)  # a broken template is refused now, not at send time
    noted = sorted(report.warnings, key=lambda w: (order.get(w[0], -1), w[1], w[2]))
    warnings = [f"{file}:{line}:{col}: warning: {message}" for file, line, col, message in noted]
    return (None if errors else replace(config, warnings=tuple(warnings))), errors, warnings


@dataclass
class _Context:
    """What a rule is checked against: aliases, feeds and tags, channels, timezone, default lookback."""

    compiler: QueryCompiler  # the aliases applied
    feeds: dict[str, FeedConfig]
    channels: set[str] | None  # None: the channels file is unreadable, so names cannot be checked
    timezone: ZoneInfo | None
    lookback: timedelta


def _build(found: Found, channels: dict[str, LoadedChannel | None] | None, channels_file: Path) -> Config:
    """Turn the merged entries into the Config, reporting every problem along the way."""
    zone = _timezone(found)
    lookback = _setting_duration(found, "lookback", timedelta(hours=24))
    aliases = {word: alternatives for word, (alternatives, _, _) in found.aliases.items()}
    feeds = {name: _feed(entry) for name, entry in found.feeds.items()}
    context = _Context(
        QueryCompiler(aliases), feeds, None if channels is None else set(channels), zone, lookback
    )
    rules = {name: _rule(entry, context) for name, entry in found.rules.items()}
    templates = channels_file.parent / "templates"
    return Config(
        feeds=feeds,
        rules={name: rule for name, rule in rules.items() if rule is not None},
        channels={name: _channel(name, ch, channels_file) for name, ch in (channels or {}).items() if ch},
        aliases=aliases,
        timezone=zone.key if zone else None,
        retention=_setting_duration(found, "retention", timedelta(days=30)),
        templates_dir=templates if templates.is_dir() else None,
        lookback=lookback,
    )


def _channel(name: str, loaded: LoadedChannel, channels_file: Path) -> ChannelConfig:
    """A ChannelConfig from a validated channel (the default console has no location)."""
    where = Location(str(channels_file), loaded.line, loaded.col) if loaded.line else None
    return ChannelConfig(name, loaded.type, loaded.options, where)


def _timezone(found: Found) -> ZoneInfo | None:
    """The `timezone:` setting as a ZoneInfo; None means the machine's."""
    if "timezone" not in found.settings:
        return None
    src, node = found.settings["timezone"]
    name = text(src, node, "'timezone'")
    if name is None:
        return None
    try:
        return ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        src.error(node, f"unknown timezone '{name}' (expected an IANA name like Europe/London or UTC)")
        return None


def _setting_duration(found: Found, name: str, default: timedelta) -> timedelta:
    """A global duration setting, or its default."""
    if name not in found.settings:
        return default
    src, node = found.settings[name]
    return _duration(src, node, f"'{name}'") or default


def _duration(src: Source, node: Node, what: str) -> timedelta | None:
    """A duration value (30s, 5m, 1h30m); None after reporting an error."""
    value = text(src, node, what)
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        src.error(node, f"invalid duration '{value}' for {what}: {exc}")
        return None


def _feed(entry: Entry) -> FeedConfig:
    """One feed; bad fields are reported and left at their defaults."""
    src, fields, what = entry.src, entry.fields, f"feed '{entry.name}'"
    url = _feed_url(src, fields["url"][1], what) if "url" in fields else ""
    if "url" not in fields:
        src.error(entry.name_node, f"missing key 'url' in {what} (expected {URL_EXPECTED})")
    every = timedelta(minutes=10)
    if "every" in fields:
        every = _duration(src, fields["every"][1], f"'every' in {what}") or every
        if every < MIN_INTERVAL:
            src.warn(fields["every"][1], f"{what} is polled every {every.total_seconds():g}s, under 1m")
    tags = text_list(src, fields["tags"][1], f"'tags' in {what}") if "tags" in fields else []
    backfill = boolean(src, fields["backfill"][1], f"'backfill' in {what}") if "backfill" in fields else False
    fulltext = boolean(src, fields["fulltext"][1], f"'fulltext' in {what}") if "fulltext" in fields else False
    where = Location(src.file, *position(entry.name_node))
    tag_names = tuple(tag for tag, _ in tags or [])
    return FeedConfig(entry.name, url, every, tag_names, bool(backfill), bool(fulltext), where)


def _feed_url(src: Source, node: Node, what: str) -> str:
    """An http(s) URL, a file:// URL, or a local path made absolute against the rules file's folder."""
    value = text(src, node, f"'url' in {what}")
    if value is None:
        return ""
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme in ("http", "https") and parts.netloc:
        return value
    if scheme == "file" and parts.netloc in ("", "localhost") and parts.path.startswith("/"):
        return value
    if scheme in ("http", "https", "file") or "://" in value:
        src.error(node, f"invalid 'url' in {what} (expected {URL_EXPECTED})")
        return ""
    try:
        path = Path(value).expanduser()
        path = (path if path.is_absolute() else Path(src.file).parent / path).resolve()
        if not path.is_file():
            src.warn(node, f"{what}: no file at {path}")
    except (OSError, ValueError, RuntimeError) as exc:
        src.error(node, f"invalid 'url' in {what}: not a usable path ({exc}; expected {URL_EXPECTED})")
        return ""
    return str(path)


def _rule(entry: Entry, context: _Context) -> RuleConfig | None:
    """One rule; None when its query does not compile (every other problem is reported too)."""
    src, fields, what = entry.src, entry.fields, f"rule '{entry.name}'"
    query = _query(src, fields["match"][1], what, context.compiler) if "match" in fields else None
    if "match" not in fields:
        src.error(
            entry.name_node, f"missing key 'match' in {what} (expected a query, e.g. 'ceasefire Ukraine')"
        )
    feeds = _rule_feeds(src, fields["feeds"][1], what, context.feeds) if "feeds" in fields else None
    alert = _rule_alert(src, fields["alert"][1], what, context.channels) if "alert" in fields else ()
    digest = _digest(src, fields["digest"][1], what, context.timezone) if "digest" in fields else None
    lookback = context.lookback
    if "lookback" in fields:
        lookback = _duration(src, fields["lookback"][1], f"'lookback' in {what}") or lookback
    examples = check_examples(src, fields["examples"][1], what, query) if "examples" in fields else ()
    if query is None:
        return None
    return RuleConfig(
        name=entry.name,
        match=query.text,
        query=query,
        feeds=frozenset(context.feeds) if feeds is None else feeds,
        alert=alert,
        digest=digest,
        lookback=lookback,
        where=Location(src.file, *position(entry.name_node)),
        examples=examples,
    )


def _query(src: Source, node: Node, what: str, compiler: QueryCompiler) -> Query | None:
    """Compile `match:`; a syntax error points into the query where the YAML allows it."""
    value = text(src, node, f"'match' in {what}")
    if value is None:
        return None
    try:
        return compiler.compile(value)
    except QuerySyntaxError as exc:
        single_line = node.start_mark.line == node.end_mark.line
        if is_plain(node) and single_line:
            src.error(node, f"invalid query in {what}: {exc.message}", col_offset=exc.col - 1)
        else:
            src.error(node, f"invalid query in {what} at column {exc.col} of the query: {exc.message}")
        return None


def _rule_feeds(src: Source, node: Node, what: str, feeds: dict[str, FeedConfig]) -> frozenset[str] | None:
    """`feeds:` names or tags, resolved to feed names; None (every feed) when absent or null."""
    if is_null(node):
        return None
    names = text_list(src, node, f"'feeds' in {what}")
    if names is None:
        return frozenset()
    if not names:
        src.error(node, f"'feeds' in {what} is empty (list feed names or tags, or leave it out: every feed)")
    resolved: set[str] = set()
    for name, item in names:
        matching = {feed.name for feed in feeds.values() if name == feed.name or name in feed.tags}
        if not matching:
            known = ", ".join(sorted(set(feeds) | {tag for feed in feeds.values() for tag in feed.tags}))
            expected = f"expected one of: {known}" if known else "no feeds are defined"
            src.error(item, f"unknown feed or tag '{name}' in {what} ({expected})")
        resolved |= matching
    return frozenset(resolved)


def _rule_alert(src: Source, node: Node, what: str, channels: set[str] | None) -> tuple[str, ...]:
    """`alert:` channel names from the channels file; empty means a dry run."""
    names = text_list(src, node, f"'alert' in {what}") or []
    for name, item in names:
        if channels is not None and name not in channels:
            known = ", ".join(sorted(channels)) or "no channels defined"
            src.error(item, f"unknown channel '{name}' in {what} (expected one of: {known})")
    return tuple(dict.fromkeys(name for name, _ in names))


def _digest(src: Source, node: Node, what: str, zone: ZoneInfo | None) -> str | None:
    """`digest:` a 5-field cron expression, checked by APScheduler in the config's timezone."""
    if is_null(node):
        return None
    value = text(src, node, f"'digest' in {what}")
    if value is None:
        return None
    try:
        cron_trigger(value, zone)
    except ValueError as exc:
        expected = "expected minute hour day-of-month month day-of-week, e.g. '0 8 * * mon-fri'"
        src.error(node, f"invalid cron expression in 'digest' of {what}: {exc} ({expected})")
        return None
    return value
