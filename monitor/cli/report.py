"""Read-only views of the database for the CLI: feed health, the event log, deliveries."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, select

from monitor.config import Config
from monitor.models import Delivery, Event, FeedState, utcnow


@dataclass(frozen=True)
class FeedHealth:
    """One row of `monitor feeds`: `reason` is the last error (failing) or why the feed is degraded or moved."""

    name: str
    url: str
    status: str
    reason: str | None
    failures: int
    items: int
    last_poll_at: datetime | None
    last_ok_at: datetime | None
    next_poll_at: datetime | None
    configured: bool
    fulltext: bool = False  # the feed reads its items' article pages
    article_failures: int = 0  # article pages that could not be read, in all


def feed_health(engine: sa.Engine, config: Config | None) -> list[FeedHealth]:
    """Every feed the configuration names (and any the database still knows), with its health."""
    with Session(engine) as session:
        states = {s.name: s for s in session.exec(select(FeedState))}
    names = list(config.feeds) if config else []
    names += sorted(set(states) - set(names))
    rows = []
    for name in names:
        state = states.get(name) or FeedState(name=name, url=config.feeds[name].url if config else "")
        rows.append(
            FeedHealth(
                name=name,
                url=config.feeds[name].url if config and name in config.feeds else state.url,
                status=state.status,
                reason=state.reason,
                failures=state.failures,
                items=state.items,
                last_poll_at=state.last_poll_at,
                last_ok_at=state.last_ok_at,
                next_poll_at=state.next_poll_at,
                configured=bool(config and name in config.feeds),
                fulltext=bool(config and name in config.feeds and config.feeds[name].fulltext),
                article_failures=state.article_failures,
            )
        )
    return rows


def list_events(
    engine: sa.Engine, since: timedelta | None, kind: str | None, limit: int | None
) -> list[Event]:
    """Events in the window, oldest first (the newest `limit` when a limit is given)."""
    stmt = select(Event)
    if since is not None:
        stmt = stmt.where(Event.at >= utcnow() - since)  # type: ignore[operator]
    if kind:
        stmt = stmt.where(Event.kind == kind)
    stmt = stmt.order_by(Event.id.desc())  # type: ignore[union-attr]
    if limit:
        stmt = stmt.limit(limit)
    with Session(engine) as session:
        return list(reversed(list(session.exec(stmt))))


def list_deliveries(engine: sa.Engine, failed_only: bool, limit: int = 1000) -> list[Delivery]:
    """Deliveries, newest first; only the failed ones with `failed_only`."""
    stmt = select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)  # type: ignore[attr-defined]
    if failed_only:
        stmt = stmt.where(Delivery.status == "failed")
    with Session(engine) as session:
        return list(session.exec(stmt))
