"""Engine, schema, bulk inserts that ignore duplicates, leases, pruning and the SQLite instance lock."""

from __future__ import annotations

import fcntl
import functools
import json
import logging
import os
import re
from collections.abc import Iterable, Sequence
from datetime import datetime, timedelta
from pathlib import Path
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa
from sqlalchemy.dialects import postgresql, sqlite
from sqlmodel import Session, SQLModel, col, select

from monitor.errors import InstanceError, SettingError
from monitor.models import Delivery, FeedState, Item, UTCDateTime

if TYPE_CHECKING:
    from alembic.config import Config as AlembicConfig

LEASE = timedelta(seconds=60)
MIGRATIONS = Path(__file__).with_name("migrations")
BASELINE = "0001"  # the schema create_all made before migrations existed
log = logging.getLogger("monitor.db")


def make_engine(url: str) -> sa.Engine:
    """An engine for `url`: SQLite in WAL mode with a busy timeout, or PostgreSQL through psycopg 3."""
    if url.startswith("sqlite"):
        path = sa.engine.make_url(url).database
        if path and path != ":memory:":
            Path(path).parent.mkdir(parents=True, exist_ok=True)
        engine = sa.create_engine(url, connect_args={"timeout": 30, "check_same_thread": False})
        sa.event.listen(engine, "connect", _sqlite_pragmas)
        return engine
    if url.startswith(("postgresql://", "postgres://")):
        url = "postgresql+psycopg://" + url.split("://", 1)[1]
    try:
        return sa.create_engine(url, pool_size=10, max_overflow=20, pool_pre_ping=True)
    except (sa.exc.ArgumentError, ModuleNotFoundError) as exc:
        raise SettingError(f"cannot use MONITOR_DB: {exc.__class__.__name__}") from None


def _sqlite_pragmas(dbapi_conn: Any, _record: Any) -> None:
    cur = dbapi_conn.cursor()
    cur.execute("PRAGMA journal_mode=WAL")
    cur.execute("PRAGMA synchronous=NORMAL")
    cur.execute("PRAGMA busy_timeout=30000")
    cur.close()


def create_schema(engine: sa.Engine) -> None:
    """Create missing tables (a fresh database); migrations upgrade an existing one."""
    SQLModel.metadata.create_all(engine)


def _table(model: type[SQLModel]) -> sa.Table:
    return model.__table__  # type: ignore[attr-defined,no-any-return]  # SQLModel sets __table__ at runtime


def is_sqlite(engine: sa.Engine) -> bool:
    return engine.dialect.name == "sqlite"


def insert_ignore(
    session: Session, model: type[SQLModel], rows: Sequence[dict[str, Any]], *, in_order: bool = False
) -> set[Any]:
    """INSERT ... ON CONFLICT DO NOTHING in bulk; return the primary keys actually inserted.

    The rows go in sorted by key, unless `in_order` (the caller's order: which of two rows that
    conflict on another unique key is kept; `store.store_feeds` gives runs each sorted by key).
    """
    if not rows:
        return set()
    table = _table(model)
    dialect = session.get_bind().dialect.name
    insert = postgresql.insert if dialect == "postgresql" else sqlite.insert
    pk = next(iter(table.primary_key.columns))
    stmt = insert(table).on_conflict_do_nothing().returning(pk)
    # One lock order for every writer: two instances inserting overlapping rows cannot deadlock.
    result = session.execute(stmt, list(rows) if in_order else sorted(rows, key=lambda row: row[pk.name]))
    return {row[0] for row in result}


def lease_free(until: Any, now: datetime | sa.BindParameter[datetime]) -> sa.ColumnElement[bool]:
    """SQL: a row whose `lease_until` column is `until` is held by nobody at `now` (never leased, or run out)."""
    return sa.or_(until.is_(None), until < now)


def claim_due_feeds(
    session: Session, names: Iterable[str], owner: str, now: datetime, limit: int
) -> list[str]:
    """Lease up to `limit` due feeds to `owner` (SKIP LOCKED on PostgreSQL, so instances share)."""
    return claim_feeds(session, names, owner, now, limit)[0]


