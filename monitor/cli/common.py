"""What the commands share: the settings, failing with a message, the database and the
configuration opened for a command, and printing (times, JSON lines, rich tables, loaded on first use)."""

from __future__ import annotations

import functools
import json
import os
import sys
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import TYPE_CHECKING, Any, NoReturn

import click

from monitor.config.durations import parse_duration
from monitor.errors import ConfigErrors, SettingError
from monitor.scrub import scrub
from monitor.settings import Settings

if TYPE_CHECKING:  # rich is imported by the commands that print with it, not by `run` or `check`
    from rich.console import Console
    from rich.table import Column, Table

NARROW = 120  # under this many columns the tables drop their less useful columns


@functools.cache
def out() -> Console:
    """Standard output: a terminal (or COLUMNS) sets the width; a pipe gets 160 columns, so scripts see whole lines."""
    from rich.console import Console

    return Console(highlight=False, width=None if sys.stdout.isatty() or os.environ.get("COLUMNS") else 160)


def settings_of(ctx: click.Context) -> Settings:
    settings = ctx.find_object(Settings)
    assert settings is not None, "main() sets the settings before any command runs"
    return settings


def duration(_ctx: click.Context, _param: click.Parameter, value: str | None) -> timedelta | None:
    if value is None:
        return None
    try:
        return parse_duration(value)
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None


def fail(message: str, code: int = 1) -> NoReturn:
    click.echo(scrub(message), err=True)
    sys.exit(code)


def config_or_fail(settings: Settings) -> Any:
    from monitor.config import load_config

    try:
        return load_config(settings.rules, settings.channels)
    except ConfigErrors as exc:
        fail(f"{exc}\nmonitor: {len(exc.errors)} error(s) in the configuration (see `monitor check`)")


def config_or_none(settings: Settings) -> Any:
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


def engine_of(settings: Settings, *, create: bool = False) -> Any:
    """The database with its schema at head; a read-only command never creates it (see opendb)."""
    from monitor.opendb import open_database

    try:
        return open_database(settings.db, create=create, rules=settings.rules)
    except SettingError as exc:
        fail(f"monitor: {exc}", 2)


def when(value: datetime | None, short: bool = False) -> str:
    """A time in tables: local, with its zone (`short`: without the year, for narrow terminals)."""
    return value.astimezone().strftime("%m-%d %H:%M %Z" if short else "%Y-%m-%d %H:%M %Z") if value else "-"


def _iso(value: Any) -> Any:
    """JSON: times as ISO 8601 UTC (`2026-12-02T13:05:00Z`), anything else unknown as text."""
    if isinstance(value, datetime):
        return value.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return str(value)


def to_json(data: Any) -> str:
    return json.dumps(data, default=_iso, ensure_ascii=False)


def json_lines(rows: Iterable[Mapping[str, Any]]) -> None:
    """`--json` output: one JSON object a line."""
    for row in rows:
        click.echo(to_json(row))


def narrow_terminal() -> bool:
    return out().width < NARROW


def new_table(*columns: str | Column) -> Table:
    from rich import box
    from rich.table import Table

    return Table(*columns, box=box.SIMPLE_HEAD, pad_edge=False, header_style="bold")
