"""Schema migrations: a fresh database gets the schema of models.py; an older one upgrades and keeps its rows."""

from __future__ import annotations

import re
import threading
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from conftest import Project
from pg import BACKENDS, empty_engine, fresh_database
from sqlmodel import Session, SQLModel, select

from monitor import db
from monitor.models import Delivery, Event, FeedState, Item, Match, RuleState

HEAD = "0004"
NEW_INDEX = "ix_delivery_status_next_attempt_at"
T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    """An engine on an empty database: a SQLite file, or a fresh PostgreSQL database."""
    with empty_engine(request.param, tmp_path) as engine:
        yield engine


def revision(engine: sa.Engine) -> str | None:
    with engine.connect() as connection:
        return db.schema_revision(connection)


def differences(engine: sa.Engine) -> list[object]:
    """What autogenerate would change to make the database match models.py (nothing, when in step)."""
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        return list(compare_metadata(context, SQLModel.metadata))


def indexes(engine: sa.Engine, table: str) -> set[str]:
    return {index["name"] for index in sa.inspect(engine).get_indexes(table)}  # type: ignore[misc]


def add_rows(engine: sa.Engine) -> None:
    """One row in every table, as the pipeline writes them (JSON, booleans, aware datetimes).

    The feed and the item go in with the columns of the first schema only, so this works at any revision.
    """
    with engine.begin() as connection:
        feed, item = (
            sa.Table(name, sa.MetaData(), autoload_with=connection) for name in ("feedstate", "item")
        )
        connection.execute(
            feed.insert().values(
                name="bbc", url="http://127.0.0.1/rss", status="new", failures=0, items=0, polled=True
            ),
        )
        connection.execute(sa.update(feed).where(feed.c.name == "bbc").values(next_poll_at=T0))
        connection.execute(
            item.insert().values(
                id="i1",
                feed="bbc",
                title="Troops meet",
                summary="",
                content="",
                author="",
                categories=["world"],
                first_seen=T0,
                title_key="t",
            )
        )
    with Session(engine) as session:
        old_columns = {c["name"] for c in sa.inspect(session.connection()).get_columns("match")}
        match = {"id": "m1", "rule": "r", "item_id": "i1", "title_key": "t", "created_at": T0}
        match |= {"matched_terms": ["troops"], "snippet": {}}  # a row as the revision at hand has it
        session.execute(sa.insert(Match).values({k: v for k, v in match.items() if k in old_columns}))
        session.add(
            Delivery(id="d1", match_id="m1", rule="r", channel="hook", next_attempt_at=T0, created_at=T0)
        )
        session.add(Event(at=T0, kind="item", feed="bbc", message="Troops meet", data={"n": 1}))
        session.add(RuleState(name="r", fingerprint="abc", applied_at=T0))
        session.commit()


def assert_rows_kept(engine: sa.Engine) -> None:
    with Session(engine) as session:
        feed = session.get(FeedState, "bbc")
        assert feed is not None and feed.polled is True and feed.next_poll_at == T0
        item = session.get(Item, "i1")
        assert item is not None and item.categories == ["world"] and item.first_seen == T0
        match = session.get(Match, "m1")
        assert match is not None and match.matched_terms == ["troops"] and match.muted is False
        delivery = session.get(Delivery, "d1")
        assert delivery is not None and delivery.status == "pending" and delivery.next_attempt_at == T0
        assert [e.data for e in session.exec(select(Event))] == [{"n": 1}]
        assert session.get(RuleState, "r") is not None


def test_a_fresh_database_gets_the_schema_of_models(engine: sa.Engine) -> None:
    db.upgrade(engine)

    assert revision(engine) == HEAD
    assert differences(engine) == []


def test_upgrading_twice_changes_nothing(engine: sa.Engine) -> None:
    db.upgrade(engine)
    add_rows(engine)
    db.upgrade(engine)

    assert revision(engine) == HEAD
    assert_rows_kept(engine)


def test_a_database_at_the_first_revision_upgrades_and_keeps_its_rows(engine: sa.Engine) -> None:
    db.upgrade(engine, "0001")
    assert NEW_INDEX not in indexes(engine, "delivery")
    add_rows(engine)

    db.upgrade(engine)

    assert revision(engine) == HEAD
    assert NEW_INDEX in indexes(engine, "delivery")
    assert differences(engine) == []
    assert_rows_kept(engine)


def test_a_database_made_before_migrations_is_stamped_then_upgraded(engine: sa.Engine) -> None:
    db.create_schema(engine)  # how the first databases were made: create_all, no alembic_version
    with engine.begin() as connection:
        connection.execute(sa.text(f"DROP INDEX {NEW_INDEX}"))
    add_rows(engine)

    db.upgrade(engine)

    assert revision(engine) == HEAD
    assert NEW_INDEX in indexes(engine, "delivery")
    assert_rows_kept(engine)


def test_a_create_all_database_that_already_has_the_new_index_upgrades(engine: sa.Engine) -> None:
    db.create_schema(engine)
    add_rows(engine)

    db.upgrade(engine)

    assert revision(engine) == HEAD
    assert differences(engine) == []
    assert_rows_kept(engine)


