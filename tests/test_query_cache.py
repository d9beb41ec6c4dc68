"""The compiled-query cache returns exactly what a fresh compile returns, and never trusts a bad file."""

from __future__ import annotations

import random
from pathlib import Path
from typing import Any

import yaml

from monitor.config import load_config
from monitor.errors import QuerySyntaxError
from monitor.query import QueryCompiler
from monitor.query.cache import FILENAME, CachedCompiler, Unsupported, cache_path, encode

DATA = Path(__file__).parent / "data"
SAMPLE = Path(__file__).resolve().parents[1] / "monitor" / "sample"
ALIASES = {"UK": ["United Kingdom", "Britain"], "US": ["U.S.", "United States"]}


def _shape(query: Any) -> Any:
    """A compiled query as comparable values: its text, aliases and the node tree with its classes."""
    try:
        return (query.text, query.aliases, encode(query.root))
    except Unsupported:
        return (query.text, query.aliases, "regex", type(query.root).__name__)


def _queries() -> list[str]:
    cases = yaml.safe_load((DATA / "queries.yaml").read_text(encoding="utf-8"))
    texts = [c["query"] for c in cases if "error" not in c]
    sample = yaml.safe_load((SAMPLE / "rules" / "watch.yaml").read_text(encoding="utf-8"))
    texts += [r["match"] for r in sample.get("rules", [])]
    rng = random.Random(7)
    words = ["ukraine", "UK", "election", "prices", "café", "U.S.-led", "running", "talks", "nato*"]
    for _ in range(300):  # generated rules: words, phrases, OR groups, fields, NOT, prefixes
        picked = rng.sample(words, rng.choice((1, 2, 3)))
        shapes = [
            " ".join(picked),
            f'"{" ".join(picked)}"~{rng.randint(0, 3)}',
            f"({' OR '.join(picked)}) -sport",
            f"title:{picked[0]} {' '.join(picked[1:])}",
        ]
        texts.append(rng.choice(shapes))
    return list(dict.fromkeys(texts))


def _compile_all(compiler: QueryCompiler, texts: list[str]) -> list[Any]:
    shapes = []
    for text in texts:
        try:
            shapes.append(_shape(compiler.compile(text)))
        except QuerySyntaxError as exc:
            shapes.append(("error", exc.col, exc.message))
    return shapes


def test_cached_compile_equals_fresh_compile(tmp_path: Path) -> None:
    texts = _queries()
    fresh = _compile_all(QueryCompiler(ALIASES), texts)
    first = CachedCompiler(tmp_path / FILENAME, ALIASES)
    assert _compile_all(first, texts) == fresh
    first.save()
    second = CachedCompiler(tmp_path / FILENAME, ALIASES)
    assert _compile_all(second, texts) == fresh
    assert second.hits > len(texts) // 2 and second.misses == sum(
        1 for s in fresh if s[2] == "regex" or s[0] == "error"
    )


def test_other_aliases_are_a_foreign_cache(tmp_path: Path) -> None:
    texts = _queries()
    cached = CachedCompiler(tmp_path / FILENAME, ALIASES)
    _compile_all(cached, texts)
    cached.save()
    other = CachedCompiler(tmp_path / FILENAME, {"UK": ["England"]})
    assert _compile_all(other, texts) == _compile_all(QueryCompiler({"UK": ["England"]}), texts)
    assert other.hits == 0


def test_a_corrupt_cache_is_rebuilt(tmp_path: Path) -> None:
    path = tmp_path / FILENAME
    texts = _queries()[:50]
    fresh = _compile_all(QueryCompiler(), texts)
    for junk in [b"\x00\xffnot json", b"[]", b'{"format": 1, "key": "x", "queries": {}}']:
        path.write_bytes(junk)
        compiler = CachedCompiler(path, None)
        assert _compile_all(compiler, texts) == fresh and compiler.hits == 0
        compiler.save()
        assert _compile_all(CachedCompiler(path, None), texts) == fresh
    # a well-formed header with tampered entries: each bad entry is compiled again
    compiler = CachedCompiler(path, None)
    _compile_all(compiler, texts)
    text = path.read_text()
    path.write_text(text.replace('["w",', '["w",7,', 3).replace('"p"', '"zz"'))
    assert _compile_all(CachedCompiler(path, None), texts) == fresh


def _project(root: Path, query: str) -> tuple[Path, Path]:
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "r.yaml").write_text(
        f"feeds:\n  - {{name: f, url: 'https://example.org/f.xml'}}\nrules:\n  - {{name: r, match: '{query}'}}\n"
    )
    (root / "alerts").mkdir(exist_ok=True)
    (root / "alerts" / "channels.yaml").write_text("channels:\n  console: {type: console}\n")
    return root / "rules", root / "alerts" / "channels.yaml"


def test_an_edited_rules_file_is_compiled_again(tmp_path: Path) -> None:
    cache = tmp_path / FILENAME
    rules, channels = _project(tmp_path, "ukraine talks")
    first = load_config(rules, channels, cache=cache)
    assert cache.exists()
    assert load_config(rules, channels, cache=cache) == first
    rules, channels = _project(tmp_path, '"peace talks" -sport')
    edited = load_config(rules, channels, cache=cache)
    plain = load_config(rules, channels)
    assert edited == plain and _shape(edited.rules["r"].query) == _shape(plain.rules["r"].query)
    assert "peace talks" in cache.read_text() and "ukraine" not in cache.read_text()


def test_the_cache_lives_beside_a_sqlite_file_only() -> None:
    assert cache_path("sqlite:///data/monitor.db") == Path("data") / FILENAME
    assert cache_path("sqlite:///:memory:") is None
    assert cache_path("postgresql://u@h/db") is None
