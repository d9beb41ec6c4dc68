"""Property: match rows that store token ranges (and matched words found without offsets) show a user
exactly what the rows main stored showed (char offsets, matched words from Terms): the matched words,
the Terms a row points at and the quotes cut around them, on real BBC articles against many generated
rules (words, phrases, OR groups, prefixes, fields, negations), as analysed by a parse worker or not.
Old rows (char offsets) still read the same; stored ranges that do not fit an item are skipped."""

from __future__ import annotations

import csv
import random
from collections import Counter
from datetime import UTC, datetime
from pathlib import Path

from test_hit_terms import as_seen, config_of, old_rows

from monitor.entrytext import entry_analysis
from monitor.match import document_fields, match_items, snippet, where_terms
from monitor.query import Matcher, analyze_item, compile_query
from monitor.query.analyze import tokenize
from monitor.records import Entry
from monitor.store import item_row

ARTICLES = Path(__file__).resolve().parents[1] / "../shared/data/bbc-news/articles.csv"
NOW = datetime(2026, 1, 1, tzinfo=UTC)


def articles(step: int) -> list[Entry]:
    csv.field_size_limit(10**7)
    with ARTICLES.open(newline="", encoding="utf-8") as f:
        rows = list(csv.DictReader(f))[::step]
    entries = []
    for n, r in enumerate(rows):
        title, _, content = r["text"].partition(". ")
        summary = content[:300] if n % 3 == 0 else ""  # some items have a summary too
        entries.append(
            Entry(
                guid=f"g{n}",
                link=None,
                title=title,
                summary=summary,
                content=content,
                categories=(r["category"],),
            )
        )
    return entries


def generated_rules(entries: list[Entry], n: int, seed: int = 14) -> list[str]:
    """Rules of mid-frequency words as written (any case), with phrases, OR groups, prefixes, fields, NOT."""
    rng = random.Random(seed)
    df: Counter[str] = Counter()
    written: dict[str, str] = {}
    texts = []
    for e in entries:
        words = [e.content[t.start : t.end] for t in tokenize(e.content)]
        texts.append(words)
        df.update({w.lower() for w in words})
        for w in words:
            written.setdefault(w.lower(), w)
    mid = sorted(w for w, c in df.items() if 2 <= c <= len(entries) // 8 and w.replace("'", "").isalpha())
    rules = []
    for _ in range(n):
        words = [written[w] for w in rng.sample(mid, rng.choice((1, 2, 3)))]
        roll = rng.random()
        if roll < 0.15:
            text = rng.choice([t for t in texts if len(t) > 3])
            i = rng.randrange(len(text) - 2)
            words[0] = f'"{" ".join(text[i : i + rng.choice((2, 3))])}"'
        elif roll < 0.25:
            words[0] = f"({words[0]} OR {rng.choice(mid)})"
        elif roll < 0.3:
            words[0] = words[0][:4].lower() + "*"
        elif roll < 0.35:
            words[0] = f"title:{words[0]}"
        elif roll < 0.4:
            words.append(f"NOT {rng.choice(mid)}")
        elif roll < 0.42:
            words = [f"category:{rng.choice(['business', 'sport', 'politics', 'tech'])}", *words[:1]]
        rules.append(" ".join(w.replace("\\", "") for w in words))
    return [r for r in rules if _compiles(r)]


def _compiles(rule: str) -> bool:
    try:
        compile_query(rule)
    except Exception:  # a generated phrase may hold query syntax: leave it out
        return False
    return True


def test_bbc_match_rows_show_what_the_old_rows_showed() -> None:
    entries = articles(13)
    rules = generated_rules(entries, 2000)
    queries = {f"r{i}": compile_query(q) for i, q in enumerate(rules)}
    config = config_of({name: frozenset({"bbc"}) for name in queries})
    items = [item_row("bbc", e, NOW) for e in entries]
    analyses = {row["id"]: entry_analysis(e) for row, e in zip(items, entries, strict=True)}
    fast = match_items(config, Matcher(queries), items, NOW, analyses)
    plain = old_rows(config, Matcher(queries), items)
    assert len(fast) > 500 and sum(len(r["matched_terms"]) for r in fast) > 1000  # the rules do match
    assert sum(f != "content" for r in fast for f, _, _ in r["snippet"]["tokens"]) > 50  # other fields too
    assert sum(a != b for r in fast for _, a, b in r["snippet"]["tokens"]) > 20  # phrases too
    assert [r["matched_terms"] for r in fast] == [r["matched_terms"] for r in plain]
    assert as_seen(fast, items) == as_seen(plain, items)


def test_a_stored_range_that_does_not_fit_the_item_is_skipped() -> None:
    item = {"id": "i1", "feed": "bbc", "title": "Peace talks resume", "content": "The talks went on."}
    doc = analyze_item(document_fields(item))
    where = {
        "tokens": [["title", 1, 1], ["title", 2, 5], ["nofield", 0, 0], ["content", 3, 1], ["content", 1, 1]]
    }
    assert [(t.field, t.text) for t in where_terms(doc, where)] == [("title", "talks"), ("content", "talks")]
    assert where_terms(doc, {}) == () and snippet(item, {}).spans == ()


def test_an_old_row_and_a_new_row_quote_the_same() -> None:
    item = {
        "id": "i1",
        "feed": "bbc",
        "title": "Talks",
        "content": "Peace talks in the U.K. resumed; UK talks.",
    }
    doc = analyze_item(document_fields(item))
    hit = compile_query('"peace talks" uk').evaluate(doc)
    assert hit is not None
    old = {"terms": [[t.field, t.start, t.end] for t in hit.terms]}
    new = {"tokens": [["content", 0, 1], ["content", 4, 4], ["content", 6, 6]]}  # numbered in the field
    assert where_terms(doc, new) == where_terms(doc, old) == hit.terms
    assert snippet(item, new) == snippet(item, old)
    assert hit.tokens == ((1, 2), (5, 5), (7, 7))  # numbered across fields: the title's word first
    assert hit.matched_terms == ("Peace talks", "U.K", "UK")
