"""Load rules/*.yaml and alerts/channels.yaml into one immutable Config.

Every problem is a ConfigError(file, line, col, message); all of them are collected and raised
together as ConfigErrors. `${VAR}` reads the environment, `.env` and `VAR_FILE` files (config.secrets); secrets stay SecretStr.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from datetime import timedelta
from functools import cached_property
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit

from pydantic import BaseModel
from yaml.nodes import Node

from monitor import scrub
from monitor.config.channelsfile import LoadedChannel, load_channels
from monitor.config.compare import fingerprint
from monitor.config.examples import check_examples
from monitor.config.rulesfile import Entry, Found, read_rules_file, rules_files
from monitor.config.schema import (
    DEFAULT_LOOKBACK,
    DEFAULT_RETENTION,
    URL_EXPECTED,
    FeedSpec,
    RulesFile,
    RuleSpec,
)
from monitor.config.secrets import environment
from monitor.config.yamlnodes import Report, Source, is_plain, position
from monitor.errors import ConfigError, ConfigErrors, QuerySyntaxError
from monitor.query import Query, QueryCompiler
from monitor.query.cache import CachedCompiler


@dataclass(frozen=True)
class Location:
    file: str
    line: int
    col: int

    def __str__(self) -> str:
        return f"{self.file}:{self.line}:{self.col}"


@dataclass(frozen=True)
class FeedConfig:
    """A feed as the pipeline reads it: `FeedSpec`'s fields (defaults there), the URL resolved."""

    name: str
    url: str  # http(s) URL, file:// URL, or an absolute path (relative paths resolved against the rules file)
    every: timedelta
    tags: tuple[str, ...]
    backfill: bool
    enabled: bool
    fulltext: bool  # fetch each new item's article page and match its main text too
    where: Location | None = field(default=None, compare=False, repr=False)  # moving it is no change

    @property
    def local(self) -> bool:
        """A feed read from a file: only such a feed may link to article pages that are local files."""
        return self.url.startswith("file://") or self.url.startswith("/")


@dataclass(frozen=True)
class RuleConfig:
    """A rule as the pipeline reads it: `RuleSpec`'s fields (defaults there), resolved and compiled.

    Every field that compares is in `fingerprint` unless its metadata says `fingerprint: False`: a new
    option changes the fingerprint, so the rule's lookback runs again when that option is edited.
    """

    name: str
    match: str  # the query text as written
    query: Query  # compiled, aliases applied
    feeds: frozenset[str]  # resolved feed names (tags expanded); every feed when the rule names none
    alert: tuple[str, ...]  # channel names; empty: matches are only logged (dry run)
    digest: str | None  # cron expression
    lookback: timedelta  # the rule's own, else the global one
    enabled: bool
    examples: tuple[str, ...] = field(default=(), metadata={"fingerprint": False})  # checked at load
    where: Location | None = field(default=None, compare=False, repr=False)  # moving it is no change

    @cached_property
    def fingerprint(self) -> str:
        """Changes whenever a field that decides what the rule matches or sends changes (drives lookback)."""
        return fingerprint(self)


@dataclass(frozen=True)
class ChannelConfig:
    name: str
    type: str
    options: BaseModel  # the channel class's validated Options (secrets as SecretStr)
    where: Location | None = field(default=None, compare=False, repr=False)  # moving it is no change
    enabled: bool = True  # false: checked and shown, but nothing is routed to it


@dataclass(frozen=True)
class Config:
    feeds: dict[str, FeedConfig] = field(default_factory=dict)
    rules: dict[str, RuleConfig] = field(default_factory=dict)
    channels: dict[str, ChannelConfig] = field(default_factory=dict)
    aliases: dict[str, tuple[str, ...]] = field(default_factory=dict)
    timezone: str | None = None  # IANA name; None: the machine's
    retention: timedelta = DEFAULT_RETENTION
    templates_dir: Path | None = None
    warnings: tuple[str, ...] = ()  # file:line:col: warning (e.g. an interval under 1m)
    lookback: timedelta = DEFAULT_LOOKBACK  # the global default of every rule's lookback


