"""`record(kind, ...)`: write the Event row and the log line together, so the two always agree."""

from __future__ import annotations

import logging
from collections import Counter as Tally
from collections.abc import Iterable
from datetime import datetime
from typing import Any

import sqlalchemy as sa
from prometheus_client import CollectorRegistry, Counter, disable_created_metrics
from sqlmodel import Session

from monitor.eventkinds import KINDS
from monitor.logs import batched_lines
from monitor.models import Event, utcnow
from monitor.scrub import scrub, scrub_value

FIELDS = ("feed", "rule", "item_id", "channel", "delivery_id")
log = logging.getLogger("monitor")
REGISTRY = CollectorRegistry()  # this process's counters; /metrics adds the database gauges
disable_created_metrics()  # type: ignore[no-untyped-call]  # unannotated in prometheus_client; no `_created` series: a scrape shows totals only
EVENTS = Counter("monitor_events", "Events recorded by this process, by kind", ["kind"], registry=REGISTRY)
for _kind in KINDS:  # every known kind has a series from the start, at 0
    EVENTS.labels(kind=_kind)
INSERT = sa.insert(Event)  # built once (record_all is on the path between two sends of a channel)


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


def record_all(session: Session | sa.Connection, rows: Iterable[dict[str, Any]]) -> None:
    """Insert prepared events in bulk with `session`'s transaction (or a connection's), and log each
    (in one write)."""
    batch = list(rows)
    if not batch:
        return
    emit_all(batch)
    connection = session.connection() if isinstance(session, Session) else session
    connection.execute(INSERT, batch)


def emit(row: dict[str, Any]) -> None:
    """One log line for an event, at WARNING for failures, else INFO."""
    EVENTS.labels(kind=row["kind"]).inc()
    _log(row)


def emit_all(rows: list[dict[str, Any]]) -> None:
    """The log lines of many events, written together."""
    for kind, count in Tally(row["kind"] for row in rows).items():
        EVENTS.labels(kind=kind).inc(count)
    with batched_lines():
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
