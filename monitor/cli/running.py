"""`monitor run` (the daemon, or one poll for cron), `monitor init` (the sample folder), `monitor db upgrade`."""

from __future__ import annotations

import atexit
import faulthandler
import os
import signal
import sys
import threading
from pathlib import Path
from typing import NoReturn

import click

from monitor.cli.common import engine_of, fail, settings_of
from monitor.errors import ConfigErrors, InstanceError, SettingError


@click.command()
@click.option("--once", is_flag=True, help="Poll every feed once, deliver, exit (for cron).")
@click.pass_context
def run(ctx: click.Context, once: bool) -> None:
    """Run the daemon in the foreground (SIGTERM/SIGINT finish in-flight deliveries, exit 0)."""
    from monitor import parsepool

    if os.environ.get("MONITOR_DEBUG_STACKS"):  # `kill -USR1`: every thread's stack on stderr (debugging)
        faulthandler.register(signal.SIGUSR1, all_threads=True)
    from monitor.query import stemcache

    parsepool.use_stem_cache(stemcache.path_for(settings_of(ctx).db))  # read as the fork server starts
    parsepool.warm_up()  # the parse workers start while the rest of the daemon is imported
    from monitor import daemon

    try:
        code = daemon.run_once(settings_of(ctx)) if once else daemon.run_forever(settings_of(ctx))
    except ConfigErrors as exc:
        fail(f"{exc}\nmonitor: {len(exc.errors)} error(s) in the configuration; not starting")
    except InstanceError as exc:
        fail(f"monitor: {exc}")
    except SettingError as exc:
        fail(f"monitor: {exc}", 2)
    if once:
        leave(code)
    sys.exit(code)


def leave(code: int) -> NoReturn:
    """End `run --once`, its work committed: the parse workers stopped and the exit handlers run (the
    log flushed), then out without tearing the heap down object by object (the rules, their index,
    the items: a tenth of a second at 20,000 rules). A thread still at work gets the usual exit."""
    from monitor import parsepool

    parsepool.shutdown()
    if any(t.is_alive() and not t.daemon for t in threading.enumerate() if t is not threading.main_thread()):
        sys.exit(code)
    atexit._run_exitfuncs()
    sys.stdout.flush()
    sys.stderr.flush()
    os._exit(code)


@click.command()
@click.argument("directory", default=".", type=click.Path(path_type=Path))
def init(directory: Path) -> None:
    """Write the sample rules/, alerts/ and examples/ into DIRECTORY; never overwrites a file."""
    from monitor.cli.sample import write_sample

    for path, written in write_sample(directory):
        click.echo(f"{'wrote' if written else 'kept '} {path}")


@click.group("db")
def db_group() -> None:
    """The database."""


@db_group.command("upgrade")
@click.pass_context
def db_upgrade(ctx: click.Context) -> None:
    """Create or upgrade the database schema in place."""
    engine_of(settings_of(ctx), create=True)
    click.echo("database schema is up to date")
