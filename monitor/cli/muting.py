"""`monitor mute` and `monitor unmute`: a rule's matches recorded but not delivered, for a while."""

from __future__ import annotations

from datetime import timedelta

import click

from monitor.cli.common import config_or_none, duration, engine_of, fail, settings_of, when


@click.command()
@click.argument("rule")
@click.option(
    "--for", "duration", default=None, callback=duration, help="How long (e.g. 2h); default: until unmuted."
)
@click.pass_context
def mute(ctx: click.Context, rule: str, duration: timedelta | None) -> None:
    """Mute RULE: its matches are still recorded (shown as muted) but never delivered."""
    from monitor import mutes

    settings = settings_of(ctx)
    config = config_or_none(settings)
    if config is not None and rule not in config.rules:
        fail(f"monitor: no rule {rule!r} in {settings.rules} (rules: {', '.join(config.rules)})")
    until = mutes.mute(engine_of(settings), rule, duration)
    click.echo(
        f"{rule} muted " + (f"until {when(until)}" if until else "until `monitor unmute " + rule + "`")
    )


@click.command()
@click.argument("rule")
@click.pass_context
def unmute(ctx: click.Context, rule: str) -> None:
    """End RULE's mute: its next matches are delivered (those made while muted never are)."""
    from monitor import mutes

    if not mutes.unmute(engine_of(settings_of(ctx)), rule):
        fail(f"monitor: rule {rule!r} is not muted")
    click.echo(f"{rule} unmuted")
