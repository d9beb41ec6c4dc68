"""`monitor check` (the configuration) and `monitor try` (a query against stored items or a feed)."""

from __future__ import annotations

import json
from dataclasses import asdict
from datetime import timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from monitor.cli.common import config_or_none, duration, engine_of, fail, out, settings_of
from monitor.errors import FetchError, ParseError, QuerySyntaxError

if TYPE_CHECKING:
    from rich.text import Text


@click.command()
@click.pass_context
def check(ctx: click.Context) -> None:
    """Validate rules and channels: errors as file:line:col: message; exit 1 on any error."""
    from monitor.config import check_config

    settings = settings_of(ctx)
    config, errors, warnings = check_config(settings.rules, settings.channels)
    for line in [*map(str, errors), *warnings]:
        click.echo(line, err=bool(errors))
    if errors or config is None:
        fail(f"{len(errors)} error(s)")
        return
    examples = sum(len(r.examples) for r in config.rules.values())
    click.echo(
        f"ok: {len(config.feeds)} feeds, {len(config.rules)} rules, {len(config.channels)} channels"
        + (f", {examples} examples pass" if examples else "")
    )


@click.command("try")
@click.argument("query")
@click.option("--feed", help="A configured feed name, a URL or a path: try its current items (any age).")
@click.option("--since", default="7d", callback=duration, help="Stored items first seen in this window (7d).")
@click.option("--json", "as_json", is_flag=True, help="One JSON object per hit.")
@click.pass_context
def try_(ctx: click.Context, query: str, feed: str | None, since: timedelta, as_json: bool) -> None:
    """Run QUERY against stored items or a feed's current items; show hits with terms highlighted."""
    from rich.text import Text

    from monitor.cli import trial
    from monitor.query import compile_query

    settings = settings_of(ctx)
    config = config_or_none(settings)
    try:
        compiled = compile_query(query, config.aliases if config else None)
    except QuerySyntaxError as exc:
        fail(f"query:1:{exc.col}: {exc.message}\n  {query}\n  {' ' * (exc.col - 1)}^")
        return
    try:
        if feed:
            url = config.feeds[feed].url if config and feed in config.feeds else feed
            if config is None and "://" not in feed and not Path(feed).exists():
                fail(
                    f"monitor: no feed named {feed!r} is known (the configuration did not load) and no file {feed}"
                )
            items = trial.feed_items(feed if config and feed in config.feeds else "try", url)
            if config and feed in config.feeds and config.feeds[feed].fulltext:
                _read_articles(config.feeds[feed], items, settings.article_per_host)
        else:
            items = trial.stored_items(engine_of(settings), since)
    except (FetchError, ParseError) as exc:
        fail(f"monitor: {exc}")
        return
    hits = trial.run_query(compiled, items)
    if as_json:
        for hit in hits:
            data = asdict(hit)
            data["snippet"] = hit.snippet.text
            click.echo(json.dumps(data, ensure_ascii=False))
        return
    for hit in hits:
        out().print(Text(hit.title, style="bold"), Text(f"  [{hit.feed}]", style="dim"))
        if hit.link:
            out().print(Text(hit.link, style="blue"))
        out().print(_highlight(hit.snippet), Text(f"  terms: {', '.join(hit.matched_terms)}", style="dim"))
        out().print()
    out().print(f"{len(hits)} hit(s) in {len(items)} item(s)")


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
