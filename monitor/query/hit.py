"""What a match records: the terms found (token ranges; field, text as written, offsets) and a snippet around them."""

from __future__ import annotations

import re
from collections.abc import Iterable
from operator import itemgetter
from typing import NamedTuple, Protocol

from monitor.query.analyze import FIELDS, Document, fold
from monitor.query.nodes import AndNode, WordsNode
from monitor.records import Snippet

ELLIPSIS = "…"
_SENTENCE_END = re.compile(r"[.!?…](?=[\s\"'”’)\]]|$)|\n")
_CLOSED = re.compile(r"[.!?…][\"'”’)\]]*$")  # text ending a sentence (maybe inside quotes)
_OPENERS = "\"'“‘([«"
_CLOSERS = "\"'”’)]»%"
_SNIPPET_FIELDS_NO_TERMS = (1, 2, 0)  # summary, content, title: what to quote when nothing matched
_SNIPPET_FIELD_ORDER = (1, 2, 0, 3, 4, 5, 6)  # summary, content, title, then the others
_FOLD_LIMIT = 50_000
_fold_cache: dict[str, str] = {}
_first = itemgetter(0)


class Term(NamedTuple):
    """One matched term in an item: its field, the text as written, and char offsets in that field."""

    field: str
    text: str
    start: int
    end: int


class _Collector(Protocol):
    """A query node that can list the token ranges it matched."""

    def collect(self, doc: Document, out: list[tuple[int, int]]) -> None:
        """Append (first token, last token) ranges."""


class Hit:
    """A rule matched an item; `terms` are the matched words or phrases, in field then text order.

    A hit made by a query finds its token ranges on first use (most matches of a busy matcher are
    only counted or stored once), then its terms from them when asked for, and keeps both. Hits are
    immutable and compare by their terms.
    """

    __slots__ = ("_doc", "_node", "_ranges", "_terms")

    def __init__(self, terms: tuple[Term, ...] = ()) -> None:
        self._terms: tuple[Term, ...] | None = terms
        self._ranges: tuple[tuple[int, int], ...] | None = None
        self._doc: Document | None = None
        self._node: _Collector | None = None

    @classmethod
    def of(cls, doc: Document, node: _Collector) -> Hit:
        """The hit of a query node that matched `doc`; its terms are collected when first asked for."""
        return lazy_hit(doc, node)

    @property
    def tokens(self) -> tuple[tuple[int, int], ...] | None:
        """The matched token ranges (first, last token, numbered across fields as in its Document), in
        field then text order, each once and none inside another: what `terms` are made of. None for
        a Hit made of Terms."""
        if self._ranges is None and self._node is not None:
            assert self._doc is not None
            self._ranges = _ranges(self._doc, self._node)
            self._node = None
        return self._ranges

    @property
    def words(self) -> list[tuple[str, int | None]] | None:
        """The (stem, scope) pairs of a hit of words alone joined by AND (its terms are every occurrence
        of each in scope), before its token ranges are found; else None."""
        node = self._node
        if node is None:
            return None
        return _words_of(node)

    @property
    def terms(self) -> tuple[Term, ...]:
        """The matched terms: field, text as written, offsets."""
        if self._terms is None:
            ranges, doc = self.tokens, self._doc
            assert ranges is not None and doc is not None
            self._terms, self._doc = terms_at(doc, ranges), None
        return self._terms

    def __eq__(self, other: object) -> bool:
        return isinstance(other, Hit) and self.terms == other.terms

    def __hash__(self) -> int:
        return hash(self.terms)

    def __repr__(self) -> str:
        return f"Hit(terms={self.terms!r})"

    @property
    def matched_terms(self) -> tuple[str, ...]:
        """Distinct matched words as written in the item (case-insensitively distinct), first seen first.

        A hit of a query finds them from its token ranges, without any offsets (`matched_words`)."""
        if self._terms is None:
            ranges, doc = self.tokens, self._doc
            assert ranges is not None and doc is not None
            return matched_words(doc, ranges)
        seen: dict[str, str] = {}
        for term in self._terms:
            seen.setdefault(_folded(term.text), term.text)
        return tuple(seen.values())

    def snippet(self, doc: Document, width: int = 240) -> Snippet:
        """A sentence-ish window of the field with the most matched terms, with their spans in it."""
        field_id = self._best_field()
        if field_id is None:
            for fid in _SNIPPET_FIELDS_NO_TERMS:
                if doc.texts[fid].strip():
                    return _window(doc.texts[fid], [], width)
            return Snippet("")
        name = FIELDS[field_id]
        spans = [(t.start, t.end, fold(t.text)) for t in self.terms if t.field == name]
        return _window(doc.texts[field_id], spans, width)

    def _best_field(self) -> int | None:
        """The field with the most distinct matched words (summary, content, then title on ties:
        the title is usually shown beside the snippet already)."""
        best: tuple[int, int] | None = None
        for field_id in _SNIPPET_FIELD_ORDER:
            name = FIELDS[field_id]
            count = len({fold(t.text) for t in self.terms if t.field == name})
            if count and (best is None or count > best[0]):
                best = (count, field_id)
        return None if best is None else best[1]


