"""Retention: delete rows older than `retention` in small batches, never from under a pending delivery.

Order matters: events, then finished deliveries, then matches no delivery still needs, then items no
match still needs. A pending delivery (an alert not yet sent, however old) keeps its match and its item,
so the deliverer can always render it; they go at the first prune after it is sent or failed.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from monitor import events
from monitor.models import Delivery, Event, Item, Match

BATCH = 500


def prune(session: Session, before: datetime, batch: int = BATCH) -> dict[str, int]:
    """Delete old events, finished deliveries, unneeded matches and items; return counts per table."""
    kept_matches = sa.select(col(Delivery.match_id))  # any delivery left is pending or recent
    kept_items = sa.select(col(Match.item_id))
    return {
        "event": _delete(session, Event, col(Event.at) < before, batch),
        "delivery": _delete(
            session,
            Delivery,
            sa.and_(col(Delivery.created_at) < before, col(Delivery.status) != "pending"),
            batch,
        ),
        "match": _delete(
            session, Match, sa.and_(col(Match.created_at) < before, col(Match.id).not_in(kept_matches)), batch
        ),
        "item": _delete(
            session, Item, sa.and_(col(Item.first_seen) < before, col(Item.id).not_in(kept_items)), batch
        ),
    }


def _delete(session: Session, model: Any, where: sa.ColumnElement[bool], batch: int) -> int:
    """Delete matching rows `batch` at a time, committing each batch (writers are never held long)."""
    table = model.__table__
    pk = next(iter(table.primary_key.columns))
    total = 0
    while True:
        ids = sa.select(pk).where(where).limit(batch).scalar_subquery()
        deleted: int = session.execute(sa.delete(table).where(pk.in_(ids))).rowcount  # type: ignore[attr-defined]  # a DELETE gives a CursorResult
        session.commit()
        total += deleted
        if deleted < batch:
            return total


def prune_and_record(session: Session, before: datetime, batch: int = BATCH) -> dict[str, int]:
    """Prune, and record a `prune` event with the counts when anything was deleted."""
    counts = prune(session, before, batch)
    if any(counts.values()):
        message = f"pruned rows older than {before:%Y-%m-%d %H:%M} UTC: " + ", ".join(
            f"{n} {table}" for table, n in counts.items() if n
        )
        events.record(session, "prune", message, **counts)
        session.commit()
    return counts
