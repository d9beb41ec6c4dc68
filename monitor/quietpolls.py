"""Unchanged polls written together: a 304 or the same bytes of a feed that was "ok".

`pipeline._ingest_all` gathers them (`is_quiet`) while more arrive within `QUIET_WAIT`, and
`pipeline.quiet_polls` hands them here. `write` stores what `ingest` stores for them, without
reading the rows: the poll and success times, the lease dropped, validators kept or renewed, the
next poll; one UPDATE ... executemany in one transaction, each row holding only while its feed is
still "ok" at the same URL. When any did not, it is rolled back and the caller ingests each poll
alone (tests/test_quiet.py: the stored state equals `ingest`'s).
"""

from __future__ import annotations

import functools
import logging
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa

from monitor import schedule
from monitor.config import FeedConfig
from monitor.errors import FetchError
from monitor.models import FeedState, UTCDateTime
from monitor.records import Fetched

log = logging.getLogger(__name__)


@dataclass(frozen=True)
class Quiet:
    """An unchanged poll of a steady feed, waiting to be written with others."""

    feed: FeedConfig
    result: Fetched
    at: datetime  # when it arrived: its last_poll_at


def is_quiet(result: Fetched | FetchError, parsing: object | None) -> bool:
    """A poll that changes nothing but the feed's schedule: a 304 or the same bytes, not moved."""
    return isinstance(result, Fetched) and parsing is None and not result.permanent_redirect


def write(engine: sa.Engine, polls: list[Quiet]) -> datetime | None:
    """Write `polls` in one transaction; the earliest next poll, or None when nothing was written
    (a feed changed meanwhile, or the database failed): then each poll takes the plain path."""
    due = [schedule.after_success(p.at, p.feed.every, p.result.max_age, None) for p in polls]
    rows = [
        {
            "b_name": p.feed.name,
            "b_url": p.feed.url,
            "b_at": p.at,
            "b_next": next_poll,
            "b_etag": p.result.etag or None,
            "b_modified": p.result.last_modified or None,
        }
        for p, next_poll in zip(polls, due, strict=True)
    ]
    try:
        with engine.connect() as connection:
            done = connection.execute(_update(), rows)
            if connection.dialect.supports_sane_multi_rowcount and done.rowcount == len(rows):
                connection.commit()
                return min(due)
            connection.rollback()
    except Exception:  # the plain path logs (or survives) whatever this was, feed by feed
        log.debug("quiet poll update failed; ingesting one by one", exc_info=True)
    return None


@functools.cache
def _update() -> sa.Update:
    table = FeedState.__table__  # type: ignore[attr-defined]  # SQLModel sets __table__ at runtime
    c = table.c
    return (
        sa.update(table)
        .where(c.name == sa.bindparam("b_name"), c.url == sa.bindparam("b_url"), c.status == "ok")
        .values(
            last_poll_at=sa.bindparam("b_at", type_=UTCDateTime()),
            last_ok_at=sa.bindparam("b_at", type_=UTCDateTime()),
            lease_owner=None,
            lease_until=None,
            failures=0,
            reason=None,
            next_poll_at=sa.bindparam("b_next", type_=UTCDateTime()),
            etag=sa.func.coalesce(sa.bindparam("b_etag", type_=sa.String()), c.etag),
            last_modified=sa.func.coalesce(sa.bindparam("b_modified", type_=sa.String()), c.last_modified),
        )
    )
