"""An entry's searchable texts analyzed where it was parsed (a parse worker), sent back beside it.

The ingest thread then only matches: `match.item_document` rebuilds the item's Document from this
compact form (the stems of each field) and the item's texts, and it is the Document the item's texts
give (`tests/test_entrytext.py`). The `feed` field is the feed's configured name, which a worker does
not know: it is analyzed by the ingest thread (one short, cached word or two).
"""

from __future__ import annotations

from monitor.query.analyze import Analysis, FieldAnalysis, analyze_text
from monitor.records import Entry

EntryAnalysis = tuple[FieldAnalysis, ...]  # title, summary, content, author, category, link


def entry_analysis(entry: Entry) -> EntryAnalysis:
    """The compact analysis of an entry's fields, as `match.document_fields` reads them from its row."""
    texts = (entry.title, entry.summary, entry.content, entry.author, " ".join(entry.categories), entry.link)
    return tuple(analyze_text(text or "") for text in texts)


def with_feed(analysis: EntryAnalysis, feed: FieldAnalysis) -> Analysis:
    """The analysis of every field of FIELDS: the entry's, with the feed's name in its place."""
    title, summary, content, author, category, link = analysis
    return (title, summary, content, author, category, feed, link)
