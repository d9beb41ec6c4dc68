"""Alembic migrations of the monitor schema, run by `monitor.db.upgrade()` (`monitor db upgrade`)."""