def claim_feeds(
    session: Session, names: Iterable[str], owner: str, now: datetime, limit: int
) -> tuple[list[str], datetime | None]:
    """`claim_due_feeds`, and when the first feed it left (unleased, not due or over `limit`) is due."""
    rows, next_due = claim_feed_states(session, names, owner, now, limit)
    return [row.name for row in rows], next_due


CLAIMED_COLUMNS = ("name", "next_poll_at", "url", "status", "failures", "etag", "last_modified", "body_hash")


def claim_feed_states(
    session: Session, names: Iterable[str], owner: str, now: datetime, limit: int
) -> tuple[list[sa.Row[Any]], datetime | None]:
    """`claim_feeds` with the leased feeds' state rows (CLAIMED_COLUMNS), as they were when leased.

    One query answers both: the unleased feeds among `names` in due order, one more than `limit`, read
    until the first one not due; the poller sleeps until its time (None: no feed is waiting). A feed
    another instance holds is not counted: its lease ends with a new due time, which the poller's
    capped sleep picks up. `names` is bound as one parameter (`_claim_query`).
    """
    names = names if isinstance(names, list) else list(names)
    if not names:
        return [], None
    postgres = session.get_bind().dialect.name == "postgresql"
    listed: object = names if postgres else _as_json(names)
    result = session.connection().execute(
        _claim_query(postgres), {"names": listed, "now": now, "limit": limit + 1}
    )
    claimed: list[sa.Row[Any]] = []
    next_due = None
    for row in result:  # due order: the first row not claimed is the next due; the rest are not read
        if len(claimed) < limit and row.next_poll_at <= now:
            claimed.append(row)
            continue
        next_due = row.next_poll_at
        break
    result.close()
    if claimed:
        session.connection().execute(
            _lease_query(), {"names": [row.name for row in claimed], "owner": owner, "until": now + LEASE}
        )
    session.commit()
    return claimed, next_due


_last_json: tuple[list[str], list[str], str] | None = None  # (the list, a copy of it, its JSON)


def _as_json(names: list[str]) -> str:
    """`names` as a JSON array; the poller passes the same list each claim, encoded once."""
    global _last_json
    last = _last_json
    if last is not None and last[0] is names and last[1] == names:
        return last[2]
    encoded = json.dumps(names)
    _last_json = (names, list(names), encoded)
    return encoded


@functools.cache
def _lease_query() -> sa.Update:
    table = _table(FeedState)
    return (
        sa.update(table)
        .where(table.c.name.in_(sa.bindparam("names", expanding=True)))
        .values(lease_owner=sa.bindparam("owner"), lease_until=sa.bindparam("until", type_=UTCDateTime()))
    )


@functools.cache
def _claim_query(postgres: bool) -> sa.Select[Any]:
    """The claim's SELECT, built once: the configured names bound as ONE parameter (a JSON array read
    by json_each on SQLite, an array on PostgreSQL). `IN (...)` bound one parameter per name and was
    rendered again at each call: for the list of every configured feed, twice a second, that was
    most of the claim's cost."""
    table = _table(FeedState)
    if postgres:
        configured = table.c.name == sa.any_(sa.bindparam("names", type_=postgresql.ARRAY(sa.String)))
    else:
        each: sa.Select[Any] = sa.select(sa.column("value")).select_from(
            sa.func.json_each(sa.bindparam("names"))
        )
        # `name || ''` keeps SQLite off the primary key (a lookup per name, then a sort): it walks
        # the next_poll_at index in due order and stops at the limit
        configured = table.c.name.concat(sa.literal_column("''")).in_(each.scalar_subquery())
    return (
        sa.select(*(table.c[name] for name in CLAIMED_COLUMNS))
        .where(configured, table.c.next_poll_at.is_not(None))
        .where(lease_free(table.c.lease_until, sa.bindparam("now", type_=UTCDateTime())))
        .order_by(table.c.next_poll_at)
        .limit(sa.bindparam("limit", type_=sa.Integer()))
        .with_for_update(skip_locked=True)
    )


