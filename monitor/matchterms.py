"""Where a match row says its terms are, and its matched words: written at ingest, read when shown.

A row stores its hit's token ranges, `snippet = {"tokens": [[field, first, last], ...]}` (token
numbers within the field, in no particular order, a range maybe twice), and the matched words,
found from the same ranges without working out any char offset. Rows stored before hold char offsets,
`{"terms": [[field, start, end], ...]}`. `where_terms` is the one reader of both forms: it gives the
Terms the match's Hit had (field, text as written, offsets), what its quote and highlight are cut
from (`match.snippet`). The property tests (`tests/test_match_tokens.py`, `tests/test_hit_terms.py`)
check that rows show a user exactly what the char-offset rows showed.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping, Sequence
from typing import Any

from monitor.query import FIELDS, Document, Hit, Term
from monitor.query.hit import folded, outermost, terms_at, written

Stored = list[Any]  # [field, first, last]: one token range as a row stores it


def where_terms(doc: Document, where: Mapping[str, Any]) -> tuple[Term, ...]:
    """The Terms a match row's `snippet` points at in its analyzed item, in field then text order; a
    range that does not fit the item is skipped."""
    if "tokens" in where:
        return terms_at(doc, outermost(_token_spans(doc, where["tokens"])))
    texts = dict(zip(FIELDS, doc.texts, strict=True))
    return tuple(Term(f, texts[f][a:b], a, b) for f, a, b in where.get("terms", ()) if f in texts)


def _token_spans(doc: Document, stored: Iterable[Sequence[Any]]) -> list[tuple[int, int]]:
    """Stored [field, first, last] ranges as the Document's token ranges (those that fit it)."""
    spans = []
    for field, first, last in stored:
        if field not in FIELDS:
            continue
        lo, hi = doc.bounds[FIELDS.index(field)]
        if 0 <= first <= last < hi - lo:
            spans.append((lo + first, lo + last))
    return spans


class RowTerms:
    """The matched words and stored token ranges of an item's hits (`columns`), each range's and each
    word's worked out once for the item (the hits of many rules share words)."""

    __slots__ = ("doc", "made", "words")

    def __init__(self, doc: Document) -> None:
        self.doc = doc
        self.made: dict[tuple[int, int], tuple[str, str, Stored]] = {}  # range -> folded, written, stored
        # (stem, scope) -> its ranges as stored, and (first token, folded, written) of each distinct
        # folded form among its occurrences, in token order
        self.words: dict[tuple[str, int | None], tuple[list[Stored], list[tuple[int, str, str]]]] = {}

    def columns(self, hit: Hit) -> tuple[list[str], list[Stored]]:
        """The hit's `matched_terms` (what `Hit.matched_terms` gives) and its token ranges as stored."""
        words = hit.words
        if words is None:
            return self._of_ranges(hit.tokens or ())
        if len(words) == 1:
            stored, firsts = self._word(words[0])
            return [w for _, _, w in firsts], list(stored)
        tokens: list[Stored] = []
        found: list[tuple[int, str, str]] = []
        for word in words:
            stored, firsts = self._word(word)
            tokens += stored
            found += firsts
        found.sort()  # first seen first: the words' first occurrences in token order
        seen: dict[str, str] = {}
        for _, key, text in found:
            if key not in seen:
                seen[key] = text
        return list(seen.values()), tokens

    def _word(self, word: tuple[str, int | None]) -> tuple[list[Stored], list[tuple[int, str, str]]]:
        known = self.words.get(word)
        if known is None:
            doc, made = self.doc, self.made
            tok_field, bounds = doc.tok_field, doc.bounds
            stored, firsts, seen = [], [], set()
            for span in doc.word_ranges(*word)[1]:
                found = made.get(span)
                if found is None:  # one token: `_range`, inline (an item has some 75 of them)
                    token = span[0]
                    field_id = tok_field[token]
                    lo = bounds[field_id][0]
                    text = doc.field_words(field_id)[token - lo]
                    found = made[span] = (folded(text), text, [FIELDS[field_id], token - lo, token - lo])
                stored.append(found[2])
                if found[0] not in seen:
                    seen.add(found[0])
                    firsts.append((span[0], found[0], found[1]))
            known = self.words[word] = (stored, firsts)
        return known

    def _of_ranges(self, ranges: Iterable[tuple[int, int]]) -> tuple[list[str], list[Stored]]:
        seen: dict[str, str] = {}
        tokens = []
        for span in ranges:
            folded, text, where = self._range(span)
            if folded not in seen:
                seen[folded] = text
            tokens.append(where)
        return list(seen.values()), tokens

    def _range(self, span: tuple[int, int]) -> tuple[str, str, Stored]:
        found = self.made.get(span)
        if found is None:
            doc, (first, last) = self.doc, span
            field_id = doc.tok_field[first]
            lo = doc.bounds[field_id][0]
            found = self.made[span] = (*written(doc, span), [FIELDS[field_id], first - lo, last - lo])
        return found
