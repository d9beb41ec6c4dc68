"""Property: the indexed Matcher returns exactly what evaluating every rule returns."""

from __future__ import annotations

from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.query import (
    Hit,
    Matcher,
    Query,
    StemCounts,
    analyze_item,
    compile_query,
    index,
    stem_frequencies,
)

WORDS = ["peace", "deal", "Ukraine", "troops", "talks", "military", "meet", "UK", "sport", "NATO"]
FORMS = [*WORDS, "meeting", "militaries", "Ukrainian", "deals", "U.K.", "NATO’s", "peaceful", "sports"]
FIELDS = ["title", "summary", "content", "author", "category"]
ALIASES = {"UK": ["Britain", "United Kingdom"], "troops": ["soldiers"]}

words = st.sampled_from(WORDS)
leaf = st.one_of(
    words,
    st.builds(lambda ws: '"' + " ".join(ws) + '"', st.lists(words, min_size=2, max_size=3)),
    st.builds(
        lambda ws, n: '"' + " ".join(ws) + f'"~{n}',
        st.lists(words, min_size=2, max_size=3),
        st.integers(0, 3),
    ),
    st.builds(lambda w, k: w.lower()[:k] + "*", words, st.integers(2, 5)),
    st.builds(lambda f, w: f"{f}:{w}", st.sampled_from(FIELDS), words),
    st.just("/nato|sport.*/"),
)


def combine(children: st.SearchStrategy[str]) -> st.SearchStrategy[str]:
    """AND (explicit or implicit), OR, NOT, -, + and groups over smaller queries."""
    pair = st.tuples(children, children)
    return st.one_of(
        st.builds(lambda p: f"{p[0]} {p[1]}", pair),
        st.builds(lambda p: f"({p[0]} AND {p[1]})", pair),  # an explicit AND beside an OR is refused
        st.builds(lambda p: f"({p[0]} OR {p[1]})", pair),
        st.builds(lambda q: f"NOT {q}", children),
        st.builds(lambda q: f"-({q})", children),
        st.builds(lambda q: f"+({q})", children),
    )


queries = st.recursive(leaf, combine, max_leaves=6)
texts = st.lists(st.sampled_from([*FORMS, "and", "the", "Britain", "soldiers"]), max_size=20).map(" ".join)
items = st.fixed_dictionaries({f: texts for f in FIELDS})


def every_rule(rules: dict[str, Query], fields: dict[str, str]) -> dict[str, Hit]:
    """The reference: evaluate each rule on the item."""
    doc = analyze_item(fields)
    return {name: hit for name, q in rules.items() if (hit := q.evaluate(doc)) is not None}


@settings(max_examples=300, deadline=None)
@given(st.lists(queries, min_size=1, max_size=25), st.lists(items, min_size=1, max_size=4), st.booleans())
def test_indexed_matcher_equals_evaluating_every_rule(
    texts_: list[str], docs: list[dict[str, str]], alias: bool
) -> None:
    rules = {f"r{i}": compile_query(t, ALIASES if alias else None) for i, t in enumerate(texts_)}
    frequencies = stem_frequencies(analyze_item(fields) for fields in docs[1:])
    matchers = [Matcher(rules), Matcher(rules, frequencies), Matcher(rules, learning=StemCounts())]
    for fields in docs:
        expected = every_rule(rules, fields)
        for matcher in matchers:
            assert matcher.match(analyze_item(fields)) == expected


@settings(max_examples=200, deadline=None)
@given(queries, items)
def test_terms_point_into_the_item_text(text: str, fields: dict[str, str]) -> None:
    doc = analyze_item(fields)
    hit = compile_query(text).evaluate(doc)
    if hit is not None:
        for term in hit.terms:
            assert fields[term.field][term.start : term.end] == term.text
        snippet = hit.snippet(doc, width=60)
        assert len(snippet.text) <= 62
        written = {t.text for t in hit.terms}
        assert all(snippet.text[a:b] in written for a, b in snippet.spans)


def test_a_learning_matcher_posts_rules_under_the_words_it_found_rare_and_still_matches_the_same() -> None:
    """A long word the heuristic takes for rare ("international") is common in these items; "zinc" is rare.
    After 256 items the matcher re-posts the rule under its two rarest words: an item without "zinc"
    is no longer a candidate. Every item's result equals evaluating every rule, before and after, and a new matcher
    given the same counts (a reload) starts from what was learned."""
    rules = {
        "metal": compile_query("international trade zinc"),
        "talks": compile_query('"peace talks" OR ceasefire'),
        "other": compile_query("-sport"),
    }
    learning = StemCounts()
    matcher = Matcher(rules, learning=learning)
    common = {"title": "International news", "content": "An international meeting on trade"}
    assert matcher.candidates(analyze_item(common)) == [0, 2]  # heuristic: under "international", "trade"
    for n in range(300):
        fields = {
            "title": f"Story {n}",
            "content": "International peace talks" + (" on zinc" if n % 50 == 0 else ""),
        }
        assert matcher.match(analyze_item(fields)) == every_rule(rules, fields)
    assert learning.items == 300
    assert matcher.candidates(analyze_item(common)) == [2]  # learned: under "trade", "zinc"
    zinc = {"title": "Zinc", "content": "international trade in zinc"}
    assert list(matcher.match(analyze_item(zinc))) == ["metal", "other"]
    reloaded = Matcher(rules, learning=learning)
    assert reloaded.candidates(analyze_item(common)) == [2]


def test_stem_counts_forget_words_seen_once_when_full(monkeypatch) -> None:  # type: ignore[no-untyped-def]
    monkeypatch.setattr(index, "_MAX_STEMS", 50)
    counts = StemCounts()
    for n in range(30):
        counts.add(analyze_item({"title": f"peace talks number{n}"}))
    frequencies = counts.frequencies()
    assert frequencies["peac"] == 1.0 and frequencies["talk"] == 1.0
    assert len(frequencies) <= 50  # one-off numbers were dropped; unknown stems count as rare