# A twin of claim_due_feeds by shape, on purpose: another table with its own due test and order;
# a shared builder would hide the one SELECT ... FOR UPDATE SKIP LOCKED each instance runs.
def claim_due_deliveries(
    session: Session, channels: Iterable[str], owner: str, now: datetime, limit: int
) -> list[Delivery]:
    """Lease up to `limit` due pending deliveries on `channels` to `owner`."""
    channels = list(channels)
    if not channels:
        return []
    stmt = (
        select(Delivery)
        .where(*_due_deliveries(channels, now))
        .order_by(col(Delivery.next_attempt_at), col(Delivery.created_at))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    return lease(session, list(session.exec(stmt)), owner, now)


def any_due_delivery(engine: sa.Engine, channels: Iterable[str], now: datetime) -> bool:
    """Whether `claim_due_deliveries` would find anything now: the same conditions, one row at most,
    no lock, no ORM (the delivery tick asks it every second; nearly always, nothing is due)."""
    channels = list(channels)
    if not channels:
        return False
    with engine.connect() as connection:
        return connection.execute(_any_due(), {"channels": channels, "now": now}).first() is not None


@functools.cache
def _any_due() -> sa.Select[Any]:
    now = sa.bindparam("now", type_=UTCDateTime())
    channels: sa.BindParameter[list[str]] = sa.bindparam("channels", expanding=True)
    return (
        sa.select(sa.literal(1, sa.Integer))
        .select_from(Delivery)
        .where(*_due_deliveries(channels, now))
        .limit(1)
    )


def _due_deliveries(channels: Any, now: Any) -> list[sa.ColumnElement[bool]]:
    """SQL: a pending delivery on one of `channels`, due at `now`, leased by nobody."""
    return [
        col(Delivery.status) == "pending",
        col(Delivery.channel).in_(channels),
        col(Delivery.next_attempt_at) <= now,
        lease_free(col(Delivery.lease_until), now),
    ]


def lease(session: Session, deliveries: list[Delivery], owner: str, now: datetime) -> list[Delivery]:
    """Give the selected (locked) deliveries to `owner` for LEASE, commit, and hand them back detached."""
    ids = [delivery.id for delivery in deliveries]
    for delivery in deliveries:
        delivery.lease_owner, delivery.lease_until = owner, now + LEASE
        session.add(delivery)
    session.commit()
    if ids:  # reload them (the commit expired them) in one query, not one refresh each
        list(session.exec(select(Delivery).where(col(Delivery.id).in_(ids))))
    for delivery in deliveries:
        session.expunge(delivery)
    return deliveries


def renew_leases(
    session: Session, model: type[SQLModel], keys: Iterable[Any], owner: str, now: datetime
) -> set[Any]:
    """Extend `owner`'s leases on these rows; return the keys it still holds, and commit.

    Call it before acting on a claimed row: a lease that ran out and was claimed by another
    instance is lost (that row is the other instance's work now), so no row is worked on twice.
    """
    keys = list(keys)
    if not keys:
        return set()
    table = _table(model)
    pk = next(iter(table.primary_key.columns))
    stmt = (
        sa.update(table)
        .where(pk.in_(keys), table.c.lease_owner == owner)
        .values(lease_until=now + LEASE)
        .returning(pk)
    )
    held = {row[0] for row in session.execute(stmt)}
    session.commit()
    return held


def release_leases(session: Session) -> None:
    """Drop every lease (a single SQLite instance at start: nobody else can hold one)."""
    session.execute(sa.update(FeedState).values(lease_owner=None, lease_until=None))
    session.execute(
        sa.update(Item).where(col(Item.lease_owner).is_not(None)).values(lease_owner=None, lease_until=None)
    )
    session.execute(
        sa.update(Delivery)
        .where(col(Delivery.lease_owner).is_not(None))
        .values(lease_owner=None, lease_until=None)
    )
    session.commit()


class InstanceLock:
    """An exclusive lock for a SQLite file: one `monitor run` per file; PostgreSQL runs several.

    Two locks, both `flock`: `<file>.lock` beside the resolved path (a symlink or another spelling of
    the path takes the same one, also before the database file exists), and the database file itself,
    which a hard link under another name shares (Linux keeps `flock` apart from SQLite's own POSIX
    locks). The database file's descriptor is held until `release`, which runs after the last
    transaction: closing it earlier would drop SQLite's locks of this process on that file.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.path: Path | None = None
        self._database: Path | None = None
        self._handles: list[int] = []
        if is_sqlite(engine) and engine.url.database not in (None, "", ":memory:"):
            self._database = Path(engine.url.database).resolve()
            self.path = Path(str(self._database) + ".lock")

    def acquire(self) -> None:
        if self.path is None or self._database is None:
            return
        self._take(self.path, os.O_RDWR)
        self._take(self._database, os.O_RDONLY)  # flock needs no write access
        os.ftruncate(self._handles[0], 0)
        os.pwrite(self._handles[0], str(os.getpid()).encode(), 0)

    def _take(self, path: Path, mode: int) -> None:
        """Lock `path` (made if missing, as an empty file: SQLite reads that as an empty database)."""
        fd = os.open(path, mode | os.O_CREAT | getattr(os, "O_CLOEXEC", 0), 0o666)
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            os.close(fd)
            self.release()
            raise InstanceError(
                f"another `monitor run` is already using {self._database}; "
                "to run several instances, point MONITOR_DB at PostgreSQL (postgresql://...)"
            ) from None
        self._handles.append(fd)

    def release(self) -> None:
        for fd in reversed(self._handles):
            fcntl.flock(fd, fcntl.LOCK_UN)
            os.close(fd)
        self._handles.clear()


def migrations_config(connection: sa.Connection) -> AlembicConfig:
    """The Alembic configuration of the packaged migrations, running on `connection`."""
    _quiet_alembic()
    from alembic.config import Config as AlembicConfig

    config = AlembicConfig()
    config.set_main_option("script_location", str(MIGRATIONS))
    config.attributes["connection"] = connection
    return config


def schema_revision(connection: sa.Connection) -> str | None:
    """The database's Alembic revision (None: no alembic_version table)."""
    _quiet_alembic()
    from alembic.runtime.migration import MigrationContext

    return MigrationContext.configure(connection).get_current_revision()


def _quiet_alembic() -> None:
    """Alembic logs every step at INFO (even its imports); our log keeps only its warnings."""
    logger = logging.getLogger("alembic")
    if logger.level == logging.NOTSET:
        logger.setLevel(logging.WARNING)


def upgrade(engine: sa.Engine, revision: str = "head") -> None:
    """`alembic upgrade head`: creates every table on a fresh database, upgrades an older one in place.

    A database made by create_all before migrations existed (tables, no alembic_version) is stamped
    at the baseline revision first. Instances starting together on PostgreSQL take turns. A database
    already at head is seen so with one query, without loading Alembic (a tenth of a second a start).
    """
    if revision == "head" and (at_head(engine) or create_from_snapshot(engine)):
        return
    _quiet_alembic()
    from alembic import command
    from alembic.script import ScriptDirectory

    with engine.begin() as connection:
        exclusive(connection, "upgrade")
        config = migrations_config(connection)
        current = schema_revision(connection)
        if current is None and "feedstate" in sa.inspect(connection).get_table_names():
            command.stamp(config, BASELINE)
            current = BASELINE
        target = ScriptDirectory.from_config(config).as_revision_number(revision)
        if current != target:
            command.upgrade(config, revision)
            log.info("database schema upgraded from %s to %s", current or "nothing", target)


_REVISION = re.compile(r"^revision(?::[^=]*)? = [\"']([^\"']+)[\"']", re.M)
_DOWN = re.compile(r"^down_revision(?::[^=]*)? = (?:None|[\"']([^\"']+)[\"'])\s*$", re.M)


@functools.cache
def head_revision() -> str | None:
    """The packaged migrations' head, read from the files' `revision` / `down_revision` lines (what
    Alembic's ScriptDirectory finds); None when they are not one plain chain (then Alembic decides)."""
    revisions, parents = set(), set()
    for path in (MIGRATIONS / "versions").glob("[0-9]*.py"):
        text = path.read_text(encoding="utf-8")
        revision, down = _REVISION.search(text), _DOWN.search(text)
        if revision is None or down is None:
            return None
        revisions.add(revision.group(1))
        if down.group(1):
            parents.add(down.group(1))
    heads = revisions - parents
    return heads.pop() if len(heads) == 1 and parents <= revisions else None


SNAPSHOT = MIGRATIONS / "sqlite_head.sql"  # the schema the migrations make on SQLite, statement by statement
_SNAPSHOT_REVISION = re.compile(r"\A-- revision: (\S+)\n")


def schema_statements(connection: sa.Connection) -> list[str]:
    """A SQLite database's schema as the statements that made it, in order (sqlite_master)."""
    found = connection.exec_driver_sql("SELECT sql FROM sqlite_master WHERE sql IS NOT NULL ORDER BY rowid")
    return [row[0] for row in found]


def write_snapshot(engine: sa.Engine) -> None:
    """Write SNAPSHOT from an empty SQLite database, brought to head by the migrations (after a new
    migration: `python -c 'from monitor import db; db.write_snapshot(db.make_engine("sqlite://"))'`)."""
    upgrade(engine, head_revision() or "head")  # a revision named: the migrations run, not the snapshot
    with engine.connect() as connection:
        statements = schema_statements(connection)
        revision = schema_revision(connection)
    body = "".join(f"{statement};\n" for statement in statements)
    SNAPSHOT.write_text(f"-- revision: {revision}\n{body}", encoding="utf-8")


def create_from_snapshot(engine: sa.Engine) -> bool:
    """Give a SQLite database with no tables at all the schema at head from SNAPSHOT, stamped at head,
    without loading Alembic (0.15 s of a first start); False (nothing done) when the database is not
    SQLite or not empty, or the snapshot is not of the packaged head (then the migrations run).
    `tests/test_migrations.py` shows the snapshot is what the migrations make."""
    if engine.dialect.name != "sqlite" or not SNAPSHOT.is_file():
        return False
    text = SNAPSHOT.read_text(encoding="utf-8")
    stamped = _SNAPSHOT_REVISION.match(text)
    if stamped is None or stamped.group(1) != head_revision():
        return False
    with engine.begin() as connection:
        # two first starts on one file: the second waits here, then sees the tables
        connection.exec_driver_sql("BEGIN IMMEDIATE")
        if schema_statements(connection):
            return False
        for statement in text[stamped.end() :].split(";\n"):
            if statement.strip():
                connection.exec_driver_sql(statement)
        connection.execute(
            sa.text("INSERT INTO alembic_version (version_num) VALUES (:v)"), {"v": stamped.group(1)}
        )
    log.info("database schema created at %s", stamped.group(1))
    return True


def at_head(engine: sa.Engine) -> bool:
    """True when the database's alembic_version holds the packaged head and nothing else."""
    head = head_revision()
    if head is None:
        return False
    with engine.connect() as connection:
        if not sa.inspect(connection).has_table("alembic_version"):
            return False
        found = connection.execute(sa.text("SELECT version_num FROM alembic_version")).scalars().all()
    return list(found) == [head]


def exclusive(target: Session | sa.Connection, name: str) -> None:
    """Hold a PostgreSQL advisory lock named `name` until the transaction ends, so instances take turns.

    SQLite needs none: one instance per file (InstanceLock), and writers are serialized anyway.
    """
    connection = target.connection() if isinstance(target, Session) else target
    if connection.dialect.name == "postgresql":
        connection.execute(
            sa.text("SELECT pg_advisory_xact_lock(hashtext(:name))"), {"name": f"monitor:{name}"}
        )
