"""The `monitor` command line: parsing and printing only; each command calls one function elsewhere.

The group and its global options are here; the commands are in modules named for what they do:
`running` (run, init, db), `checking` (check, try), `showing` (feeds, events, matches, rules),
`delivering` (deliveries, alerts), `muting` (mute, unmute); what they share is in `common`.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import click

from monitor.cli import checking, delivering, muting, running, showing
from monitor.cli.common import fail
from monitor.errors import SettingError
from monitor.logs import setup_logging
from monitor.settings import Settings


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
        fail("\n".join(f"monitor: {line}" for line in str(exc).splitlines()), 2)
    setup_logging(settings.log_format, settings.log_level)
    ctx.obj = settings


for command in (
    running.run,
    running.init,
    running.db_group,
    checking.check,
    checking.try_,
    showing.feeds,
    showing.events,
    showing.matches,
    showing.rules_,
    delivering.deliveries,
    delivering.alerts,
    muting.mute,
    muting.unmute,
):
    main.add_command(command)
