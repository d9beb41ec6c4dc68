"""Database helpers on SQLite and PostgreSQL: bulk inserts that ignore duplicates, leases, pruning, the lock."""

from __future__ import annotations

import os
import signal
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from conftest import Project
from pg import BACKENDS, empty_engine
from sqlmodel import Session, select
from waiting import wait_until

from monitor import db
from monitor.errors import InstanceError
from monitor.models import Delivery, FeedState, Item, Match

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """A migrated, empty database: a SQLite file, or a fresh PostgreSQL database."""
    with empty_engine(request.param, tmp_path) as engine:
        db.upgrade(engine)
        yield engine


def item_row(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "id": f"item-{n}",
        "feed": "f",
        "guid": None,
        "link": f"https://example.org/{n}",
        "title": f"Story {n}",
        "summary": "",
        "content": "",
        "author": "",
        "categories": ["world", "ünïcode"],
        "published": T0 - timedelta(hours=1),
        "first_seen": T0,
        "link_key": f"example.org/{n}",
        "title_key": f"story {n}",
    }
    return row | changes


def match_row(n: int, **changes: Any) -> dict[str, Any]:
    row = {
        "id": f"match-{n}",
        "rule": "r",
        "item_id": f"item-{n}",
        "link_key": f"example.org/{n}",
        "title_key": f"story {n}",
        "matched_terms": ["troops"],
        "snippet": {"text": "troops", "spans": [[0, 6]]},
        "created_at": T0,
    }
    return row | changes


def delivery_row(n: int, channel: str = "hook", **changes: Any) -> dict[str, Any]:
    row = {
        "id": f"d-{n}-{channel}",
        "match_id": f"match-{n}",
        "rule": "r",
        "channel": channel,
        "status": "pending",
        "attempts": 0,
        "group_key": None,
        "next_attempt_at": T0,
        "created_at": T0,
    }
    return row | changes


def insert(engine: sa.Engine, model: Any, rows: list[dict[str, Any]]) -> set[Any]:
    with Session(engine) as session:
        inserted = db.insert_ignore(session, model, rows)
        session.commit()
    return inserted


def add_feeds(engine: sa.Engine, names: list[str], due: datetime = T0) -> None:
    with Session(engine) as session:
        session.add_all(
            FeedState(name=name, url=f"http://127.0.0.1/{name}", next_poll_at=due) for name in names
        )
        session.commit()


def test_insert_ignore_returns_only_the_rows_it_inserted(engine: sa.Engine) -> None:
    assert insert(engine, Item, [item_row(1), item_row(2)]) == {"item-1", "item-2"}
    assert insert(engine, Item, [item_row(2), item_row(3), item_row(1)]) == {"item-3"}
    assert insert(engine, Item, []) == set()

    with Session(engine) as session:
        item = session.get(Item, "item-1")
    assert item is not None
    assert item.categories == ["world", "ünïcode"]
    assert item.first_seen == T0 and item.published == T0 - timedelta(hours=1)


def test_a_story_matches_a_rule_once_by_link_or_by_title(engine: sa.Engine) -> None:
    assert insert(engine, Match, [match_row(1)]) == {"match-1"}
    same_link = match_row(2, link_key="example.org/1")
    same_title = match_row(3, title_key="story 1")
    other_rule = match_row(4, rule="other", link_key="example.org/1", title_key="story 1")

    assert insert(engine, Match, [same_link, same_title, other_rule]) == {"match-4"}


def test_a_match_is_delivered_once_per_channel(engine: sa.Engine) -> None:
    assert insert(engine, Delivery, [delivery_row(1, "hook"), delivery_row(1, "mail")]) == {
        "d-1-hook",
        "d-1-mail",
    }
    again = delivery_row(1, "hook", id="another-id")

    assert insert(engine, Delivery, [again]) == set()


def test_due_feeds_are_leased_until_the_lease_runs_out(engine: sa.Engine) -> None:
    add_feeds(engine, ["a", "b"])
    add_feeds(engine, ["later"], due=T0 + timedelta(hours=1))
    with Session(engine) as session:
        assert sorted(db.claim_due_feeds(session, ["a", "b", "later"], "one", T0, 10)) == ["a", "b"]
        assert db.claim_due_feeds(session, ["a", "b"], "two", T0 + db.LEASE - timedelta(seconds=1), 10) == []
        assert sorted(
            db.claim_due_feeds(session, ["a", "b"], "two", T0 + db.LEASE + timedelta(seconds=1), 10)
        ) == [
            "a",
            "b",
        ]
        owners = {s.name: s.lease_owner for s in session.exec(select(FeedState))}
    assert owners == {"a": "two", "b": "two", "later": None}


def test_only_configured_feeds_are_claimed(engine: sa.Engine) -> None:
    add_feeds(engine, ["kept", "removed"])
    with Session(engine) as session:
        assert db.claim_due_feeds(session, ["kept"], "one", T0, 10) == ["kept"]
        assert db.claim_due_feeds(session, [], "one", T0, 10) == []