def lazy_hit(doc: Document, node: _Collector, _new: object = object.__new__) -> Hit:
    """`Hit.of(doc, node)`, without the class method's binding (a busy matcher makes many)."""
    hit: Hit = _new(Hit)  # type: ignore[operator]
    hit._terms = None
    hit._ranges = None
    hit._doc = doc
    hit._node = node
    return hit


def matched_words(doc: Document, ranges: Iterable[tuple[int, int]]) -> tuple[str, ...]:
    """The distinct words (case-insensitively) as written of these token ranges, first seen first: the
    `matched_terms` of a hit with these `tokens` (each range's text found once per item)."""
    seen: dict[str, str] = {}
    made = doc.words_made
    for span in ranges:
        word = made.get(span)
        if word is None:
            word = made[span] = written(doc, span)
        if word[0] not in seen:
            seen[word[0]] = word[1]
    return tuple(seen.values())


def written(doc: Document, span: tuple[int, int]) -> tuple[str, str]:
    """A token range's text folded (what makes matched words distinct) and as written."""
    text = doc.token_text(*span)
    return _folded(text), text


class WordTerms:
    """A node of words alone joined by AND (most rules), as its (stem, scope) pairs: its terms are every
    occurrence of each in scope, what the node collects. A Matcher makes one per such rule, once, and
    its hits take it for the node (no need to look at the node's shape at every hit)."""

    __slots__ = ("words",)

    def __init__(self, words: list[tuple[str, int | None]]) -> None:
        self.words = words

    def collect(self, doc: Document, out: list[tuple[int, int]]) -> None:
        """Append (token, token) for every occurrence of each word."""
        for stem, scope in self.words:
            out.extend((t, t) for t in doc.occurrences(stem, scope))


def collector(node: _Collector) -> _Collector:
    """What a hit of `node` collects its terms with: a WordTerms for words alone, else the node."""
    words = _words_of(node)
    return node if words is None else WordTerms(words)


def _ranges(doc: Document, node: _Collector) -> tuple[tuple[int, int], ...]:
    """The token ranges of a node's terms: in field then text order, each once, none inside another."""
    words = _words_of(node)
    if words is not None:  # only words: every occurrence of each, one token each (none holds another)
        if len(words) == 1:
            return doc.word_ranges(*words[0])[1]
        tokens: set[int] = set()
        for stem, scope in words:
            tokens.update(doc.word_ranges(stem, scope)[0])
        return doc.token_ranges(sorted(tokens))
    spans: list[tuple[int, int]] = []
    node.collect(doc, spans)
    return outermost(spans)


def outermost(spans: Iterable[tuple[int, int]]) -> tuple[tuple[int, int], ...]:
    """Token ranges in field then text order, each once, none inside another (what terms are made of)."""
    distinct = set(spans)
    if len(set(map(_first, distinct))) == len(distinct):  # no two ranges start together: plain order
        ordered = sorted(distinct)
    else:
        ordered = sorted(distinct, key=lambda s: (s[0], -s[1]))
    kept, reach = [], -1
    for span in ordered:
        if span[1] <= reach:
            continue  # inside a phrase already recorded
        reach = span[1]
        kept.append(span)
    return tuple(kept)


def _words_of(node: object) -> list[tuple[str, int | None]] | None:
    """The (stem, scope) of every word of a node made only of words joined by AND (most rules), whose
    terms are every occurrence of each in scope (`WordsNode.collect`), or a WordTerms' own; None for
    any other node."""
    if type(node) is WordTerms:
        return node.words
    if type(node) is WordsNode:
        return [(stem, node.scope) for stem in node.stems]
    if type(node) is AndNode and all(type(child) is WordsNode for child in node.children):
        return [(stem, child.scope) for child in node.children for stem in child.stems]  # type: ignore[attr-defined]
    return None


def terms_at(doc: Document, ranges: Iterable[tuple[int, int]]) -> tuple[Term, ...]:
    """The Terms of token ranges (each of one field), each made once per item (`Document.terms_made`:
    the hits of many rules share words)."""
    made = doc.terms_made
    terms = []
    for span in ranges:
        term = made.get(span)
        if term is None:
            term = made[span] = _span_term(doc, *span)
        terms.append(term)
    return tuple(terms)


def _span_term(doc: Document, first: int, last: int) -> Term:
    """The Term of tokens `first` to `last` (one field): its field, text as written and offsets."""
    field_id = doc.tok_field[first]
    start, end = doc.offsets(first, last)
    return Term(FIELDS[field_id], doc.texts[field_id][start:end], start, end)


