"""The lean start's fast paths return exactly what the plain paths return.

- rule fingerprints: `compare.fingerprint` (quick_canonical) hashes the same values as `canonical`
- `match.changed_rules`: exactly the rules whose stored fingerprint differs (or that are new)
- the YAML files composed by libyaml: the same nodes and positions, the same error locations
- `db.at_head` (the Alembic check skipped): tests/test_migrations.py
"""

from __future__ import annotations

import hashlib
import json
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import yaml
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session
from yaml.nodes import MappingNode, Node, ScalarNode

from monitor import db
from monitor.config import Config, RuleConfig, load_config, yamlnodes
from monitor.config.compare import canonical, fingerprint, quick_canonical
from monitor.match import applied_fingerprints, changed_rules, mark_applied
from monitor.query import QueryCompiler

WORDS = st.text(st.sampled_from("abcé \"'\\\u00e9x*"), min_size=1, max_size=8).filter(str.strip)


def plain_fingerprint(value: object) -> str:
    """The fingerprint as first written: json of `canonical` (the reference for the quick one)."""
    text = json.dumps(canonical(value, fingerprint_only=True), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(text.encode()).hexdigest()[:16]


@st.composite
def rules(draw: st.DrawFn) -> RuleConfig:
    aliases = draw(
        st.dictionaries(st.sampled_from(["ukraine", "un", "nato", "eu"]), st.lists(WORDS, max_size=3))
    )
    words = draw(
        st.lists(st.sampled_from(["ukraine", "troops", "nato", "talks", "peace"]), min_size=1, max_size=3)
    )
    query = QueryCompiler(aliases).compile(" ".join(words))
    return RuleConfig(
        name=draw(WORDS),
        match=query.text,
        query=query,
        feeds=frozenset(draw(st.lists(WORDS, max_size=4))),
        alert=tuple(draw(st.lists(WORDS, max_size=3))),
        digest=draw(st.none() | st.just("0 8 * * mon-fri")),
        lookback=timedelta(seconds=draw(st.integers(0, 10**7))),
        enabled=draw(st.booleans()),
        examples=tuple(draw(st.lists(WORDS, max_size=2))),
    )


@settings(max_examples=300, suppress_health_check=[HealthCheck.too_slow])
@given(rules())
def test_the_quick_fingerprint_is_the_plain_one(rule: RuleConfig) -> None:
    assert quick_canonical(rule, True) == canonical(rule, fingerprint_only=True)
    assert quick_canonical(rule) == canonical(rule)
    assert fingerprint(rule) == plain_fingerprint(rule) == rule.fingerprint


def test_the_quick_canonical_falls_back_for_other_types(tmp_path: Path) -> None:
    values = [tmp_path, {"b": 1, "a": [tmp_path]}, ((1, [2]),), {1.5, 2.5}, (("a", ("b",)),) * 2]
    for value in values:
        assert quick_canonical(value) == canonical(value)


def _config(root: Path, rules: list[str]) -> Config:
    (root / "rules").mkdir(exist_ok=True)
    (root / "rules" / "r.yaml").write_text(
        "rules:\n" + "".join(f"  - {r}\n" for r in rules), encoding="utf-8"
    )
    return load_config(root / "rules", root / "alerts" / "channels.yaml", {})


def test_changed_rules_are_exactly_those_whose_plain_fingerprint_differs(tmp_path: Path) -> None:
    engine = db.make_engine(f"sqlite:///{tmp_path}/m.db")
    db.upgrade(engine)
    now = datetime(2026, 12, 3, 12, 0, tzinfo=UTC)
    before = [f"{{name: r{i}, match: 'word{i} other'}}" for i in range(12)]
    old = _config(tmp_path, before)
    with Session(engine) as session:
        assert [r.name for r in changed_rules(session, old)] == list(old.rules)  # all new
        mark_applied(session, list(old.rules.values()), now, applied_fingerprints(session))
        session.commit()
        assert changed_rules(session, old) == []
    after = list(before)
    after[1] = "{name: r1, match: 'word1 changed'}"
    after[2] = "{name: r2, match: 'word2 other', lookback: 2h}"
    after[3] = "{name: r3, match: 'word3 other', examples: {match: ['word3 other']}}"  # no change
    after[4] = "{name: r4, match: 'word4 changed', enabled: false}"  # disabled: no lookback
    after[5] = "{name: r5, match: 'word5 other', alert: [console]}"
    after.append("{name: r12, match: 'brand new'}")
    new = _config(tmp_path, after)
    stored = {r.name: plain_fingerprint(r) for r in old.rules.values()}
    expected = [
        r.name for r in new.rules.values() if r.enabled and stored.get(r.name) != plain_fingerprint(r)
    ]
    assert expected == ["r1", "r2", "r5", "r12"]
    with Session(engine) as session:
        known = applied_fingerprints(session)
        assert known == stored
        todo = changed_rules(session, new, known)
        assert [r.name for r in todo] == expected
        mark_applied(session, todo, now, known)
        session.commit()
        stored |= {r.name: plain_fingerprint(r) for r in todo}
        assert applied_fingerprints(session) == stored
        assert changed_rules(session, new) == []


def _tree(node: Node) -> object:
    """A node tree as plain values: tag, value, start line and column of every node (styles differ:
    libyaml writes '' where PyYAML writes None for a plain scalar)."""
    where = (node.tag, node.start_mark.line, node.start_mark.column, node.end_mark.line, node.end_mark.column)
    if isinstance(node, ScalarNode):
        return (*where, node.value, bool(node.style))
    if isinstance(node, MappingNode):
        return (*where, [(_tree(k), _tree(v)) for k, v in node.value])
    return (*where, [_tree(item) for item in node.value])


SAMPLES = [
    Path(__file__).parents[1] / "monitor" / "sample" / "rules" / "watch.yaml",
    Path(__file__).parents[1] / "monitor" / "sample" / "alerts" / "channels.yaml",
]


def test_the_c_loader_composes_the_nodes_of_the_python_loader(tmp_path: Path) -> None:
    """yamlnodes composes with libyaml (CSafeLoader) when it is there: the same nodes, tags and
    positions as the pure-Python SafeLoader, so every file:line:col is the same."""
    assert yamlnodes._FAST_LOADER is getattr(yaml, "CSafeLoader", yaml.SafeLoader)
    generated = tmp_path / "many.yaml"
    generated.write_text(
        "feeds:\n  - {name: a, url: 'x.xml', tags: [t1, \"t 2\"]}\nrules:\n"
        + "".join(f'  - name: r{i}\n    match: "w{i} (x OR y)"\n    lookback: {i}h\n' for i in range(50))
        + "aliases: &al\n  UK: [UK, Britain]\nother: *al\n",
        encoding="utf-8",
    )
    for path in [*SAMPLES, generated]:
        text = path.read_text(encoding="utf-8")
        fast = yaml.compose(text, Loader=yamlnodes._FAST_LOADER)
        slow = yaml.compose(text, Loader=yaml.SafeLoader)
        assert _tree(fast) == _tree(slow), path


@pytest.mark.parametrize(
    "text",
    [
        "rules:\n  - {name: a, match: 'x'\n",
        "rules:\n\t- a\n",
        "a: b: c\n",
        "a: &x [*x, 1]\nb: *y\n",
        "- 'x' y\n",
    ],
)
def test_a_file_libyaml_refuses_is_reported_where_the_python_parser_says(tmp_path: Path, text: str) -> None:
    """A syntax error found by libyaml is worded and placed by the pure-Python parser (`_syntax_error`),
    so the C loader changes no error location."""
    path = tmp_path / "bad.yaml"
    path.write_text(text, encoding="utf-8")
    fast, slow = yamlnodes.Report(), yamlnodes.Report()
    yamlnodes.compose_file(path, yamlnodes.Source(str(path), fast))
    slow_src = yamlnodes.Source(str(path), slow)
    yamlnodes._syntax_error(text, slow_src)
    assert [str(e) for e in fast.errors] == [str(e) for e in slow.errors] != []