def test_due_pending_deliveries_are_claimed_once_until_the_lease_runs_out(engine: sa.Engine) -> None:
    rows = [
        delivery_row(1),
        delivery_row(2, status="sent"),
        delivery_row(3, next_attempt_at=T0 + timedelta(minutes=5)),
        delivery_row(4, channel="mail"),
    ]
    insert(engine, Delivery, rows)
    with Session(engine) as session:
        first = db.claim_due_deliveries(session, ["hook"], "one", T0, 10)
        assert [d.id for d in first] == ["d-1-hook"]
        assert first[0].lease_owner == "one" and first[0].lease_until == T0 + db.LEASE
        assert db.claim_due_deliveries(session, ["hook"], "two", T0 + timedelta(seconds=30), 10) == []
        later = db.claim_due_deliveries(session, ["hook"], "two", T0 + db.LEASE + timedelta(seconds=1), 10)
    assert [d.id for d in later] == ["d-1-hook"]


def test_claimed_deliveries_come_back_detached_holding_what_is_stored(engine: sa.Engine) -> None:
    insert(engine, Delivery, [delivery_row(n) for n in range(30)])
    with Session(engine) as session:
        claimed = db.claim_due_deliveries(session, ["hook"], "one", T0, 20)
        assert not any(delivery in session for delivery in claimed)
    with Session(engine) as session:
        stored = {d.id: d.model_dump() for d in session.exec(select(Delivery))}
    assert len(claimed) == 20 and {d.lease_owner for d in claimed} == {"one"}
    assert [d.model_dump() for d in claimed] == [stored[d.id] for d in claimed]  # as a refresh of each


def test_a_lost_lease_is_not_renewed(engine: sa.Engine) -> None:
    insert(engine, Delivery, [delivery_row(1), delivery_row(2)])
    late = T0 + db.LEASE + timedelta(seconds=1)
    with Session(engine) as session:
        db.claim_due_deliveries(session, ["hook"], "slow", T0, 10)
        assert db.renew_leases(session, Delivery, ["d-1-hook"], "slow", T0 + timedelta(seconds=50)) == {
            "d-1-hook"
        }
        # d-1 was renewed and stays with "slow"; d-2's lease ran out and "fast" takes it
        assert [d.id for d in db.claim_due_deliveries(session, ["hook"], "fast", late, 10)] == ["d-2-hook"]
        assert db.renew_leases(session, Delivery, ["d-1-hook", "d-2-hook"], "slow", late) == {"d-1-hook"}


def test_release_leases_frees_every_claim(engine: sa.Engine) -> None:
    add_feeds(engine, ["a"])
    insert(engine, Delivery, [delivery_row(1)])
    with Session(engine) as session:
        db.claim_due_feeds(session, ["a"], "dead", T0, 10)
        db.claim_due_deliveries(session, ["hook"], "dead", T0, 10)
        db.release_leases(session)
        assert db.claim_due_feeds(session, ["a"], "new", T0, 10) == ["a"]
        assert len(db.claim_due_deliveries(session, ["hook"], "new", T0, 10)) == 1


def test_a_second_lock_on_one_sqlite_file_names_postgresql(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path / 'monitor.db'}")
    first, second = db.InstanceLock(engine), db.InstanceLock(engine)
    first.acquire()
    with pytest.raises(InstanceError, match="postgresql://"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_a_hard_link_to_a_locked_sqlite_file_is_refused(tmp_path: Path) -> None:
    first = db.InstanceLock(db.make_engine(f"sqlite:///{tmp_path / 'monitor.db'}"))
    first.acquire()
    (tmp_path / "elsewhere").mkdir()
    os.link(tmp_path / "monitor.db", tmp_path / "elsewhere" / "other-name.db")
    second = db.InstanceLock(db.make_engine(f"sqlite:///{tmp_path / 'elsewhere' / 'other-name.db'}"))
    with pytest.raises(InstanceError, match="another `monitor run` is already using"):
        second.acquire()
    first.release()
    second.acquire()
    second.release()


def test_postgresql_takes_no_instance_lock() -> None:
    engine = db.make_engine("postgresql://postgres@127.0.0.1:5432/unused")
    first, second = db.InstanceLock(engine), db.InstanceLock(engine)
    first.acquire()
    second.acquire()
    assert first.path is None


def test_a_second_monitor_run_on_one_sqlite_file_is_refused(project: Project) -> None:
    project.copy_sample()
    running = project.start()
    wait_until(lambda: "monitor running" in project.log(0) or running.poll() is not None, timeout=30)
    assert running.poll() is None, project.log(0)

    second = project.start()
    code = second.wait(timeout=30)

    assert code != 0
    message = project.log(1)
    assert "another `monitor run` is already using" in message and "PostgreSQL" in message
    assert running.poll() is None
    assert project.stop(running, signal.SIGTERM) == 0