def folded(text: str) -> str:
    """`fold(text)`, cached: what makes two matched words one."""
    return _folded(text)


def _folded(text: str) -> str:
    """`fold(text)`, cached (the same words are matched again and again)."""
    found = _fold_cache.get(text)
    if found is None:
        if len(_fold_cache) >= _FOLD_LIMIT:
            _fold_cache.clear()
        found = _fold_cache[text] = fold(text)
    return found


def _window(text: str, terms: list[tuple[int, int, str]], width: int) -> Snippet:
    """Cut `text` to about `width` chars around the window holding the most distinct terms.

    Both ends fall at a word or a sentence: an ellipsis marks a cut inside a sentence and always
    touches a word (never `…-` or `.…`); a quote of whole sentences has none.
    """
    terms = sorted(set(terms))
    spans = [(a, b) for a, b, _ in terms]
    start = _clean_start(text, _best_start(text, terms, width), spans)
    end = _clean_end(text, start, _cut_end(text, start, width), spans)
    body = text[start:end].replace("\n", " ").replace("\r", " ").replace("\t", " ")
    lead = ELLIPSIS if start > 0 and not _after_sentence(text, start) else ""
    trail = ELLIPSIS if end < len(text) and not _sentence_done(text, end) else ""
    shift = len(lead) - start
    inside = tuple((a + shift, b + shift) for a, b in spans if a >= start and b <= end)
    return Snippet(lead + body + trail, inside)


def _cut_end(text: str, start: int, width: int) -> int:
    """Where a window of `width` from `start` ends: a sentence end past its middle, else a space."""
    end = min(len(text), start + width)
    if end < len(text):
        cut = text.rfind(" ", start, end)
        sentence = _last_sentence_end(text, start, end)
        end = (
            sentence
            if sentence is not None and sentence > start + width // 2
            else (cut if cut > start else end)
        )
    return end


def _clean_start(text: str, start: int, spans: list[tuple[int, int]]) -> int:
    """Step past spaces and dangling punctuation (a dash, a comma) at the start, never past a term."""
    limit = min((a for a, _ in spans if a >= start), default=len(text))
    while start < limit and not (text[start].isalnum() or text[start] in _OPENERS):
        start += 1
    return start


def _clean_end(text: str, start: int, end: int, spans: list[tuple[int, int]]) -> int:
    """Step back over spaces, and over dangling punctuation where the text goes on, never into a term."""
    floor = max((b for a, b in spans if a >= start and b <= end), default=start)
    while end > floor and (
        text[end - 1].isspace()
        or (end < len(text) and not (text[end - 1].isalnum() or text[end - 1] in _CLOSERS))
    ):
        end -= 1
    return end


def _after_sentence(text: str, start: int) -> bool:
    """Whether `start` begins a sentence or a line (so a quote from there needs no leading ellipsis)."""
    before = text[:start].rstrip(" \t")
    return not before or before.endswith(("\n", "\r")) or bool(_CLOSED.search(before))


def _sentence_done(text: str, end: int) -> bool:
    """Whether text[:end] ends a sentence or a line (so the quote needs no trailing ellipsis)."""
    after = text[end : end + 1]
    return after in ("\n", "\r") or bool(_CLOSED.search(text, max(0, end - 8), end))


def _best_start(text: str, terms: list[tuple[int, int, str]], width: int) -> int:
    """Where the snippet starts: a sentence start (or word start) before the group of terms with
    the most distinct words within two thirds of the width (first such group on ties)."""
    if not terms:
        return 0
    reach = width * 2 // 3
    in_window: dict[str, int] = {}
    best_count, best_first, j = 0, terms[0][0], 0
    for i, (first, _, word) in enumerate(terms):  # sliding window terms[i:j]: within reach of `first`
        while j < len(terms) and (j == i or terms[j][1] - first <= reach):
            in_window[terms[j][2]] = in_window.get(terms[j][2], 0) + 1
            j += 1
        if len(in_window) > best_count:
            best_count, best_first = len(in_window), first
        in_window[word] -= 1
        if not in_window[word]:
            del in_window[word]
    sentence = _sentence_start(text, best_first, width // 3)
    if sentence is not None:
        return sentence
    space = text.rfind(" ", 0, best_first - width // 4)
    return space + 1 if space >= 0 else 0


def _sentence_start(text: str, pos: int, reach: int) -> int | None:
    """The start of the sentence holding `pos`, if it begins at most `reach` chars before it."""
    low = max(0, pos - reach)
    start = 0 if low == 0 else None
    for m in _SENTENCE_END.finditer(text, low, pos):
        start = m.end()
    if start is None:
        return None
    while start < pos and text[start].isspace():
        start += 1
    return start


def _last_sentence_end(text: str, start: int, end: int) -> int | None:
    """The offset just after the last sentence end inside text[start:end], if any."""
    last = None
    for m in _SENTENCE_END.finditer(text, start, end):
        last = m.end()
    return last
