"""A cache of compiled queries in the data folder, so an unchanged rules file is not compiled again.

The file (`compiled-queries.json` beside the SQLite database) is JSON, never pickle: reading it can
only build the plain node classes of `nodes.py` from strings, numbers and lists. Its header holds a
format number and a hash of everything that decides a compiled form: the monitor version, the source
of the query modules (parser, analyzer, nodes, fold), the stemmer's version and the alias table.
Each entry is keyed by the query text; an edited query misses and is compiled again, and the file is
rewritten (atomically: a temporary file, then a rename) when anything was missing or unused.
A missing, corrupt or foreign file is ignored and rebuilt; deleting it is always safe. Queries with a
regular expression (`/re/`, inner wildcards) are never cached: their RE2 pattern is compiled fresh.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib.metadata
import json
import logging
import os
import tempfile
import unicodedata
from pathlib import Path
from typing import Any

from monitor import __version__
from monitor.config import files
from monitor.query.compile import Aliases, Query, QueryCompiler
from monitor.query.nodes import AndNode, Node, NotNode, OrNode, PatternNode, PhraseNode, WordsNode

log = logging.getLogger("monitor.query.cache")

FORMAT = 1
FILENAME = "compiled-queries.json"
MAX_BYTES = 256 * 2**20  # a file larger than this is not read (100,000 rules take about 20 MB)
_SOURCES = ("analyze.py", "compile.py", "nodes.py", "syntax.py", "cache.py", "../textfold.py")


class Unsupported(Exception):
    """A node the cache does not store (a compiled regular expression)."""


def cache_path(db_url: str) -> Path | None:
    """The cache file beside a SQLite database file; None for other databases and in-memory SQLite."""
    prefix = "sqlite:///"
    if not db_url.startswith(prefix):
        return None
    file = db_url[len(prefix) :].split("?", 1)[0]
    if not file or file == ":memory:":
        return None
    return Path(file).parent / FILENAME


def code_hash() -> str:
    """A hash of the code that turns a query or an item's text into stems (an edit of it is a new
    compiled form): these sources, the stemmer's version and the Unicode tables folding uses."""
    digest = hashlib.sha256(f"{FORMAT}\0{__version__}\0{unicodedata.unidata_version}\0".encode())
    here = Path(__file__).parent
    for name in _SOURCES:
        digest.update((here / name).read_bytes())
    with contextlib.suppress(importlib.metadata.PackageNotFoundError):
        digest.update(importlib.metadata.version("PyStemmer").encode())
    return digest.hexdigest()


def encode(node: Node) -> list[Any]:
    """A node as JSON-able lists; Unsupported for a compiled regular expression."""
    if isinstance(node, WordsNode):
        return ["w", sorted(node.stems), node.scope, node.every]
    if isinstance(node, PhraseNode):
        return ["p", list(node.stems), node.slop, node.scope]
    if isinstance(node, PatternNode):
        if node.regex is not None:
            raise Unsupported
        return ["x", node.prefix, node.scope]
    if isinstance(node, AndNode | OrNode):
        return ["a" if isinstance(node, AndNode) else "o", [encode(c) for c in node.children]]
    if isinstance(node, NotNode):
        return ["n", encode(node.child)]
    raise Unsupported


def _strs(value: Any) -> list[str]:
    if not isinstance(value, list) or not all(isinstance(s, str) for s in value):
        raise ValueError("expected a list of strings")
    return value


def _scope(value: Any) -> int | None:
    if value is None or (type(value) is int and value >= 0):
        return value
    raise ValueError("expected a field index")


def decode(data: Any) -> Node:
    """The node of `encode`'s output; ValueError for anything else."""
    if not isinstance(data, list) or not data:
        raise ValueError("expected a node")
    kind, args = data[0], data[1:]
    if kind == "w" and len(args) == 3 and type(args[2]) is bool:
        return WordsNode(frozenset(_strs(args[0])), _scope(args[1]), args[2])
    if kind == "p" and len(args) == 3 and type(args[1]) is int:
        return PhraseNode(tuple(_strs(args[0])), args[1], _scope(args[2]))
    if kind == "x" and len(args) == 2 and isinstance(args[0], str):
        return PatternNode(args[0], None, _scope(args[1]))
    if kind in ("a", "o") and len(args) == 1 and isinstance(args[0], list):
        children = tuple(decode(c) for c in args[0])
        return AndNode(children) if kind == "a" else OrNode(children)
    if kind == "n" and len(args) == 1:
        return NotNode(decode(args[0]))
    raise ValueError(f"unknown node {kind!r}")


class CachedCompiler(QueryCompiler):
    """A QueryCompiler that answers from the cache file when it can; `save()` writes what it learned."""

    def __init__(self, path: Path, aliases: Aliases | None = None) -> None:
        super().__init__(aliases)
        self.path = path
        self.header = hashlib.sha256(f"{code_hash()}\0{json.dumps(self._key)}".encode()).hexdigest()
        self._stored = self._read()
        self._used: dict[str, list[Any]] = {}
        self.hits = self.misses = 0

    def _read(self) -> dict[str, Any]:
        if not self.path.exists():
            return {}
        try:
            data = json.loads(files.read_bytes(self.path, MAX_BYTES))  # a regular file only: never blocks
        except (files.Unreadable, ValueError) as exc:
            log.debug("compiled query cache %s unreadable (%s): rebuilt", self.path, exc)
            return {}
        if not isinstance(data, dict) or data.get("format") != FORMAT or data.get("key") != self.header:
            return {}
        queries = data.get("queries")
        return queries if isinstance(queries, dict) else {}

    def compile(self, text: str) -> Query:
        """The compiled query, from the cache when its entry decodes, else compiled (and remembered)."""
        stored = self._stored.get(text)
        if stored is not None:
            try:
                query = Query(text, self._key, decode(stored))
            except (ValueError, TypeError, RecursionError):
                pass
            else:
                self.hits += 1
                self._used[text] = stored
                return query
        query = super().compile(text)  # a syntax error is raised here, and never cached
        self.misses += 1
        with contextlib.suppress(Unsupported):
            self._used[text] = encode(query.root)
        return query

    def save(self) -> None:
        """Write the entries this load used, unless the file already holds exactly those."""
        if self.misses == 0 and self._used.keys() == self._stored.keys():
            return
        body = json.dumps(
            {"format": FORMAT, "key": self.header, "queries": self._used}, separators=(",", ":")
        )
        try:
            write_atomically(self.path, body.encode())
        except OSError as exc:
            log.debug("compiled query cache %s not written: %s", self.path, exc)


def write_atomically(path: Path, data: bytes) -> None:
    if not path.parent.is_dir():
        return  # no data folder yet: the next run (after the database made it) writes the cache
    fd, tmp = tempfile.mkstemp(prefix=f".{path.name}.", dir=path.parent)
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
        os.replace(tmp, path)
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmp)
        raise
