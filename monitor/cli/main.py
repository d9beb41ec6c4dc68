"""The `monitor` command line: parsing and printing only; each command calls one function elsewhere."""

from __future__ import annotations

import json
import sys
from dataclasses import asdict
from datetime import datetime, timedelta
from pathlib import Path
from typing import Any

import click
from rich.console import Console
from rich.table import Column, Table
from rich.text import Text

from monitor.config.durations import parse_duration
from monitor.errors import ConfigErrors, FetchError, InstanceError, ParseError, QuerySyntaxError
from monitor.events import KINDS, setup_logging
from monitor.scrub import scrub
from monitor.settings import Settings

out = Console(
    highlight=False, soft_wrap=True, width=None if sys.stdout.isatty() else 160
)  # pipes: no 80-column wrap


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
@click.version_option(package_name="monitor")
@click.pass_context
def main(ctx: click.Context, **options: Any) -> None:
    """Watch RSS/Atom feeds, match rules, send alerts."""
    try:
        settings = Settings(**{k: v for k, v in options.items() if v is not None})
    except ValueError as exc:
        raise click.UsageError(f"bad setting: {exc}") from None
    setup_logging(settings.log_format, settings.log_level)
    ctx.obj = settings


def _fail(message: str, code: int = 1) -> None:
    click.echo(scrub(message), err=True)
    sys.exit(code)


@main.command()
@click.option("--once", is_flag=True, help="Poll every feed once, deliver, exit (for cron).")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the daemon in the foreground (SIGTERM/SIGINT finish in-flight deliveries, exit 0)."""
    from monitor import daemon

    try:
        code = daemon.run_once(_settings(ctx)) if once else daemon.run_forever(_settings(ctx))
    except ConfigErrors as exc:
        _fail(f"{exc}\nmonitor: {len(exc.errors)} error(s) in the configuration; not starting")
    except InstanceError as exc:
        _fail(f"monitor: {exc}")
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
        out.print(Text(hit.title, style="bold"), Text(f"  [{hit.feed}]", style="dim"))
        if hit.link:
            out.print(Text(hit.link, style="blue"))
        out.print(_highlight(hit.snippet), Text(f"  terms: {', '.join(hit.matched_terms)}", style="dim"))
        out.print()
    out.print(f"{len(hits)} hit(s) in {len(items)} item(s)")


def _read_articles(feed: Any, items: list[dict[str, Any]], per_host: int) -> None:
    """A `fulltext` feed's items get their article text, as the daemon would see it (a progress bar on
    a terminal); pages that cannot be read are reported on stderr and the item keeps its feed text."""
    from rich.console import Console
    from rich.progress import Progress

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
    text = Text(snippet.text)
    for start, end in snippet.spans:
        text.stylize("bold yellow", start, end)
    return text


def _config_or_none(settings: Settings) -> Any:
    from monitor.config import load_config

    try:
        return load_config(settings.rules, settings.channels)
    except ConfigErrors:
        return None


def _engine(settings: Settings) -> Any:
    from monitor import db

    engine = db.make_engine(settings.db)
    db.upgrade(engine)
    return engine


def _when(value: datetime | None) -> str:
    return value.astimezone().strftime("%Y-%m-%d %H:%M:%S") if value else "-"


@main.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_context
def feeds(ctx: click.Context, as_json: bool) -> None:
    """Each feed's health: last poll, status, items, errors, next poll."""
    from monitor.cli.report import feed_health

    settings = _settings(ctx)
    rows = feed_health(_engine(settings), _config_or_none(settings))
    if as_json:
        for row in rows:
            click.echo(json.dumps(asdict(row), default=str))
        return
    columns = ("feed", "status", "last poll", "next poll", "items", "failures", "article failures")
    table = Table(*columns, "error / reason")
    for row in rows:
        style = {"failing": "red", "degraded": "yellow", "ok": "green"}.get(row.status, "")
        name = row.name if row.configured else f"{row.name} (not configured)"
        table.add_row(
            name,
            Text(row.status, style=style),
            _when(row.last_poll_at),
            _when(row.next_poll_at),
            str(row.items),
            str(row.failures),
            str(row.article_failures) if row.fulltext or row.article_failures else "",
            row.reason or "",
        )
    out.print(table)


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
    from monitor.cli.report import list_events

    for row in list_events(_engine(_settings(ctx)), since, kind, limit):
        if as_json:
            click.echo(json.dumps(row.model_dump(), default=str, ensure_ascii=False))
        else:
            where = " ".join(f"{k}={getattr(row, k)}" for k in ("feed", "rule", "channel") if getattr(row, k))
            click.echo(f"{_when(row.at)}  {row.kind:<15} {row.message}  {where}".rstrip())


@main.group(invoke_without_command=True)
@click.option("--failed", is_flag=True, help="Only failed deliveries.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per delivery.")
@click.pass_context
def deliveries(ctx: click.Context, failed: bool, as_json: bool) -> None:
    """Alert deliveries (newest first); `deliveries retry` re-sends failed ones."""
    if ctx.invoked_subcommand:
        return
    from monitor.cli.report import list_deliveries

    rows = list_deliveries(_engine(_settings(ctx)), failed)
    if as_json:
        for row in rows:
            click.echo(json.dumps(row.model_dump(), default=str))
        return
    table = Table(
        Column("id", no_wrap=True, min_width=28),  # whole, so it can be copied into `deliveries retry`
        *("rule", "channel", "status", "attempts", "created", "next attempt / sent", "last error"),
    )
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
    out.print(table)


@deliveries.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Retry every failed delivery.")
@click.pass_context
def deliveries_retry(ctx: click.Context, ids: tuple[str, ...], all_: bool) -> None:
    """Make failed deliveries pending again; the daemon (or the next --once) sends them."""
    from monitor.deliver import retry_failed

    if not ids and not all_:
        raise click.UsageError("name delivery ids, or use --all")
    count = retry_failed(_engine(_settings(ctx)), None if all_ else ids)
    click.echo(f"{count} deliveries queued for retry")


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
    _engine(_settings(ctx))
    click.echo("database schema is up to date")
