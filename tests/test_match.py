"""Matching stored items: the category field is built the one way, wherever an item is analyzed."""

from __future__ import annotations

from monitor.match import document_fields, snippet
from monitor.query import analyze_item, compile_query

ITEM = {"id": "i1", "feed": "bbc", "title": "Talks resume", "categories": ["Middle East", "Peace talks"]}


def test_a_stored_item_and_an_example_join_categories_alike() -> None:
    """`monitor check` examples (analyze_item on lists) and the daemon (stored rows) see the same text."""
    stored = analyze_item(document_fields(ITEM))
    example = analyze_item(
        {"title": "Talks resume", "category": ["Middle East", "Peace talks"], "feed": "bbc"}
    )
    assert stored.texts == example.texts


def test_a_category_match_is_quoted_from_the_offsets_it_stored() -> None:
    doc = analyze_item(document_fields(ITEM))
    hit = compile_query('category:"peace talks"').evaluate(doc)
    assert hit is not None
    where = {"terms": [[t.field, t.start, t.end] for t in hit.terms]}
    assert "Peace talks" in snippet(ITEM, where).text
