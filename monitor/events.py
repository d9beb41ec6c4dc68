"""`record(kind, ...)`: write the Event row and the log line together, so the two always agree."""

from __future__ import annotations

import json
import logging
import sys
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter
from sqlmodel import Session

from monitor.models import Event, utcnow

KINDS = (
    "fetch",
    "fetch_failed",
    "item",
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
EVENTS = Counter("monitor_events", "Events recorded by this process, by kind", ["kind"], registry=REGISTRY)


def event(kind: str, message: str = "", at: datetime | None = None, **fields: Any) -> dict[str, Any]:
    """An event row: the named columns from `fields`, everything else into `data`."""
    columns = {k: fields.pop(k, None) for k in FIELDS}
    return {"at": at or utcnow(), "kind": kind, "message": message, "data": fields, **columns}


def record(session: Session | None, kind: str, message: str = "", **fields: Any) -> dict[str, Any]:
    """Write one event with `session`'s transaction (committed with it) and log it; no session: just log."""
    row = event(kind, message, **fields)
    if session is not None:
        session.execute(sa.insert(Event), [row])
    emit(row)
    return row


def record_all(session: Session, rows: Iterable[dict[str, Any]]) -> None:
    """Insert prepared events in bulk with `session`'s transaction, and log each."""
    batch = list(rows)
    for row in batch:
        emit(row)
    if batch:
        session.execute(sa.insert(Event), batch)


def emit(row: dict[str, Any]) -> None:
    """One log line for an event, at WARNING for failures, else INFO."""
    kind = row["kind"]
    EVENTS.labels(kind=kind).inc()
    level = logging.WARNING if kind.endswith("_failed") else logging.INFO
    extra = {k: row[k] for k in FIELDS if row.get(k)} | row["data"]
    log.log(level, row["message"] or kind, extra={"event": kind, "fields": extra})


class TextFormatter(logging.Formatter):
    """`time level kind message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        kind = getattr(record, "event", "")
        fields = getattr(record, "fields", {})
        tail = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
        head = f"{self.formatTime(record, '%Y-%m-%dT%H:%M:%S')} {record.levelname:<7} {kind or record.name}"
        line = f"{head} {record.getMessage()}" + (f"  {tail}" if tail else "")
        return line + (("\n" + self.formatException(record.exc_info)) if record.exc_info else "")


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
        return json.dumps(data, default=str, ensure_ascii=False)


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Send log lines to stderr (alerts on the console channel go to stdout)."""
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


def _short(value: Any) -> str:
    text = str(value)
    return repr(text) if " " in text else text
