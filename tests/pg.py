"""A fresh PostgreSQL database per test on the local server (127.0.0.1:5432, trust auth).

    from pg import fresh_database

    @pytest.fixture
    def pg_url() -> Iterator[str]:
        with fresh_database() as url:
            yield url                       # postgresql://postgres@127.0.0.1:5432/monitor_test_1a2b3c4d

The server is reached as `postgres`, else as `root` (MONITOR_TEST_PG overrides the admin URL). When it
cannot be reached the test is skipped with the reason, except under CI (the CI variable set), where
a missing server is a failure: CI starts PostgreSQL and must not pass by skipping.
"""

from __future__ import annotations

import os
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import psycopg
import pytest
import sqlalchemy as sa

from monitor import db

ADMIN_URLS = (
    "postgresql://postgres@127.0.0.1:5432/test",
    "postgresql://root@127.0.0.1:5432/test",
    "postgresql://postgres@127.0.0.1:5432/postgres",
    "postgresql://root@127.0.0.1:5432/postgres",
)


def admin_url() -> str:
    """The first admin URL that connects; skip (or fail under CI) when none does."""
    candidates = [os.environ["MONITOR_TEST_PG"]] if os.environ.get("MONITOR_TEST_PG") else list(ADMIN_URLS)
    errors = []
    for url in candidates:
        try:
            with psycopg.connect(url, connect_timeout=3):
                return url
        except psycopg.Error as exc:
            errors.append(f"{url}: {str(exc).strip().splitlines()[0]}")
    reason = "PostgreSQL is not reachable (" + "; ".join(errors) + ")"
    if os.environ.get("CI"):
        pytest.fail(reason + " and CI is set: CI must run the PostgreSQL tests", pytrace=False)
    pytest.skip(reason)


@contextmanager
def fresh_database() -> Iterator[str]:
    """Create an empty database `monitor_test_<random>`, yield its URL, drop it afterwards."""
    admin = admin_url()
    name = f"monitor_test_{uuid.uuid4().hex[:12]}"
    with psycopg.connect(admin, autocommit=True) as conn:
        conn.execute(f'CREATE DATABASE "{name}"')
    try:
        yield admin.rsplit("/", 1)[0] + "/" + name
    finally:
        with psycopg.connect(admin, autocommit=True) as conn:
            conn.execute(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


@contextmanager
def empty_engine(kind: str, folder: Path) -> Iterator[sa.Engine]:
    """An engine on an empty database of `kind`: "sqlite" (a file in `folder`) or "postgresql"."""
    if kind == "sqlite":
        engine = db.make_engine(f"sqlite:///{folder / 'monitor.db'}")
        yield engine
        engine.dispose()
        return
    with fresh_database() as url:
        engine = db.make_engine(url)
        try:
            yield engine
        finally:
            engine.dispose()


BACKENDS = ["sqlite", pytest.param("postgresql", marks=pytest.mark.postgres)]
