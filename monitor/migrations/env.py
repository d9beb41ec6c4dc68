"""Alembic environment: runs on the connection `monitor.db.upgrade()` hands over (never a URL of its own)."""

from __future__ import annotations

from alembic import context
from sqlmodel import SQLModel

import monitor.models  # noqa: F401  (registers the tables on SQLModel.metadata)


def run_migrations_online() -> None:
    """Migrate on the connection in config.attributes; SQLite alters tables in batch mode."""
    connection = context.config.attributes.get("connection")
    if connection is None:
        raise RuntimeError("run migrations through monitor.db.upgrade() or `monitor db upgrade`")
    context.configure(
        connection=connection,
        target_metadata=SQLModel.metadata,
        render_as_batch=connection.dialect.name == "sqlite",
        compare_type=True,
    )
    with context.begin_transaction():
        context.run_migrations()


if context.is_offline_mode():
    raise RuntimeError("offline (--sql) migrations are not supported; use `monitor db upgrade`")
run_migrations_online()
