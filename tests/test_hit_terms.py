"""The cheaper hit terms return exactly what the plain path returns: match rows of `match_items` (token
ranges, matched words found without offsets) against the rows main stored before (char offsets and
matched words from Terms made the plain way: every span collected, each Term made anew, offsets by
the regular expression, positions by a plain scan of the tokens), compared as a user sees them (the
matched words, the Terms a row points at, the snippets cut from them), with and without the parse
worker's analysis; the chunk offsets (`_Chunks`) against the regex offsets, cold caches too; the
promised positions against the full index."""

from __future__ import annotations

from datetime import UTC, datetime
from types import SimpleNamespace
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.entrytext import entry_analysis
from monitor.match import document_fields, match_id, match_items, snippet, where_terms
from monitor.query import Document, Matcher, analyze_item, compile_query
from monitor.query import analyze as analyze_mod
from monitor.query import hit as hit_mod
from monitor.query.analyze import FIELDS, _Chunks, fold
from monitor.query.hit import Term
from monitor.records import Entry
from monitor.store import item_row

NOW = datetime(2026, 1, 1, tzinfo=UTC)
words = st.sampled_from(
    [
        *(
            "peace",
            "talks",
            "deal",
            "Talks.",
            "U.K.",
            "U.S.-led",
            "1,000",
            "3.5",
            "don't",
            "NATO’s",
            "Zürich",
        ),
        *("-", "/", "—", "(BBC)", "“peace”", "well-known", "1.5bn", "ukraine", "Ukrainian", "x_y", "e.g."),
    ]
)
gaps = st.sampled_from([" ", " ", " ", "  ", "\n\n", "\t", "\xa0", "-", "/", " - ", "\r\n"])
texts = st.lists(st.tuples(words, gaps), max_size=25).map(lambda ps: "".join(w + g for w, g in ps))
RULES = [
    "peace talks",  # words only: the merged per-stem terms
    "deal",
    "peace OR deal",
    "title:talks deal",  # words only, two scopes
    "title:talks talks",  # one word in two scopes: its title tokens twice
    "talks peace talks",
    '"peace talks"',
    '"peace talks"~2 NOT ukraine',
    "ukrain* AND deal",
    "/nato|otan/",
    "(peace OR deal) AND title:talks",
    "feed:wire AND deal",
    "category:world",
    '"u.s. led"',
    "1000 OR 3.5",
    "well known",
    "NOT deal",
]


def config_of(feeds: dict[str, frozenset[str]]) -> Any:
    return SimpleNamespace(rules={name: SimpleNamespace(feeds=f) for name, f in feeds.items()})


def entry_of(title: str, summary: str, content: str, category: str, n: int = 0) -> Entry:
    return Entry(
        guid=f"g{n}",
        link=f"https://a.org/{n}",
        title=title,
        summary=summary,
        content=content,
        categories=(category,),
    )


def plain_ranges(doc: Document, node: Any) -> tuple[tuple[int, int], ...]:
    """A node's token ranges as main found them: every span collected, sorted, those inside another dropped."""
    spans: list[tuple[int, int]] = []
    node.collect(doc, spans)
    kept, reach = [], -1
    for first, last in sorted(set(spans), key=lambda s: (s[0], -s[1])):
        if last <= reach:
            continue
        reach = last
        kept.append((first, last))
    return tuple(kept)


def plain_term(doc: Document, first: int, last: int) -> Term:
    """The Term of a token range, made anew from its offsets."""
    field_id = doc.tok_field[first]
    start, end = doc.offsets(first, last)
    return Term(FIELDS[field_id], doc.texts[field_id][start:end], start, end)


def plain_matched(terms: tuple[Term, ...]) -> list[str]:
    """Matched words as main found them: each Term's text, distinct once folded, first seen first."""
    seen: dict[str, str] = {}
    for term in terms:
        seen.setdefault(fold(term.text), term.text)
    return list(seen.values())


def plain_occurrences(doc: Document, stem: str, scope: int | None) -> list[int]:
    """Every token of a stem in scope, by looking at each one (no memo, no index)."""
    return [t for t in doc._range(scope) if doc.tok_stem[t] == stem]


def plain_path(mp: pytest.MonkeyPatch) -> None:
    """Every speed trick of the hit terms off."""
    mp.setattr(hit_mod, "_ranges", plain_ranges)
    mp.setattr(hit_mod, "terms_at", lambda doc, ranges: tuple(plain_term(doc, *r) for r in ranges))
    mp.setattr(hit_mod, "_folded", fold)
    mp.setattr(_Chunks, "of", classmethod(lambda cls, text, tokens: None))
    mp.setattr(Document, "occurrences", plain_occurrences)
    mp.setattr(Document, "token_text", lambda doc, a, b: plain_term(doc, a, b).text)


