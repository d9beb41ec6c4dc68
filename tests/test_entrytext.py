"""Property: the Document put together from a parse worker's analysis (pickled, as it crosses from the
worker) is the Document the item's texts give: the same matches, terms and snippets."""

from __future__ import annotations

import csv
import pickle
import random
from datetime import UTC, datetime
from pathlib import Path

from hypothesis import given, settings
from hypothesis import strategies as st
from test_query_index import queries

from monitor.entrytext import entry_analysis
from monitor.match import document_fields, item_document
from monitor.parse import parse_feed
from monitor.parsepool import _analyzed
from monitor.query import Matcher, analyze_item, compile_query
from monitor.records import Entry
from monitor.store import item_row

ARTICLES = Path(__file__).resolve().parents[1] / "../shared/data/bbc-news/articles.csv"
NOW = datetime(2026, 1, 1, tzinfo=UTC)

# words, punctuation the analyzer resolves (acronyms, numbers, apostrophes), accents, other scripts
pieces = st.sampled_from(
    [
        *("peace", "deal", "U.K.", "1,000", "3.5", "don't", "NATO’s", "Zürich", "STRASSE", "a.b,c", "x_y"),
        *("-", ",", ".", " ", "\n", "北京", "İstanbul", "ﬁnal", "talks.", "'s", "e.g.", "U.S.-led"),
    ]
)
text = st.one_of(st.text(max_size=60), st.lists(pieces, max_size=25).map("".join))
entries = st.builds(
    Entry,
    guid=st.just("g"),
    link=st.one_of(st.none(), st.just("https://example.com/U.K./peace-deal")),
    title=text,
    summary=text,
    content=text,
    author=text,
    categories=st.lists(text, max_size=3).map(tuple),
)


def worker_side(entry: Entry) -> Entry:
    """The entry as the ingest thread receives it from a parse worker."""
    return pickle.loads(pickle.dumps(Entry(**{**entry.__dict__, "analysis": entry_analysis(entry)})))


def same(matcher: Matcher, row: dict, entry: Entry) -> None:  # type: ignore[type-arg]
    plain, compact = analyze_item(document_fields(row)), item_document(row, entry.analysis)
    assert compact.tok_stem == plain.tok_stem and compact.keys == plain.keys
    assert compact.prefix_keys() == plain.prefix_keys()
    assert compact.folded_index() == plain.folded_index()
    expected, found = matcher.match(plain), matcher.match(compact)
    assert found == expected
    for name, hit in expected.items():
        assert found[name].terms == hit.terms
        assert found[name].snippet(compact, 80) == hit.snippet(plain, 80)


@settings(max_examples=300, deadline=None)
@given(st.lists(queries, min_size=1, max_size=10), entries, st.sampled_from(["news", "U.K. desk"]))
def test_a_workers_analysis_matches_and_quotes_as_the_texts_do(
    rules: list[str], entry: Entry, feed: str
) -> None:
    matcher = Matcher({f"r{i}": compile_query(q) for i, q in enumerate(rules)})
    entry = worker_side(entry)
    same(matcher, item_row(feed, entry, NOW), entry)


def test_bbc_articles_match_the_same_from_a_workers_analysis() -> None:
    csv.field_size_limit(10**7)
    with ARTICLES.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::7]
    rng = random.Random(7)
    words = [w for r in rows[:50] for w in r["text"].split() if w.isalpha() and len(w) > 4]
    rules = [" ".join(rng.sample(words, 2)) for _ in range(300)]
    rules += [f'"{a} {b}"' for a, b in zip(words[::97], words[1::97], strict=False)][:100]
    rules += [w[:4].lower() + "*" for w in words[::131]][:50]
    matcher = Matcher({f"r{i}": compile_query(q) for i, q in enumerate(rules)})
    hits = 0
    for r in rows:
        title, _, content = r["text"].partition(". ")
        entry = worker_side(
            Entry(guid=None, link=None, title=title, content=content, categories=(r["category"],))
        )
        row = item_row("bbc", entry, NOW)
        same(matcher, row, entry)
        hits += len(matcher.match(item_document(row, entry.analysis)))
    assert hits > 50  # the rules do match: the comparison is not of empty results


def test_parse_workers_send_entries_back_analyzed_and_match_items_uses_it() -> None:
    body = (
        b"<rss><channel><title>t</title><item><guid>1</guid><title>Peace deal in the U.K.</title>"
        b"<description>Talks on 1,000 troops</description></item></channel></rss>"
    )
    parsed = pickle.loads(pickle.dumps(_analyzed(parse_feed(body, "https://example.com/feed"))))
    entry = parsed.entries[0]
    assert entry.analysis == entry_analysis(entry)
    row = item_row("news", entry, NOW)
    matcher = Matcher({"r": compile_query('"peace deal" uk 1000'), "a": compile_query("ceasefire")})
    assert list(matcher.match(item_document(row, entry.analysis))) == ["r"]
    # an item with its article's text (a fulltext feed) is analyzed whole: the article is searched too
    with_article = {**row, "article": "A ceasefire was agreed."}
    assert sorted(matcher.match(item_document(with_article, entry.analysis))) == ["a", "r"]
