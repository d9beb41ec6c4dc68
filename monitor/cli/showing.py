"""The read-only reports: `monitor feeds`, `events`, `matches` and `rules` (tables, or JSON lines)."""

from __future__ import annotations

from dataclasses import asdict
from datetime import timedelta

import click

from monitor.cli.common import (
    config_or_none,
    duration,
    engine_of,
    json_lines,
    narrow_terminal,
    new_table,
    out,
    settings_of,
    to_json,
    when,
)
from monitor.eventkinds import KINDS


@click.command()
@click.option("--json", "as_json", is_flag=True, help="One JSON object per feed.")
@click.pass_context
def feeds(ctx: click.Context, as_json: bool) -> None:
    """Each feed's health: last poll, status, items, errors, next poll."""
    from rich.text import Text

    from monitor.cli.report import feed_health

    settings = settings_of(ctx)
    rows = feed_health(engine_of(settings), config_or_none(settings))
    if as_json:
        json_lines(asdict(row) for row in rows)
        return
    narrow = narrow_terminal()
    columns = ["feed", "status", "last poll", *([] if narrow else ["next poll"]), "items", "fail"]
    table = new_table(*columns, *([] if narrow else ["article fail"]), "reason")
    for row in rows:
        style = {"failing": "red", "degraded": "yellow", "ok": "green"}.get(row.status, "")
        name = row.name if row.configured else f"{row.name} (not configured)"
        status = row.status if row.enabled or not row.configured else "disabled"
        articles = str(row.article_failures) if row.fulltext or row.article_failures else ""
        cells: list[str | Text] = [name, Text(status, style=style), when(row.last_poll_at)]
        cells += [] if narrow else [when(row.next_poll_at)]
        cells += [str(row.items), str(row.failures) + (f" +{articles} art." if narrow and articles else "")]
        cells += [] if narrow else [articles]
        table.add_row(*cells, row.reason or "")
    out().print(table)


@click.command()
@click.option("--since", default=None, callback=duration, help="Only events in this window (e.g. 1h, 2d).")
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

    for row in list_events(engine_of(settings_of(ctx)), since, kind, limit):
        if as_json:
            click.echo(to_json(row.model_dump()))
        else:
            where = " ".join(f"{k}={getattr(row, k)}" for k in ("feed", "rule", "channel") if getattr(row, k))
            line = Text(f"{when(row.at)}  {row.kind:<15} ")
            line.append(f"{row.message}  {where}".rstrip())
            out().print(line, overflow="fold")


@click.command()
@click.option("--rule", help="Only this rule's matches.")
@click.option("--since", default=None, callback=duration, help="Only matches in this window (e.g. 1d).")
@click.option("--limit", type=int, default=50, show_default=True, help="At most N matches.")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per match.")
@click.pass_context
def matches(ctx: click.Context, rule: str | None, since: timedelta | None, limit: int, as_json: bool) -> None:
    """What each rule caught, newest first, and each channel's delivery status."""
    from rich.padding import Padding
    from rich.text import Text

    from monitor.cli.report import list_matches

    rows = list_matches(engine_of(settings_of(ctx)), rule, since, limit)
    if as_json:
        json_lines(asdict(row) for row in rows)
        return
    for row in rows:  # a list, not a table: titles and links stay whole at any width
        sent = "muted" if row.muted else ", ".join(f"{d['channel']}: {d['status']}" for d in row.deliveries)
        head = Text(f"{when(row.matched_at)}  ")
        head.append(row.rule, style="bold")
        head.append(f"  [{row.feed}]  ", style="dim")
        head.append(sent or "(no channel)", style="yellow" if row.muted else "")
        out().print(head)
        out().print(Padding(Text(row.title, style="bold"), (0, 0, 0, 2), expand=False))
        if row.link:
            out().print(Padding(Text(row.link, style="blue", overflow="fold"), (0, 0, 0, 2), expand=False))
        out().print(
            Padding(Text(f"terms: {', '.join(row.matched_terms)}", style="dim"), (0, 0, 0, 2), expand=False)
        )
    if not rows:
        out().print(
            "no matches" + (f" of rule {rule}" if rule else "") + (" in that window" if since else "")
        )


@click.command("rules")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per rule.")
@click.pass_context
def rules_(ctx: click.Context, as_json: bool) -> None:
    """Each rule: its channels, matches in the last 24 h and 7 days, last match, muted or disabled."""
    from rich.table import Column
    from rich.text import Text

    from monitor.cli.report import rule_summary

    settings = settings_of(ctx)
    rows = rule_summary(engine_of(settings), config_or_none(settings))
    if as_json:
        json_lines(asdict(row) for row in rows)
        return
    short = narrow_terminal()
    table = new_table(Column("rule", no_wrap=True), "alerts to", "24h", "7d", "last match", "state")
    for row in rows:
        if not row.enabled:
            state = Text("disabled", style="dim")
        elif row.muted:
            state = Text(
                "muted" + (f" until {when(row.muted_until, short)}" if row.muted_until else ""),
                style="yellow",
            )
        else:
            state = Text("active", style="green")
        named = [f"{c} (disabled)" if c in row.disabled_channels else c for c in row.channels]
        channels = ", ".join(named) or "(dry run)"
        table.add_row(
            row.name, channels, str(row.matches_24h), str(row.matches_7d), when(row.last_match, short), state
        )
    out().print(table)
