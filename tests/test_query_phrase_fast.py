"""Property: an exact phrase's test (one substring search of the item's joined stems) says what the
plain token scan says, in every scope (the index's shortcuts: tests/test_query_index.py)."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.query.analyze import FIELDS, Document, analyze_item
from monitor.query.nodes import PhraseNode

WORDS = ["peace", "deal", "talks", "peace", "the", "U.K.", "1,000", "deals", "-", "\n", "x_y", "—"]
texts = st.lists(st.sampled_from(WORDS), max_size=12).map(" ".join)
items = st.fixed_dictionaries({f: texts for f in FIELDS})
phrases = st.lists(
    st.sampled_from(["peac", "deal", "talk", "the", "uk", "1000", "x", "y"]), min_size=1, max_size=3
)
scopes = st.sampled_from([None, *range(len(FIELDS))])


@settings(max_examples=500, deadline=None)
@given(items, phrases, scopes)
def test_an_exact_phrase_is_found_by_the_substring_search_as_by_the_scan(
    fields: dict[str, str], stems: list[str], scope: int | None
) -> None:
    doc = analyze_item(fields)
    node = PhraseNode(tuple(stems), 0, scope)
    assert node.test(doc) == bool(node._spans(doc, first_only=True))


def test_a_stem_holding_the_separators_falls_back_to_the_scan() -> None:
    empty = ((), True)
    for odd in ("a\0b", "a\1b", "\1"):
        analysis = (((odd, "c"), True), empty, empty, empty, empty, empty, empty)
        doc = Document(("x",) * len(FIELDS), analysis)
        assert doc.joined(None) is None
        assert not PhraseNode(("a", "b"), 0, None).test(doc)
        assert PhraseNode((odd, "c"), 0, None).test(doc)
    two = ((("a",), True), (("b",), True), empty, empty, empty, empty, empty)
    doc = Document(("x",) * len(FIELDS), two)
    assert doc.joined(None) == "\0a\0\1\0b\0"
    assert not PhraseNode(("a", "b"), 0, None).test(doc)  # never across fields
