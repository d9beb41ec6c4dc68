"""What the analyzer learned of the text it saw, kept in the data folder so a fresh process starts warm.

`analyze_text` looks each chunk of text ("said,", "(BBC)", "U.S.-led") up in a cache of its stems;
a chunk seen for the first time costs a regular expression, the folding and the stemmer. A fresh
`run --once` over 2,125 articles spends 0.74 s of analysis with the caches cold against 0.19 s warm.
So the parse workers keep them in `stem-cache.json` beside the SQLite database:

- the fork server reads the file once (`monitor.forkserverwarm`), so every worker it forks starts
  with the chunks already known;
- a worker that ends normally (a daemon's stop, the end of `run --once`) adds what it learned to the
  file when that is at least `MIN_NEW` chunks: under a lock (`stem-cache.json.lock`) it reads the
  file, adds its own entries and writes the whole atomically (a temporary file, then a rename), so two
  workers that each parsed a piece of one feed leave both pieces' chunks.

The file is JSON, never pickle, under a header hashing the analyzer's code, the stemmer's version and
the Unicode tables (`cache.code_hash`): a file of another version is ignored. Its entries are typed
on reading; a missing, corrupt or foreign file is ignored and rebuilt, and deleting it is always safe.
It changes no result, only the time to reach it (tests/test_stemcache.py).
"""

from __future__ import annotations

import fcntl
import itertools
import json
import logging
import os
from pathlib import Path
from typing import Any

from monitor.config import files
from monitor.query import analyze
from monitor.query.cache import cache_path, code_hash, write_atomically

log = logging.getLogger("monitor.query.stemcache")

FORMAT = 1
FILENAME = "stem-cache.json"
ENV = "MONITOR_STEM_CACHE"  # the file's path, for the fork server and its workers (set by parsepool)
MIN_NEW = 200  # chunks a worker must have learned before it rewrites the file
MAX_BYTES = 64 * 1024 * 1024  # a file larger than this is not read (the caches' limit is far below)

Tables = tuple[dict[str, str], dict[str, list[str]], list[str]]  # the file's: one stem, several, split

_loaded = 0  # chunks known when the file was read (or 0): a save writes only when this grew enough


def path_for(db_url: str) -> Path | None:
    """The file beside a SQLite database file; None for other databases and in-memory SQLite."""
    found = cache_path(db_url)
    return None if found is None else found.with_name(FILENAME)


def _known() -> int:
    one, many, _ = analyze.chunk_caches()
    return len(one) + len(many)


def load(path: Path) -> bool:
    """Teach the analyzer the chunks of the file at `path`; whether it held any (else it is ignored)."""
    global _loaded
    tables = _read(path)
    if tables is None:
        return False
    analyze.learn_chunks(*tables)
    _loaded = _known()
    return True


def _read(path: Path) -> Tables | None:
    """The file's tables; None for a missing, unreadable, corrupt or foreign file."""
    if not path.exists():
        return None
    try:
        return _entries(json.loads(files.read_bytes(path, MAX_BYTES)))  # a regular file only: never blocks
    except (files.Unreadable, ValueError, TypeError, RecursionError) as exc:
        log.debug("stem cache %s ignored (%s): rebuilt", path, exc)
        return None


def _entries(data: Any) -> Tables:
    """The file's three tables, checked; ValueError for another version's file or anything malformed."""
    if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != code_hash():
        raise ValueError("another version's file")
    one, many, split = data.get("one"), data.get("many"), data.get("split")
    if not isinstance(one, dict) or not all(isinstance(v, str) for v in one.values()):
        raise ValueError("bad one-stem table")
    if not isinstance(many, dict) or not all(
        isinstance(v, list) and all(isinstance(s, str) for s in v) for v in many.values()
    ):
        raise ValueError("bad many-stems table")
    if not isinstance(split, list) or not all(isinstance(s, str) for s in split):
        raise ValueError("bad split list")
    return one, many, split


def save(path: Path, *, min_new: int = MIN_NEW) -> bool:
    """Add what the analyzer learned to the file at `path`, when it learned `min_new` chunks since
    `load`; whether it wrote. The file's other entries are kept (each parse worker of a feed parsed in
    pieces saw only its piece), up to the caches' limit; workers ending together take turns (a lock
    file beside it)."""
    if _known() - _loaded < min_new:
        return False
    one, many, split = analyze.chunk_caches()
    try:
        with open(path.with_name(path.name + ".lock"), "a") as lock:
            fcntl.flock(lock, fcntl.LOCK_EX)
            found = _read(path)
            if found is not None:
                one, many, split = _merged(found, (one, many, split))
            body = json.dumps(
                {"format": FORMAT, "key": code_hash(), "one": one, "many": many, "split": sorted(split)},
                separators=(",", ":"),
                ensure_ascii=False,
            )
            write_atomically(path, body.encode())
    except OSError as exc:
        log.debug("stem cache %s not written: %s", path, exc)
        return False
    return True


def _merged(stored: Tables, known: analyze.ChunkCaches) -> analyze.ChunkCaches:
    """The file's entries and the analyzer's (its own win: they are the same analysis), within the limit."""
    one, many, split = known
    room = analyze.CHUNK_LIMIT - len(one) - len(many)
    extra_one = dict(itertools.islice(((c, s) for c, s in stored[0].items() if c not in one), max(room, 0)))
    room -= len(extra_one)
    extra_many = dict(
        itertools.islice(((c, tuple(s)) for c, s in stored[1].items() if c not in many), max(room, 0))
    )
    return {**extra_one, **one}, {**extra_many, **many}, split | set(stored[2])


def from_environment() -> Path | None:
    """The file named by the environment (`ENV`), for the fork server and the workers."""
    value = os.environ.get(ENV)
    return Path(value) if value else None