MIN_INTERVAL = timedelta(minutes=1)


def load_config(
    rules_dir: Path, channels_file: Path, env: Mapping[str, str] | None = None, *, cache: Path | None = None
) -> Config:
    """Load and validate everything; raise ConfigErrors listing every problem found.

    `cache`: a compiled-queries file (`monitor.query.cache`) to read queries from and update.
    """
    config, errors, _ = check_config(rules_dir, channels_file, env, cache=cache)
    if errors or config is None:
        raise ConfigErrors(errors)
    return config


def check_config(
    rules_dir: Path, channels_file: Path, env: Mapping[str, str] | None = None, *, cache: Path | None = None
) -> tuple[Config | None, list[ConfigError], list[str]]:
    """Load and validate everything: (the Config or None if any error, every error, every warning)."""
    report, found = Report(), Found()
    files = rules_files(rules_dir, report)
    for path in files:
        read_rules_file(path, found, report)
    channels = load_channels(channels_file, environment() if env is None else env, report)
    config = _build(found, channels, channels_file, cache)
    order = {str(path): index for index, path in enumerate([*files, channels_file])}
    errors = sorted(report.errors, key=lambda e: (order.get(e.file, -1), e.line, e.col))
    if config.templates_dir is not None:  # refused now, not at send time (jinja2 loaded only then)
        from monitor.render import check_templates

        errors += check_templates(config.templates_dir, report.warnings)
    noted = sorted(report.warnings, key=lambda w: (order.get(w[0], -1), w[1], w[2]))
    warnings = [f"{file}:{line}:{col}: warning: {message}" for file, line, col, message in noted]
    return (None if errors else replace(config, warnings=tuple(warnings))), errors, warnings


@dataclass
class _Context:
    """What a rule is checked against: aliases, feeds and their tags, channels, default lookback."""

    compiler: QueryCompiler  # the aliases applied
    feeds: dict[str, tuple[str, ...]]  # every feed named in the files (even one with errors): its tags
    channels: set[str] | None  # None: the channels file is unreadable, so names cannot be checked
    lookback: timedelta


def _setting(found: Found, name: str) -> Any:
    """A global setting as set in one of the files, else its default in the schema."""
    return found.settings[name][0] if name in found.settings else RulesFile.model_fields[name].default


def _build(
    found: Found, channels: dict[str, LoadedChannel | None] | None, channels_file: Path, cache: Path | None
) -> Config:
    """Turn the merged specs into the Config, reporting every problem that needs more than one of them."""
    lookback = _setting(found, "lookback")
    aliases = {word: alternatives for word, (alternatives, _, _) in found.aliases.items()}
    feeds = {name: _feed(entry) for name, entry in found.feeds.items()}
    compiler = QueryCompiler(aliases) if cache is None else CachedCompiler(cache, aliases)
    context = _Context(compiler, found.tags, None if channels is None else set(channels), lookback)
    rules = {name: _rule(entry, context) for name, entry in found.rules.items()}
    if isinstance(compiler, CachedCompiler):
        compiler.save()
    templates = channels_file.parent / "templates"
    _remember_secrets(feeds, channels or {})
    return Config(
        feeds=feeds,
        rules={name: rule for name, rule in rules.items() if rule is not None},
        channels={name: _channel(name, ch, channels_file) for name, ch in (channels or {}).items() if ch},
        aliases=aliases,
        timezone=_setting(found, "timezone"),
        retention=_setting(found, "retention"),
        templates_dir=templates if templates.is_dir() else None,
        lookback=lookback,
    )