@pytest.mark.postgres
def test_instances_starting_together_upgrade_a_fresh_postgres_database_once() -> None:
    with fresh_database() as url:
        engines = [db.make_engine(url) for _ in range(4)]
        errors: list[BaseException] = []
        barrier = threading.Barrier(len(engines))

        def start(engine: sa.Engine) -> None:
            barrier.wait()
            try:
                db.upgrade(engine)
            except BaseException as exc:
                errors.append(exc)

        threads = [threading.Thread(target=start, args=(e,)) for e in engines]
        for thread in threads:
            thread.start()
        for thread in threads:
            thread.join(timeout=60)

        assert errors == []
        assert revision(engines[0]) == HEAD
        assert differences(engines[0]) == []
        for engine in engines:
            engine.dispose()


def test_monitor_db_upgrade_upgrades_an_old_sqlite_file(project: Project) -> None:
    path = project.root / "data" / "monitor.db"
    engine = db.make_engine(f"sqlite:///{path}")
    db.upgrade(engine, "0001")
    add_rows(engine)
    engine.dispose()

    result = project.cli("db", "upgrade")

    assert result.returncode == 0, result.stderr
    assert "up to date" in result.stdout
    engine = db.make_engine(f"sqlite:///{path}")
    assert revision(engine) == HEAD
    assert_rows_kept(engine)
    engine.dispose()


def test_the_lease_columns_keep_their_time_zone(engine: sa.Engine) -> None:
    db.upgrade(engine)
    add_rows(engine)
    later = T0 + timedelta(minutes=1)
    with Session(engine) as session:
        assert db.claim_due_feeds(session, ["bbc"], "me", later, 10) == ["bbc"]
    with Session(engine) as session:
        feed = session.get(FeedState, "bbc")
        assert feed is not None and feed.lease_until == later + db.LEASE
        assert feed.lease_until.tzinfo is not None


def test_the_head_read_from_the_files_is_alembics() -> None:
    from alembic.script import ScriptDirectory

    with sa.create_engine("sqlite://").connect() as connection:
        config = db.migrations_config(connection)
        assert db.head_revision() == ScriptDirectory.from_config(config).get_current_head() == HEAD


@pytest.mark.parametrize("at", [None, "0001", "0003", HEAD])
def test_the_quick_head_check_agrees_with_alembic(engine: sa.Engine, at: str | None) -> None:
    """`at_head` (one query, no Alembic) is true exactly when Alembic's revision is the head."""
    if at is not None:
        db.upgrade(engine, at)
    assert db.at_head(engine) is (revision(engine) == HEAD)
    db.upgrade(engine)  # the quick check says "not at head" before: Alembic upgrades
    assert db.at_head(engine) and revision(engine) == HEAD and differences(engine) == []


def sqlite_file(tmp_path: Path, name: str) -> sa.Engine:
    return db.make_engine(f"sqlite:///{tmp_path / name}")


def statements(engine: sa.Engine) -> list[list[str]]:
    with engine.connect() as connection:
        return sorted(normal(s) for s in db.schema_statements(connection))


def normal(statement: str) -> list[str]:
    """A statement's clauses, in an order of their own: a table the migrations rebuild (batch mode)
    lists its constraints, and gets its indexes, in an order that changes from run to run."""
    return sorted(part.strip() for part in re.split(r",\s*\n", statement.removesuffix("\n)")))


def test_the_sqlite_snapshot_is_what_the_migrations_make(tmp_path: Path) -> None:
    migrated = sqlite_file(tmp_path, "migrated.db")
    db.upgrade(migrated, HEAD)  # a revision named: Alembic runs every migration
    text = db.SNAPSHOT.read_text(encoding="utf-8")
    again = "python -c 'from monitor import db; db.write_snapshot(db.make_engine(\"sqlite://\"))'"
    assert text.startswith(f"-- revision: {HEAD}\n"), f"a new migration: write the snapshot again ({again})"
    snapshot = sorted(normal(s) for s in text.split("\n", 1)[1].split(";\n") if s.strip())
    assert snapshot == statements(migrated), again


def test_a_fresh_sqlite_database_is_made_from_the_snapshot_as_the_migrations_make_it(tmp_path: Path) -> None:
    migrated, fresh = sqlite_file(tmp_path, "migrated.db"), sqlite_file(tmp_path, "fresh.db")
    db.upgrade(migrated, HEAD)
    assert db.create_from_snapshot(fresh)
    assert statements(fresh) == statements(migrated)
    assert revision(fresh) == HEAD and db.at_head(fresh) and differences(fresh) == []
    assert not db.create_from_snapshot(fresh)  # not empty any more: nothing done
    add_rows(fresh)
    db.upgrade(fresh)
    assert_rows_kept(fresh)


def test_a_snapshot_of_another_revision_is_not_used(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    old = tmp_path / "old.sql"
    old.write_text(
        db.SNAPSHOT.read_text(encoding="utf-8").replace(f"-- revision: {HEAD}", "-- revision: 0003")
    )
    monkeypatch.setattr(db, "SNAPSHOT", old)
    engine = sqlite_file(tmp_path, "fresh.db")
    assert not db.create_from_snapshot(engine)
    db.upgrade(engine)  # the migrations run
    assert revision(engine) == HEAD and differences(engine) == []


def test_a_database_with_tables_is_not_made_from_the_snapshot(tmp_path: Path) -> None:
    engine = sqlite_file(tmp_path, "old.db")
    db.create_schema(engine)  # made before migrations: stamped at the baseline, then upgraded
    assert not db.create_from_snapshot(engine)
    db.upgrade(engine)
    assert revision(engine) == HEAD and differences(engine) == []