def old_rows(config: Any, matcher: Matcher, items: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """The match rows as main stored them: char offsets and matched words of the plain path's Terms."""
    rows = []
    with pytest.MonkeyPatch.context() as mp:
        plain_path(mp)
        for item in items:
            for name, hit in matcher.match(analyze_item(document_fields(item))).items():
                if item["feed"] not in config.rules[name].feeds:
                    continue
                rows.append(
                    {
                        "id": match_id(name, item["id"]),
                        "rule": name,
                        "item_id": item["id"],
                        "link_key": item.get("link_key"),
                        "title_key": item.get("title_key") or item["id"],
                        "matched_terms": plain_matched(hit.terms),
                        "snippet": {"terms": [[t.field, t.start, t.end] for t in hit.terms]},
                        "created_at": NOW,
                    }
                )
    return rows


def as_seen(rows: list[dict[str, Any]], items: list[dict[str, Any]]) -> list[Any]:
    """What a user sees of match rows: every column but the stored snippet, the Terms it points at,
    the quotes cut around them (at two widths) and the matched words (`Hit.matched_terms` of them)."""
    by_id = {item["id"]: item for item in items}
    seen = []
    for row in rows:
        item = by_id[row["item_id"]]
        doc = analyze_item(document_fields(item))
        terms = where_terms(doc, row["snippet"])
        quotes = [snippet(item, row["snippet"], width) for width in (60, 240)]
        again = hit_mod.Hit(terms).matched_terms
        seen.append(({k: v for k, v in row.items() if k != "snippet"}, terms, quotes, again))
    return seen


@settings(max_examples=150, deadline=None)
@given(
    st.lists(st.tuples(texts, texts, texts, texts), min_size=1, max_size=4),
    st.sampled_from(["wire", "blog"]),
    st.booleans(),
)
def test_match_rows_are_the_plain_paths(fields: list[tuple[str, ...]], feed: str, learned: bool) -> None:
    queries = {f"r{i}": compile_query(text) for i, text in enumerate(RULES)}
    feeds = {name: frozenset({"wire"} if i % 3 == 0 else {"wire", "blog"}) for i, name in enumerate(queries)}
    frequencies = {"peac": 0.01, "talk": 0.5, "deal": 0.2} if learned else None
    config = config_of(feeds)
    entries = [entry_of(*f, n=n) for n, f in enumerate(fields)]
    rows = [item_row(feed, e, NOW) for e in entries]
    analyses = {row["id"]: entry_analysis(e) for row, e in zip(rows, entries, strict=True)}
    fast = match_items(config, Matcher(queries, frequencies), rows, NOW)
    fast_analysed = match_items(config, Matcher(queries, frequencies), rows, NOW, analyses)
    plain = old_rows(config, Matcher(queries, frequencies), rows)
    assert all("tokens" in row["snippet"] for row in fast)
    assert as_seen(fast, rows) == as_seen(plain, rows)
    assert as_seen(fast_analysed, rows) == as_seen(plain, rows)
    assert [r["matched_terms"] for r in fast] == [r["matched_terms"] for r in plain]


@settings(max_examples=150, deadline=None)
@given(texts, texts, st.sampled_from(RULES[:5]))
def test_word_terms_are_the_collected_terms(title: str, content: str, rule: str) -> None:
    """A rule of words alone: its terms merged from the per-stem lists are those its node collects,
    and a Term made for one rule's hit is the one another rule's hit gets."""
    query = compile_query(rule)
    doc = Document((title, "", content, "", "", "", ""))
    hit = query.evaluate(doc)
    other = compile_query("talks OR peace OR deal").evaluate(doc)  # makes some Terms first
    if other is not None:
        assert other.terms is not None
    with pytest.MonkeyPatch.context() as mp:
        plain_path(mp)
        plain_doc = Document((title, "", content, "", "", "", ""))
        plain = query.evaluate(plain_doc)
    assert (hit is None) == (plain is None)
    if hit is not None and plain is not None:
        words = query.evaluate(doc)  # its matched words asked first: from its token ranges, no Terms
        assert words is not None and words.matched_terms == plain.matched_terms
        assert hit.terms == plain.terms
        assert hit.matched_terms == plain.matched_terms


@settings(max_examples=300, deadline=None)
@given(texts, st.booleans())
def test_chunk_offsets_are_the_regex_offsets(text: str, cold: bool) -> None:
    doc = Document(("", "", text, "", "", "", ""))
    lo, hi = doc.bounds[2]
    if cold:  # the chunk caches dropped between analysis and offsets (a cache generation ended)
        for cache in (analyze_mod._chunk_stem, analyze_mod._chunk_stems, analyze_mod._chunk_split):
            cache.clear()
    spans = doc._field_spans(2)
    expected = [(spans[2 * k], spans[2 * k + 1]) if doc._simple[2] else spans[k] for k in range(hi - lo)]  # type: ignore[misc]
    chunks = _Chunks.of(text, hi - lo)
    if chunks is not None:
        assert [chunks.span(k) for k in range(hi - lo)] == expected
    assert [doc.offsets(lo + k, lo + k) for k in range(hi - lo)] == expected


@settings(max_examples=200, deadline=None)
@given(texts, st.lists(words, max_size=6), st.booleans())
def test_promised_positions_are_the_full_index_positions(text: str, asked: list[str], many: bool) -> None:
    """A few promised stems are scanned (and remembered); many are picked out of the tokens into
    an index at C speed: both give the positions of the full index."""
    stems = [t.stem for w in asked for t in analyze_mod.tokenize(w)]
    plain, fast = Document(("", "", text, "", "", "", "")), Document(("", "", text, "", "", "", ""))
    for _ in range(20):  # past the scans before a full index
        plain.occurrences("zzz", None)
    promised = frozenset(stems[:3])
    if many:  # more than _SCANS_BEFORE_INDEX promised: the compressed index
        promised |= {f"zz{i}" for i in range(analyze_mod._SCANS_BEFORE_INDEX + 1)}
    fast.index_only(promised)
    for _ in range(2):  # asked again: the remembered positions
        for stem in stems:
            assert fast.occurrences(stem, None) == plain.occurrences(stem, None)
            assert fast.occurrences(stem, 2) == plain.occurrences(stem, 2)
