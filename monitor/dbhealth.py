"""Whether the database takes writes: a probe for /healthz, and jobs that log an outage once, not per tick.

A SQLite file made read-only, or its folder removed, still answers `SELECT 1` through the connections
already open, so /healthz also checks that the file and its folder are there and writable, and runs a
write statement that changes nothing (PostgreSQL in read-only mode refuses it). The daemon's jobs run
through `guard`: the first failure is logged with its reason, later ones are silent, and the recovery
is logged once.
"""

from __future__ import annotations

import logging
import os
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import ParamSpec, cast

import sqlalchemy as sa

from monitor.models import FeedState

log = logging.getLogger("monitor.db")
P = ParamSpec("P")
PROBE_EVERY = 1.0  # seconds between write probes


class DatabaseHealth:
    """The database's state as the daemon last saw it; transitions are logged once each."""

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine
        self._lock = threading.Lock()
        self.reason: str | None = None  # None while the database works
        self._probe_lock = threading.Lock()
        self._probed_at, self._probed = -PROBE_EVERY, cast(str | None, None)

    def failed(self, reason: str) -> None:
        with self._lock:
            first, self.reason = self.reason is None, reason
        if first:
            log.error("database unavailable: %s", reason)

    def recovered(self) -> None:
        with self._lock:
            was, self.reason = self.reason, None
        if was is not None:
            log.warning("database available again (it was unavailable: %s)", was)

    def guard(self, job: Callable[P, object]) -> Callable[P, None]:
        """`job`, reporting database errors to this health record instead of raising them each tick."""

        def guarded(*args: P.args, **kwargs: P.kwargs) -> None:
            try:
                job(*args, **kwargs)
            except sa.exc.SQLAlchemyError as exc:
                self.failed(describe(exc))
            else:  # a job can succeed on a file that is gone; while all is well, nothing to check
                if self.reason is not None and _file_problem(self.engine) is None:
                    self.recovered()

        return guarded

    def probe(self) -> str | None:
        """None when the database takes writes, else why not (also recorded); probed at most once a
        PROBE_EVERY seconds, so a flood of /healthz requests costs the database one write a second."""
        with self._probe_lock:
            now = time.monotonic()
            if now - self._probed_at >= PROBE_EVERY:
                self._probed_at = now
                self._probed = _file_problem(self.engine) or _write_problem(self.engine)
                if self._probed:
                    self.failed(self._probed)
            return self._probed


def describe(exc: BaseException) -> str:
    """A one-line reason for a database error, without the SQL or its parameters."""
    inner = getattr(exc, "orig", None) or exc
    first = (str(inner).strip().splitlines() or [""])[0]
    return f"{type(inner).__name__}: {first}"[:300]


def _file_problem(engine: sa.Engine) -> str | None:
    if engine.dialect.name != "sqlite" or not engine.url.database or engine.url.database == ":memory:":
        return None
    path = Path(engine.url.database)
    if not path.parent.is_dir():
        return f"the folder of {path} is gone"
    if not path.is_file():
        return f"{path} is gone"
    read_only = not path.stat().st_mode & 0o222  # made read-only: refused even where root could write
    if read_only or not os.access(path, os.W_OK) or not os.access(path.parent, os.W_OK):
        return f"{path} or its folder is not writable"
    return None


def _write_problem(engine: sa.Engine) -> str | None:
    try:
        with engine.begin() as conn:
            table = FeedState.__table__  # type: ignore[attr-defined]
            conn.execute(sa.update(table).where(sa.false()).values(failures=table.c.failures))
    except sa.exc.SQLAlchemyError as exc:
        return describe(exc)
    return None
