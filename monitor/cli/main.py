"""The `monitor` command line: parsing and printing only; each command calls one function elsewhere."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterable, Mapping
from dataclasses import asdict
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn

import click

from monitor.config.durations import parse_duration
from monitor.errors import (
    ConfigErrors,
    FetchError,
    InstanceError,
    ParseError,
    QuerySyntaxError,
    SettingError,
)
from monitor.eventkinds import KINDS
from monitor.logs import setup_logging
from monitor.scrub import scrub
from monitor.settings import Settings

if TYPE_CHECKING:  # rich is imported by the commands that print with it, not by `run` or `check`
    from rich.console import Console
    from rich.table import Column, Table
    from rich.text import Text

NARROW = 120  # under this many columns the tables drop their less useful columns


@functools.cache
def _out() -> Console:
    """Standard output: a terminal (or COLUMNS) sets the width; a pipe gets 160 columns, so scripts see whole lines."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)


def _settings(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None, "main() sets the settings before any command runs"
    return settings


def _duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


@click.group(context_settings={"help_option_names": ["-h", "--help"]})
@click.option("--db", envvar="MONITOR_DB", help="Database URL (default sqlite:///data/monitor.db).")
@click.option(
    "--rules", envvar="MONITOR_RULES", type=click.Path(path_type=Path), help="Rules folder (default rules/)."
)
@click.option("--channels", envvar="MONITOR_CHANNELS", type=click.Path(path_type=Path), help="Channels file.")
@click.option("--http", envvar="MONITOR_HTTP", help="host:port for /healthz and /metrics, or 'off'.")
@click.option(
    "--log-format", envvar="MONITOR_LOG_FORMAT", type=click.Choice(["text", "json"]), help="Log lines."
)
@click.option("--log-level", envvar="MONITOR_LOG_LEVEL", help="DEBUG, INFO (default), WARNING or ERROR.")
@click.version_option(package_name="monitor")
@click.pass_context
def main(ctx: click.Context, /, **options: Any) -> None:
    """Watch RSS/Atom feeds, match rules, send alerts."""
    try:
        settings = Settings.load(**{k: v for k, v in options.items() if v is not None})
    except SettingError as exc:
        _fail("\n".join(f"monitor: {line}" for line in str(exc).splitlines()), 2)
    setup_logging(settings.log_format, settings.log_level)
    ctx.obj = settings


def _fail(message: str, code: int = 1) -> NoReturn:
    click.echo(scrub(message), err=True)
    sys.exit(code)


@main.command()
@click.option("--once", is_flag=True, help="Poll every feed once, deliver, exit (for cron).")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the daemon in the foreground (SIGTERM/SIGINT finish in-flight deliveries, exit 0)."""
    from monitor import parsepool

    parsepool.warm_up()  # the parse workers start while the rest of the daemon is imported
    from monitor import daemon

    try:
        code = daemon.run_once(_settings(ctx)) if once else daemon.run_forever(_settings(ctx))
    except ConfigErrors as exc:
        _fail(f"{exc}\nmonitor: {len(exc.errors)} error(s) in the configuration; not starting")
    except InstanceError as exc:
        _fail(f"monitor: {exc}")
    except SettingError as exc:
        _fail(f"monitor: {exc}", 2)
    sys.exit(code)


@main.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate rules and channels: errors as file:line:col: message; exit 1 on any error."""
    from monitor.config import check_config

    settings = _settings(ctx)
    config, errors, warnings = check_config(settings.rules, settings.channels)
    for line in [*map(str, errors), *warnings]:
        click.echo(line, err=bool(errors))
    if errors or config is None:
        _fail(f"{len(errors)} error(s)")
        return
    examples = sum(len(r.examples) for r in config.rules.values())
    click.echo(
        f"ok: {len(config.feeds)} feeds, {len(config.rules)} rules, {len(config.channels)} channels"
        + (f", {examples} examples pass" if examples else "")
    )


@main.command("try")
@click.argument("query")
@click.option("--feed", help="A configured feed name, a URL or a path: try its current items (any age).")
@click.option(
    "--since", default="7d", callback=_duration, help="Stored items first seen in this window (7d)."
)
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit.")
@click.pass_context
def try_(ctx: click.Context, query: str, feed: str | None, since: timedelta, as_json: bool) -> None:
    """Run QUERY against stored items or a feed's current items; show hits with terms highlighted."""
    from rich.text import Text

    from monitor.cli import trial
    from monitor.query import compile_query

    settings = _settings(ctx)
    config = _config_or_none(settings)
    try:
        compiled = compile_query(query, config.aliases if config else None)
    except QuerySyntaxError as exc:
        _fail(f"query:1:{exc.col}: {exc.message}\n  {query}\n  {' ' * (exc.col - 1)}^")
        return
    try:
        if feed:
            url = config.feeds[feed].url if config and feed in config.feeds else feed
            if config is None and "://" not in feed and not Path(feed).exists():
                _fail(
                    f"monitor: no feed named {feed!r} is known (the configuration did not load) and no file {feed}"
                )
            items = trial.feed_items(feed if config and feed in config.feeds else "try", url)
            if config and feed in config.feeds and config.feeds[feed].fulltext:
                _read_articles(config.feeds[feed], items, settings.article_per_host)
        else:
            items = trial.stored_items(_engine(settings), since)
    except (FetchError, ParseError) as exc:
        _fail(f"monitor: {exc}")
        return
    hits = trial.run_query(compiled, items)
    if as_json:
        for hit in hits:
            data = asdict(hit)
            data["snippet"] = hit.snippet.text
            click.echo(json.dumps(data, ensure_ascii=False))
        return
    for hit in hits:
        _out().print(Text(hit.title, style="bold"), Text(f"  [{hit.feed}]", style="dim"))
        if hit.link:
            _out().print(Text(hit.link, style="blue"))
        _out().print(_highlight(hit.snippet), Text(f"  terms: {', '.join(hit.matched_terms)}", style="dim"))
        _out().print()
    _out().print(f"{len(hits)} hit(s) in {len(items)} item(s)")


def _read_articles(feed: Any, items: list[dict[str, Any]], per_host: int) -> None:
    """A `fulltext` feed's items get their article text, as the daemon would see it (a progress bar on
    a terminal); pages that cannot be read are reported on stderr and the item keeps its feed text."""
    from rich.console import Console
    from rich.progress import Progress
    from rich.text import Text

    from monitor.cli import trial

    console = Console(stderr=True)
    with Progress(console=console, disable=not console.is_terminal, transient=True) as bar:
        task = bar.add_task(f"reading {feed.name}'s article pages", total=None)
        started = False

        def progress(n: int) -> None:
            nonlocal started
            if not started:
                started = True
                bar.update(task, total=n)
            else:
                bar.advance(task, n)

        failures = trial.with_articles(feed, items, per_host=per_host, progress=progress)
    for reason in failures:
        console.print(Text(f"article not read: {reason}", style="yellow"))


def _highlight(snippet: Any) -> Text:
    from rich.text import Text

    text = Text(snippet.text)
    for start, end in snippet.spans:
        text.stylize("bold yellow", start, end)
    return text


def _config_or_fail(settings: Settings) -> Any:
    from monitor.config import load_config

    try:
        return load_config(settings.rules, settings.channels)
    except ConfigErrors as exc:
        _fail(f"{exc}\nmonitor: {len(exc.errors)} error(s) in the configuration (see `monitor check`)")


def _config_or_none(settings: Settings) -> Any:
    from monitor.config import load_config

    try:
        return load_config(settings.rules, settings.channels)
    except ConfigErrors as exc:  # say so: a silent None shows every feed as "not configured"
        first = exc.errors[0] if exc.errors else "?"
        click.echo(
            f"monitor: the configuration did not load ({len(exc.errors)} error(s), first: {first}); "
            "`monitor check` lists them",
            err=True,
        )
        return None


def _engine(settings: Settings, *, create: bool = False) -> Any:
    """The database with its schema at head; a read-only command never creates it (see opendb)."""
    from monitor.opendb import open_database

    try:
        return open_database(settings.db, create=create, rules=settings.rules)
    except SettingError as exc:
        _fail(f"monitor: {exc}", 2)


def _when(value: datetime | None, short: bool = False) -> str:
    """A time in tables: local, with its zone (`short`: without the year, for narrow terminals)."""
    return value.astimezone().strftime("%m-%d %H:%M %Z" if short else "%Y-%m-%d %H:%M %Z") if value else "-"


def _iso(value: Any) -> Any:
    """JSON: times as ISO 8601 UTC (`2026-12-02T13:05:00Z`), anything else unknown as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def _json(data: Any) -> str:
    return json.dumps(data, default=_iso, ensure_ascii=False)


def _json_lines(rows: Iterable[Mapping[str, Any]]) -> None:
    """`--json` output: one JSON object a line."""
    for row in rows:
        click.echo(_json(row))


def _narrow() -> bool:
    return _out().width < NARROW


def _table(*columns: str | Column) -> Table:
    from rich import box
    from rich.table import Table

    return Table(*columns, box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_context
def feeds(ctx: click.Context, as_json: bool) -> None:
    """Each feed's health: last poll, status, items, errors, next poll."""
    from rich.text import Text

    from monitor.cli.report import feed_health

    settings = _settings(ctx)
    rows = feed_health(_engine(settings), _config_or_none(settings))
    if as_json:
        _json_lines(asdict(row) for row in rows)
        return
    narrow = _narrow()
    columns = ["feed", "status", "last poll", *([] if narrow else ["next poll"]), "items", "fail"]
    table = _table(*columns, *([] if narrow else ["article fail"]), "reason")
    for row in rows:
        style = {"failing": "red", "degraded": "yellow", "ok": "green"}.get(row.status, "")
        name = row.name if row.configured else f"{row.name} (not configured)"
        status = row.status if row.enabled or not row.configured else "disabled"
        articles = str(row.article_failures) if row.fulltext or row.article_failures else ""
        cells: list[str | Text] = [name, Text(status, style=style), _when(row.last_poll_at)]
        cells += [] if narrow else [_when(row.next_poll_at)]
        cells += [str(row.items), str(row.failures) + (f" +{articles} art." if narrow and articles else "")]
        cells += [] if narrow else [articles]
        table.add_row(*cells, row.reason or "")
    _out().print(table)


@main.command()
@click.option("--since", default=None, callback=_duration, help="Only events in this window (e.g. 1h, 2d).")
@click.option("--kind", type=click.Choice(KINDS), help="Only events of this kind.")
@click.option("--limit", type=int, help="Only the newest N events.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per line.")
@click.pass_context
def events(
    ctx: click.Context, since: timedelta | None, kind: str | None, limit: int | None, as_json: bool
) -> None:
    """The event log, oldest first."""
    from rich.text import Text

    from monitor.cli.report import list_events

    for row in list_events(_engine(_settings(ctx)), since, kind, limit):
        if as_json:
            click.echo(_json(row.model_dump()))
        else:
            where = " ".join(f"{k}={getattr(row, k)}" for k in ("feed", "rule", "channel") if getattr(row, k))
            line = Text(f"{_when(row.at)}  {row.kind:<15} ")
            line.append(f"{row.message}  {where}".rstrip())
            _out().print(line, overflow="fold")


@main.group(invoke_without_command=True)
@click.option("--failed", is_flag=True, help="Only failed deliveries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery.")
@click.pass_context
def deliveries(ctx: click.Context, failed: bool, as_json: bool) -> None:
    """Alert deliveries (newest first); `deliveries retry` re-sends failed ones."""
    from rich.table import Column
    from rich.text import Text

    if ctx.invoked_subcommand:
        return
    from monitor.cli.report import list_deliveries

    rows = list_deliveries(_engine(_settings(ctx)), failed)
    if as_json:
        _json_lines(row.model_dump() for row in rows)
        return
    narrow = _narrow()
    id_column = Column("id", no_wrap=True, min_width=28)  # whole, so it can be copied into `deliveries retry`
    if narrow:  # rule and channel in one column, the error under the status, times without the year
        table = _table(id_column, "rule / channel", "status", "sent / next")
        for row in rows:
            when = row.sent_at if row.status == "sent" else row.next_attempt_at
            status = Text(row.status + (f"\n{row.last_error}" if row.last_error else ""))
            table.add_row(row.id, f"{row.rule}\n→ {row.channel}", status, _when(when, short=True))
        _out().print(table)
        return
    table = _table(id_column, "rule", "channel", "status", "attempts", "created", "sent / next", "last error")
    for row in rows:
        when = row.sent_at if row.status == "sent" else row.next_attempt_at
        table.add_row(
            row.id,
            row.rule,
            row.channel,
            row.status,
            str(row.attempts),
            _when(row.created_at),
            _when(when),
            row.last_error or "",
        )
    _out().print(table)


@deliveries.command("resend")
@click.option("--rule", "rule", required=True, help="The rule whose matches to send again.")
@click.option("--channel", "channel", required=True, help="The channel to send them to.")
@click.option("--since", default="1d", callback=_duration, help="Matches made in this window (1d).")
@click.pass_context
def deliveries_resend(ctx: click.Context, rule: str, channel: str, since: timedelta) -> None:
    """Send a rule's recent matches to a channel again (new delivery ids); the daemon sends them."""
    from monitor.deliver import resend

    settings = _settings(ctx)
    config = _config_or_fail(settings)
    if rule not in config.rules:
        _fail(f"monitor: no rule {rule!r} in {settings.rules} (rules: {', '.join(config.rules)})")
    if channel not in config.channels:
        _fail(
            f"monitor: no channel {channel!r} in {settings.channels} (channels: {', '.join(config.channels)})"
        )
    count = resend(_engine(settings), rule, channel, since)
    click.echo(f"{count} match(es) of {rule} queued for {channel}")


@deliveries.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Retry every failed delivery.")
@click.pass_context
def deliveries_retry(ctx: click.Context, ids: tuple[str, ...], all_: bool) -> None:
    """Make failed deliveries pending again; the daemon (or the next --once) sends them."""
    from monitor.deliver import retry_failed

    if not ids and not all_:
        raise click.UsageError("name delivery ids, or use --all")
    retried = retry_failed(_engine(_settings(ctx)), None if all_ else ids)
    click.echo(f"{len(retried)} deliveries queued for retry")
    missing = [] if all_ else [i for i in dict.fromkeys(ids) if i not in set(retried)]
    if missing:
        _fail(f"monitor: no failed delivery with id {', '.join(missing)} (see `monitor deliveries --failed`)")


@main.group()
def alerts() -> None:
    """Alert channels."""


@alerts.command("test")
@click.argument("channel")
@click.pass_context
def alerts_test(ctx: click.Context, channel: str) -> None:
    """Send a test alert through CHANNEL."""
    from monitor.config import load_config
    from monitor.deliver import send_test
    from monitor.errors import DeliveryError

    settings = _settings(ctx)
    try:
        config = load_config(settings.rules, settings.channels)
    except ConfigErrors as exc:
        _fail(str(exc))
        return
    if channel not in config.channels:
        _fail(
            f"monitor: no channel {channel!r} in {settings.channels} (channels: {', '.join(config.channels)})"
        )
    try:
        send_test(config, channel)
    except DeliveryError as exc:
        _fail(f"monitor: test alert to {channel} failed: {exc}")
    click.echo(f"test alert sent to {channel}", err=True)


@main.command()
@click.argument("directory", default=".", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Write the sample rules/, alerts/ and examples/ into DIRECTORY; never overwrites a file."""
    from monitor.cli.sample import write_sample

    for path, written in write_sample(directory):
        click.echo(f"{'wrote' if written else 'kept '} {path}")


@main.group("db")
def db_group() -> None:
    """The database."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the database schema in place."""
    _engine(_settings(ctx), create=True)
    click.echo("database schema is up to date")


@main.command()
@click.option("--rule", help="Only this rule's matches.")
@click.option("--since", default=None, callback=_duration, help="Only matches in this window (e.g. 1d).")
@click.option("--limit", type=int, default=50, show_default=True, help="At most N matches.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per match.")
@click.pass_context
def matches(ctx: click.Context, rule: str | None, since: timedelta | None, limit: int, as_json: bool) -> None:
    """What each rule caught, newest first, and each channel's delivery status."""
    from rich.padding import Padding
    from rich.text import Text

    from monitor.cli.report import list_matches

    rows = list_matches(_engine(_settings(ctx)), rule, since, limit)
    if as_json:
        _json_lines(asdict(row) for row in rows)
        return
    for row in rows:  # a list, not a table: titles and links stay whole at any width
        sent = "muted" if row.muted else ", ".join(f"{d['channel']}: {d['status']}" for d in row.deliveries)
        head = Text(f"{_when(row.matched_at)}  ")
        head.append(row.rule, style="bold")
        head.append(f"  [{row.feed}]  ", style="dim")
        head.append(sent or "(no channel)", style="yellow" if row.muted else "")
        _out().print(head)
        _out().print(Padding(Text(row.title, style="bold"), (0, 0, 0, 2), expand=False))
        if row.link:
            _out().print(Padding(Text(row.link, style="blue", overflow="fold"), (0, 0, 0, 2), expand=False))
        _out().print(
            Padding(Text(f"terms: {', '.join(row.matched_terms)}", style="dim"), (0, 0, 0, 2), expand=False)
        )
    if not rows:
        _out().print(
            "no matches" + (f" of rule {rule}" if rule else "") + (" in that window" if since else "")
        )


@main.command("rules")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.pass_context
def rules_(ctx: click.Context, as_json: bool) -> None:
    """Each rule: its channels, matches in the last 24 h and 7 days, last match, muted or disabled."""
    from rich.table import Column
    from rich.text import Text

    from monitor.cli.report import rule_summary

    settings = _settings(ctx)
    rows = rule_summary(_engine(settings), _config_or_none(settings))
    if as_json:
        _json_lines(asdict(row) for row in rows)
        return
    short = _narrow()
    table = _table(Column("rule", no_wrap=True), "alerts to", "24h", "7d", "last match", "state")
    for row in rows:
        if not row.enabled:
            state = Text("disabled", style="dim")
        elif row.muted:
            state = Text(
                "muted" + (f" until {_when(row.muted_until, short)}" if row.muted_until else ""),
                style="yellow",
            )
        else:
            state = Text("active", style="green")
        named = [f"{c} (disabled)" if c in row.disabled_channels else c for c in row.channels]
        channels = ", ".join(named) or "(dry run)"
        table.add_row(
            row.name, channels, str(row.matches_24h), str(row.matches_7d), _when(row.last_match, short), state
        )
    _out().print(table)


@main.command()
@click.argument("rule")
@click.option(
    "--for", "duration", default=None, callback=_duration, help="How long (e.g. 2h); default: until unmuted."
)
@click.pass_context
def mute(ctx: click.Context, rule: str, duration: timedelta | None) -> None:
    """Mute RULE: its matches are still recorded (shown as muted) but never delivered."""
    from monitor import mutes

    settings = _settings(ctx)
    config = _config_or_none(settings)
    if config is not None and rule not in config.rules:
        _fail(f"monitor: no rule {rule!r} in {settings.rules} (rules: {', '.join(config.rules)})")
    until = mutes.mute(_engine(settings), rule, duration)
    click.echo(
        f"{rule} muted " + (f"until {_when(until)}" if until else "until `monitor unmute " + rule + "`")
    )


@main.command()
@click.argument("rule")
@click.pass_context
def unmute(ctx: click.Context, rule: str) -> None:
    """End RULE's mute: its next matches are delivered (those made while muted never are)."""
    from monitor import mutes

    if not mutes.unmute(_engine(_settings(ctx)), rule):
        _fail(f"monitor: rule {rule!r} is not muted")
    click.echo(f"{rule} unmuted")
