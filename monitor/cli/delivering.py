"""`monitor deliveries` (list, `retry`, `resend`) and `monitor alerts test`."""

from __future__ import annotations

from datetime import timedelta

import click

from monitor.cli.common import (
    config_or_fail,
    duration,
    engine_of,
    fail,
    json_lines,
    narrow_terminal,
    new_table,
    out,
    settings_of,
    when,
)
from monitor.errors import ConfigErrors


@click.group(invoke_without_command=True)
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

    rows = list_deliveries(engine_of(settings_of(ctx)), failed)
    if as_json:
        json_lines(row.model_dump() for row in rows)
        return
    narrow = narrow_terminal()
    id_column = Column("id", no_wrap=True, min_width=28)  # whole, so it can be copied into `deliveries retry`
    if narrow:  # rule and channel in one column, the error under the status, times without the year
        table = new_table(id_column, "rule / channel", "status", "sent / next")
        for row in rows:
            at = row.sent_at if row.status == "sent" else row.next_attempt_at
            status = Text(row.status + (f"\n{row.last_error}" if row.last_error else ""))
            table.add_row(row.id, f"{row.rule}\n→ {row.channel}", status, when(at, short=True))
        out().print(table)
        return
    table = new_table(
        id_column, "rule", "channel", "status", "attempts", "created", "sent / next", "last error"
    )
    for row in rows:
        at = row.sent_at if row.status == "sent" else row.next_attempt_at
        table.add_row(
            row.id,
            row.rule,
            row.channel,
            row.status,
            str(row.attempts),
            when(row.created_at),
            when(at),
            row.last_error or "",
        )
    out().print(table)


@deliveries.command("resend")
@click.option("--rule", "rule", required=True, help="The rule whose matches to send again.")
@click.option("--channel", "channel", required=True, help="The channel to send them to.")
@click.option("--since", default="1d", callback=duration, help="Matches made in this window (1d).")
@click.pass_context
def deliveries_resend(ctx: click.Context, rule: str, channel: str, since: timedelta) -> None:
    """Send a rule's recent matches to a channel again (new delivery ids); the daemon sends them."""
    from monitor.redeliver import resend

    settings = settings_of(ctx)
    config = config_or_fail(settings)
    if rule not in config.rules:
        fail(f"monitor: no rule {rule!r} in {settings.rules} (rules: {', '.join(config.rules)})")
    if channel not in config.channels:
        fail(
            f"monitor: no channel {channel!r} in {settings.channels} (channels: {', '.join(config.channels)})"
        )
    count = resend(engine_of(settings), rule, channel, since)
    click.echo(f"{count} match(es) of {rule} queued for {channel}")


@deliveries.command("retry")
@click.argument("ids", nargs=-1)
@click.option("--all", "all_", is_flag=True, help="Retry every failed delivery.")
@click.pass_context
def deliveries_retry(ctx: click.Context, ids: tuple[str, ...], all_: bool) -> None:
    """Make failed deliveries pending again; the daemon (or the next --once) sends them."""
    from monitor.redeliver import retry_failed

    if not ids and not all_:
        raise click.UsageError("name delivery ids, or use --all")
    retried = retry_failed(engine_of(settings_of(ctx)), None if all_ else ids)
    click.echo(f"{len(retried)} deliveries queued for retry")
    missing = [] if all_ else [i for i in dict.fromkeys(ids) if i not in set(retried)]
    if missing:
        fail(f"monitor: no failed delivery with id {', '.join(missing)} (see `monitor deliveries --failed`)")


@click.group()
def alerts() -> None:
    """Alert channels."""


@alerts.command("test")
@click.argument("channel")
@click.pass_context
def alerts_test(ctx: click.Context, channel: str) -> None:
    """Send a test alert through CHANNEL."""
    from monitor.config import load_config
    from monitor.errors import DeliveryError
    from monitor.redeliver import send_test

    settings = settings_of(ctx)
    try:
        config = load_config(settings.rules, settings.channels)
    except ConfigErrors as exc:
        fail(str(exc))
        return
    if channel not in config.channels:
        fail(
            f"monitor: no channel {channel!r} in {settings.channels} (channels: {', '.join(config.channels)})"
        )
    try:
        send_test(config, channel)
    except DeliveryError as exc:
        fail(f"monitor: test alert to {channel} failed: {exc}")
    click.echo(f"test alert sent to {channel}", err=True)
