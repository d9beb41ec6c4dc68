"""Retention: old rows go in small batches with a prune event; an unsent alert keeps what it needs."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from feeds import It, rss
from pg import BACKENDS, empty_engine
from runtimes import open_runtime
from sqlmodel import Session, select

from monitor import db, pipeline, retention
from monitor.models import Delivery, Event, Item, Match, utcnow
from monitor.records import Fetched

NOW = utcnow()
OLD, NEW = NOW - timedelta(days=40), NOW - timedelta(days=1)
CUTOFF = NOW - timedelta(days=30)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with empty_engine(request.param, tmp_path) as engine:
        db.upgrade(engine)
        yield engine


def story(n: int, when: Any, status: str | None) -> list[tuple[Any, dict[str, Any]]]:
    """Rows of one story first seen at `when`: its item, and a match and delivery when `status` is set."""
    rows: list[tuple[Any, dict[str, Any]]] = [
        (
            Item,
            {
                "id": f"i{n}",
                "feed": "f",
                "title": f"Story {n}",
                "first_seen": when,
                "title_key": f"s{n}",
                "categories": [],
            },
        )
    ]
    if status:
        rows.append(
            (
                Match,
                {
                    "id": f"m{n}",
                    "rule": "r",
                    "item_id": f"i{n}",
                    "title_key": f"s{n}",
                    "created_at": when,
                    "matched_terms": [],
                    "snippet": {},
                },
            )
        )
        rows.append(
            (
                Delivery,
                {
                    "id": f"d{n}",
                    "match_id": f"m{n}",
                    "rule": "r",
                    "channel": "hook",
                    "status": status,
                    "next_attempt_at": when,
                    "created_at": when,
                },
            )
        )
    return rows


def add(engine: sa.Engine, *stories: list[tuple[Any, dict[str, Any]]]) -> None:
    with Session(engine) as session:
        for model in (Item, Match, Delivery):
            db.insert_ignore(session, model, [row for s in stories for m, row in s if m is model])
        session.commit()


def ids(engine: sa.Engine, model: Any) -> set[str]:
    with Session(engine) as session:
        return set(session.exec(select(model.id)))


def test_old_rows_go_and_recent_ones_stay(engine: sa.Engine) -> None:
    add(engine, *(story(n, OLD, "sent") for n in range(7)), story(7, OLD, "failed"), story(8, OLD, None))
    add(engine, story(20, NEW, "sent"), story(21, NEW, None))
    with Session(engine) as session:
        session.add_all([Event(at=OLD, kind="item") for _ in range(5)] + [Event(at=NEW, kind="item")])
        session.commit()
        counts = retention.prune_and_record(session, CUTOFF, batch=3)  # several batches per table
    assert counts == {"event": 5, "delivery": 8, "match": 8, "item": 9}
    assert (
        ids(engine, Item) == {"i20", "i21"}
        and ids(engine, Match) == {"m20"}
        and ids(engine, Delivery) == {"d20"}
    )
    with Session(engine) as session:
        (event,) = session.exec(select(Event).where(Event.kind == "prune"))
    assert event.data == counts and "9 item" in event.message


def test_a_pending_delivery_keeps_its_match_and_item_however_old(engine: sa.Engine) -> None:
    add(engine, story(1, OLD, "pending"), story(2, OLD, "sent"))
    with Session(engine) as session:
        retention.prune_and_record(session, CUTOFF)
    assert ids(engine, Delivery) == {"d1"} and ids(engine, Match) == {"m1"} and ids(engine, Item) == {"i1"}
    with Session(engine) as session:  # once it is sent, the next prune takes all three
        session.execute(sa.update(Delivery).values(status="sent"))
        session.commit()
        retention.prune_and_record(session, CUTOFF)
    assert ids(engine, Delivery) == ids(engine, Match) == ids(engine, Item) == set()


def test_nothing_to_prune_records_no_event(engine: sa.Engine) -> None:
    add(engine, story(1, NEW, "sent"))
    with Session(engine) as session:
        assert not any(retention.prune_and_record(session, CUTOFF).values())
        assert list(session.exec(select(Event))) == []


def test_a_pruned_item_its_feed_still_carries_does_not_alert_again(tmp_path: Path) -> None:
    (tmp_path / "rules").mkdir()
    (tmp_path / "rules" / "watch.yaml").write_text(
        "retention: 30d\nfeeds:\n  - {name: f, url: 'http://127.0.0.1:9/f.xml', backfill: true}\n"
        "rules:\n  - {name: r, match: troops}\n"
    )
    (tmp_path / "channels.yaml").write_text("channels: {}\n")
    rt = open_runtime(f"sqlite:///{tmp_path / 'monitor.db'}", tmp_path / "rules", tmp_path / "channels.yaml")
    engine = rt.engine
    feed = rt.config.feeds["f"]
    body = rss(
        It("Troops old", link="https://e.org/old", age=timedelta(days=45)),
        It("Troops new", link="https://e.org/new"),
    )
    pipeline.ingest(rt, feed, Fetched("f", feed.url, feed.url, 200, body))
    with Session(engine) as session:
        assert len(list(session.exec(select(Match)))) == 2  # backfill: the first poll alerts both
        session.execute(sa.delete(Match))
        session.execute(sa.delete(Item))  # as a prune would, 30 days on
        session.commit()
    pipeline.ingest(rt, feed, Fetched("f", feed.url, feed.url, 200, body + b" "))
    with Session(engine) as session:
        titles = [session.get(Item, m.item_id).title for m in session.exec(select(Match))]  # type: ignore[union-attr]
    assert titles == ["Troops new"]  # the 45-day-old story is stored again, silently