def _remember_secrets(feeds: dict[str, FeedConfig], channels: dict[str, LoadedChannel | None]) -> None:
    """Tell the scrubber every secret of this configuration, so no message can show one."""
    for loaded in channels.values():
        if loaded is not None:
            scrub.remember([*loaded.secrets, *scrub.option_secrets(loaded.options)])
    for feed in feeds.values():
        scrub.remember(scrub.feed_url_secrets(feed.url))


def _channel(name: str, loaded: LoadedChannel, channels_file: Path) -> ChannelConfig:
    """A ChannelConfig from a validated channel (the default console has no location)."""
    where = Location(str(channels_file), loaded.line, loaded.col) if loaded.line else None
    return ChannelConfig(name, loaded.type, loaded.options, where, enabled=loaded.enabled)


def _where(entry: Entry) -> Location:
    return Location(entry.src.file, *position(entry.at("name")))


def _feed(entry: Entry) -> FeedConfig:
    """One feed: every field of its spec, the URL resolved against the rules file."""
    spec: FeedSpec = entry.spec
    what = f"feed '{spec.name}'"
    url = _feed_url(entry.src, entry.at("url"), spec.url, what)
    if spec.every < MIN_INTERVAL:
        entry.src.warn(entry.at("every"), f"{what} is polled every {spec.every.total_seconds():g}s, under 1m")
    return FeedConfig(**{**dict(spec), "url": url, "where": _where(entry)})


def _feed_url(src: Source, node: Node, value: str, what: str) -> str:
    """An http(s) URL, a file:// URL, or a local path made absolute against the rules file's folder."""
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
    spec: RuleSpec = entry.spec
    what = f"rule '{spec.name}'"
    query = _query(entry, what, context.compiler)
    feeds = _rule_feeds(entry, what, context.feeds)
    _check_alert(entry, what, context.channels)
    if query is None:
        return None
    examples = check_examples(entry.src, entry.at("examples"), what, spec.examples, query)
    resolved = {
        "match": query.text,
        "query": query,
        "feeds": feeds,
        "alert": tuple(dict.fromkeys(spec.alert)),
        "lookback": spec.lookback or context.lookback,
        "examples": examples,
        "where": _where(entry),
    }
    return RuleConfig(**{**dict(spec), **resolved})


def _query(entry: Entry, what: str, compiler: QueryCompiler) -> Query | None:
    """Compile `match:`; a syntax error points into the query where the YAML allows it."""
    node = entry.at("match")
    try:
        return compiler.compile(entry.spec.match)
    except QuerySyntaxError as exc:
        single_line = node.start_mark.line == node.end_mark.line
        if is_plain(node) and single_line:
            entry.src.error(node, f"invalid query in {what}: {exc.message}", col_offset=exc.col - 1)
        else:
            entry.src.error(node, f"invalid query in {what} at column {exc.col} of the query: {exc.message}")
        return None


def _rule_feeds(entry: Entry, what: str, feeds: dict[str, tuple[str, ...]]) -> frozenset[str]:
    """`feeds:` names or tags, resolved to feed names; every feed when the rule names none."""
    if entry.spec.feeds is None:
        return frozenset(feeds)
    resolved: set[str] = set()
    for index, name in enumerate(entry.spec.feeds):
        matching = {feed for feed, tags in feeds.items() if name == feed or name in tags}
        if not matching:
            known = ", ".join(sorted(set(feeds) | {tag for tags in feeds.values() for tag in tags}))
            expected = f"expected one of: {known}" if known else "no feeds are defined"
            entry.src.error(entry.at("feeds", index), f"unknown feed or tag '{name}' in {what} ({expected})")
        resolved |= matching
    return frozenset(resolved)


def _check_alert(entry: Entry, what: str, channels: set[str] | None) -> None:
    """`alert:` channel names from the channels file (empty means a dry run)."""
    for index, name in enumerate(entry.spec.alert):
        if channels is not None and name not in channels:
            known = ", ".join(sorted(channels)) or "no channels defined"
            entry.src.error(
                entry.at("alert", index), f"unknown channel '{name}' in {what} (expected one of: {known})"
            )
