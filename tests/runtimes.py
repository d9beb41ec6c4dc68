"""The one way tests build a Runtime: a migrated database and the generation of a rules folder."""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path

from monitor import db
from monitor.config import load_config
from monitor.query import StemCounts
from monitor.runtime import Active, Runtime


def open_runtime(
    db_url: str,
    rules: Path,
    channels: Path,
    env: Mapping[str, str] | None = None,
    learning: StemCounts | None = None,
) -> Runtime:
    """The Runtime of the config in `rules` and `channels` over the database at `db_url` (upgraded)."""
    engine = db.make_engine(db_url)
    db.upgrade(engine)
    return Runtime(engine, Active.build(load_config(rules, channels, env), learning))
