"""The lean start's fast paths return exactly what the plain paths return.

- rule fingerprints: `compare.fingerprint` (quick_canonical) hashes the same values as `canonical`
- `match.changed_rules`: exactly the rules whose stored fingerprint differs (or that are new)
"""

from __future__ import annotations

import hashlib
import json
from datetime import timedelta
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor.config import RuleConfig
from monitor.config.compare import canonical, fingerprint, quick_canonical
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
