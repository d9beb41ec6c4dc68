"""`record(kind, ...)`: write the Event row and the log line together, so the two always agree."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections import Counter as Tally
from collections.abc import Iterable, Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any, TextIO

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, disable_created_metrics
from sqlmodel import Session

from monitor.models import Event, utcnow
from monitor.scrub import scrub, scrub_value

KINDS = (
    "fetch",
    "fetch_failed",
    "item",
    "article_failed",
    "match",
    "delivery",
    "delivery_failed",
    "reload",
    "reload_failed",
    "prune",
)
FIELDS = ("feed", "rule", "item_id", "channel", "delivery_id")
log = logging.getLogger("monitor")
REGISTRY = CollectorRegistry()  # this process's counters; /metrics adds the database gauges
disable_created_metrics()  # no `_created` series beside each counter: a scrape shows totals only
EVENTS = Counter("monitor_events", "Events recorded by this process, by kind", ["kind"], registry=REGISTRY)
for _kind in KINDS:  # every known kind has a series from the start, at 0
    EVENTS.labels(kind=_kind)


def event(kind: str, message: str = "", at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """An event row: the named columns from `fields`, everything else into `data`."""
    columns = {k: fields.pop(k, None) for k in FIELDS}
    data = scrub_value(fields)
    return {"at": at or utcnow(), "kind": kind, "message": scrub(message), "data": data, **columns}


def record(session: Session | None, kind: str, message: str = "", **fields: Any) -> dict[str, Any]:
    """Write one event with `session`'s transaction (committed with it) and log it; no session: just log."""
    row = event(kind, message, **fields)
    if session is not None:
        session.execute(sa.insert(Event), [row])
    emit(row)
    return row


def record_all(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert prepared events in bulk with `session`'s transaction, and log each (in one write)."""
    batch = list(rows)
    if not batch:
        return
    emit_all(batch)
    session.connection().execute(sa.insert(Event), batch)


def emit(row: dict[str, Any]) -> None:
    """One log line for an event, at WARNING for failures, else INFO."""
    EVENTS.labels(kind=row["kind"]).inc()
    _log(row)


def emit_all(rows: list[dict[str, Any]]) -> None:
    """The log lines of many events, written together."""
    for kind, count in Tally(row["kind"] for row in rows).items():
        EVENTS.labels(kind=kind).inc(count)
    with _batched_lines():
        for row in rows:
            _log(row)


def _log(row: dict[str, Any]) -> None:
    kind = row["kind"]
    level = logging.WARNING if kind.endswith("_failed") else logging.INFO
    if log.isEnabledFor(level):
        fields = {k: row[k] for k in FIELDS if row.get(k)} | row["data"]
        # makeRecord and handle, as log.log does, minus looking up the caller's frame (never shown)
        extra = {"event": kind, "fields": fields}
        log.handle(
            log.makeRecord(log.name, level, __file__, 0, row["message"] or kind, (), None, extra=extra)
        )


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]
    """A stream handler that, inside `batch()`, writes the thread's lines in one write at the end."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        pending: list[str] | None = getattr(self._local, "pending", None)
        if pending is None:
            super().emit(record)
            return
        try:
            pending.append(self.format(record))
        except Exception:
            self.handleError(record)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect this thread's lines, then write them at once."""
        if getattr(self._local, "pending", None) is not None:  # already batching
            yield
            return
        self._local.pending = []
        try:
            yield
        finally:
            lines, self._local.pending = self._local.pending, None
            if lines:
                with self.lock:  # type: ignore[union-attr]
                    self.stream.write("\n".join(lines) + self.terminator)
                    self.flush()


@contextmanager
def _batched_lines() -> Iterator[None]:
    with ExitStack() as stack:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, LineHandler):
                stack.enter_context(handler.batch())
        yield


class TextFormatter(logging.Formatter):
    """`time level kind message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        kind = getattr(record, "event", "")
        fields = getattr(record, "fields", {})
        tail = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
        head = f"{_local_time(record.created)} {record.levelname:<7} {kind or record.name}"
        line = f"{head} {record.getMessage()}" + (f"  {tail}" if tail else "")
        return scrub(line + (("\n" + self.formatException(record.exc_info)) if record.exc_info else ""))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, message, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(data, default=str, ensure_ascii=False))


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Send log lines to stderr (alerts on the console channel go to stdout)."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False  # never shown
    handler = LineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_second: list[tuple[int, str]] = [(-1, "")]


def _local_time(created: float) -> str:
    """The local time of a record to the second (formatted once per second)."""
    second = int(created)
    cached = _second[0]
    if cached[0] != second:
        cached = _second[0] = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(second)))
    return cached[1]


def _short(value: Any) -> str:
    text = str(value)
    return repr(text) if " " in text else text
