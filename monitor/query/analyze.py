"""The one analyzer for items and queries: Unicode word tokens, case and accent folding, English stemming.

Choices (what a search engine with an English stemming analyzer does, written down):

- A word is a run of Unicode letters and digits. Underscores, hyphens, slashes and other punctuation
  separate words: "U.S.-led" is "us" + "led", "three-year-long" is three words, so `negotiable`
  matches "non-negotiable" and the query word `non-negotiable` is the phrase "non negotiable".
- An apostrophe (' or ’) between letters stays inside the word ("don't", "O'Brien"); a possessive
  "'s" or a trailing apostrophe is dropped, so "Ukraine’s" is the word "ukraine".
- Dotted acronyms are one word without the dots: "U.K." is "uk", "U.S." is "us" (like the pronoun).
- Numbers keep their decimal point and lose their thousands commas: "1,000" is "1000", "3.5" stays.
- Folding: Unicode case folding, then accents removed (NFKD without combining marks): "Zürich" is
  "zurich", "STRASSE" and "Straße" are both "strasse".
- Words of other scripts work the same way (no segmentation of Chinese or Japanese text).
- Stemming: Snowball English (PyStemmer) on the folded word, so "militaries" and "military" are both
  "militari" and "meeting" is "meet", while "UK" ("uk") never matches "Ukraine" ("ukrain").
  Prefix wildcards and regular expressions see the folded word, not the stem.
"""

from __future__ import annotations

import re
from bisect import bisect_right
from collections.abc import Callable, Collection, Iterable, Mapping, Sequence
from itertools import accumulate, chain, compress, count, repeat
from typing import Any, NamedTuple

import Stemmer

from monitor import textfold

FIELDS: tuple[str, ...] = ("title", "summary", "content", "author", "category", "feed", "link")
DEFAULT_FIELDS: frozenset[int] = frozenset({0, 1, 2})  # title, summary, content
PREFIX_KEY_LEN = 3
PREFIX_MARK = "\x01"  # presearch keys for prefixes: mark + first PREFIX_KEY_LEN folded letters

_L = r"[^\W_]"  # a Unicode letter or digit
_RAW_RE = re.compile(rf"{_L}++(?:[.,'’ʼ]{_L}++)*+")  # a raw word; dots and commas are resolved below
_SPLIT_RE = re.compile(f"({_RAW_RE.pattern})")  # split(): separator, raw word, separator, ...
_SEP_RE = re.compile(r"[.,]")
_CACHE_LIMIT = 50_000  # about 20 MB: a long-running daemon fills it with names and numbers
_SCANS_BEFORE_INDEX = 16  # stem lookups in one item before it builds a positions index

Piece = tuple[int, int, str, str]  # start and end offsets inside the raw word, folded form, stem

_stemmer = Stemmer.Stemmer("english")
_pieces_cache: dict[str, tuple[Piece, ...]] = {}
_single_prefix: dict[str, str] = {}  # raw words that are one token -> prefix key
_stem_objects: dict[str, str] = {}  # one str object per stem: set lookups then compare by identity
CHUNK_LIMIT = 100_000  # about 15 MB of chunks of text between spaces, hyphens and slashes ("said,")
_chunk_stem: dict[str, str] = {}  # chunk of one token -> its stem; of no word -> "" (the hot path)
_chunk_stems: dict[str, tuple[str, ...]] = {}  # other chunks -> the stems of their raw words, in order
_chunk_split: set[str] = set()  # chunks with a raw word that is not exactly one token ("U.S.-led" is not)


def fold(word: str) -> str:
    """Case- and accent-fold one word; drop a possessive "'s" and a trailing apostrophe."""
    folded = textfold.fold(word)
    if folded.endswith("'s"):
        folded = folded[:-2]
    return folded.rstrip("'")


def stem(folded: str) -> str:
    """The Snowball English stem of a folded word (words of one or two letters are kept)."""
    stemmed = _stemmer.stemWord(folded) if len(folded) > 2 else folded
    return _stem_objects.setdefault(stemmed, stemmed)


def _piece(raw: str, start: int, end: int, folded: str | None = None) -> Piece:
    folded = fold(raw[start:end]) if folded is None else folded
    return (start, end, folded, stem(folded))


def _split(raw: str) -> tuple[Piece, ...]:
    """Resolve dots and commas in a raw word: acronym, number, or separate words."""
    parts, start = [], 0
    for m in _SEP_RE.finditer(raw):
        parts.append((start, m.start()))
        start = m.end()
    parts.append((start, len(raw)))
    if all(b - a == 1 and raw[a].isalpha() for a, b in parts) and "," not in raw:
        return (_piece(raw, 0, len(raw), fold(raw.replace(".", ""))),)  # U.K -> uk
    if all(raw[a:b].isdigit() for a, b in parts):
        return (_piece(raw, 0, len(raw), raw.replace(",", "")),)  # 1,000 -> 1000; 3.5 stays
    return tuple(_piece(raw, a, b) for a, b in parts)


def pieces(raw: str) -> tuple[Piece, ...]:
    """The tokens of one raw word (usually one), cached."""
    found = _pieces_cache.get(raw)
    if found is None:
        found = _split(raw) if ("." in raw or "," in raw) else (_piece(raw, 0, len(raw)),)
        found = tuple(p for p in found if p[2])
        if len(_pieces_cache) >= _CACHE_LIMIT:
            _pieces_cache.clear()
            _single_prefix.clear()
            _stem_objects.clear()
        _pieces_cache[raw] = found
        if len(found) == 1:
            _single_prefix[raw] = PREFIX_MARK + found[0][2][:PREFIX_KEY_LEN]
    return found


class Token(NamedTuple):
    """One word of a text: its offsets in the text, folded form and stem."""

    start: int
    end: int
    folded: str
    stem: str


def tokenize(text: str) -> list[Token]:
    """Split text into analyzed word tokens (see the module docstring for the rules)."""
    return [
        Token(m.start() + a, m.start() + b, folded, stemmed)
        for m in _RAW_RE.finditer(text)
        for a, b, folded, stemmed in pieces(m.group())
    ]


FieldAnalysis = tuple[Sequence[str], bool]  # a field's stems in order; whether each raw word is one token
Analysis = tuple[FieldAnalysis, ...]  # per field of FIELDS: what a Document needs, compact and picklable


def _chunk(chunk: str) -> tuple[str, ...]:
    """The stems of one chunk of text (between spaces, hyphens, slashes), cached (see `analyze_text`)."""
    found = [pieces(raw) for raw in _RAW_RE.findall(chunk)]
    stems = tuple(p[3] for ps in found for p in ps)
    if not all(len(ps) == 1 for ps in found):
        _chunk_split.add(chunk)
    elif len(stems) <= 1 and "" not in stems:
        _chunk_stem[chunk] = stems[0] if stems else ""
        return stems
    _chunk_stems[chunk] = stems
    return stems


def analyze_text(text: str) -> FieldAnalysis:
    """One field's analysis in compact form (what a parse worker sends back beside the entry).

    A raw word never holds whitespace, a hyphen or a slash, so the raw words of a text are those of
    its chunks between them, in order. Each chunk's stems are cached ("said," -> "said", "(BBC)" ->
    "bbc", "—" -> none, "1.5bn" -> "1", "5bn"): a text is analyzed by one split and one look-up per
    chunk at C speed. The result is the word-by-word analysis's (`tokenize`; property-tested against
    it in tests/test_analyze_fast.py).
    """
    if not text:
        return ((), True)
    if len(_chunk_stem) + len(_chunk_stems) >= CHUNK_LIMIT:  # here only: one generation per field
        _chunk_stem.clear()
        _chunk_stems.clear()
        _chunk_split.clear()
    if "-" in text:
        text = text.replace("-", " ")
    if "/" in text:
        text = text.replace("/", " ")
    chunks = text.split()
    found = list(map(_chunk_stem.get, chunks))  # a chunk's one stem, "" for none, None: see below
    if None not in found:
        return (tuple(filter(None, found)), True)
    stems: list[str] = []  # chunks of several tokens, or not yet cached, are spliced in
    start, after = 0, found.index
    while True:
        try:
            at = after(None, start)
        except ValueError:
            stems.extend(filter(None, found[start:]))
            break
        stems.extend(filter(None, found[start:at]))
        chunk = chunks[at]
        cached = _chunk_stems.get(chunk)
        stems.extend(_chunk(chunk) if cached is None else cached)
        start = at + 1
    return (tuple(stems), _chunk_split.isdisjoint(chunks))


def analyze_texts(texts: Sequence[str]) -> Analysis:
    """The compact analysis of each text (`Document(texts, analysis)` rebuilds the same Document)."""
    return tuple(map(analyze_text, texts))


ChunkCaches = tuple[dict[str, str], dict[str, tuple[str, ...]], set[str]]


def chunk_caches() -> ChunkCaches:
    """What `analyze_text` has learned of chunks (one stem, several, the split ones), to keep on disk
    (`monitor.query.stemcache`); the live objects, not copies."""
    return _chunk_stem, _chunk_stems, _chunk_split


def learn_chunks(one: Mapping[str, str], many: Mapping[str, Sequence[str]], split: Iterable[str]) -> None:
    """Take chunks' analyses learned earlier (`chunk_caches`, perhaps by another process), each stem
    as the one object of its kind, up to the caches' limit. The caller vouches they are `_chunk`'s."""
    room = CHUNK_LIMIT - len(_chunk_stem) - len(_chunk_stems)
    if room <= 0:
        return
    objects = _stem_objects
    for chunk, stem_ in list(one.items())[:room]:
        _chunk_stem[chunk] = objects.setdefault(stem_, stem_) if stem_ else ""
    room -= min(room, len(one))
    for chunk, stems in list(many.items())[:room]:
        _chunk_stems[chunk] = tuple(objects.setdefault(s, s) for s in stems)
    _chunk_split.update(split)


class Document:
    """An analyzed item. Tokens of all fields share one numbering, field by field in FIELDS order;
    `tok_field[i]` is token i's field, so phrases never cross fields. Positions, offsets and folded
    words are computed on first use (most rules only ask whether a stem is present).
    """

    __slots__ = (
        "_field_stems",
        "_folded",
        "_index_only",
        "_joined",
        "_lines",
        "_pairs",
        "_positions",
        "_prefix_keys",
        "_raws",
        "_scanned",
        "_scans",
        "_simple",
        "_spans",
        "_tok_field",
        "_tok_words",
        "_word_ranges",
        "bounds",
        "default_stems",
        "keys",
        "terms_made",
        "texts",
        "tok_stem",
        "words_made",
    )

    def __init__(self, texts: tuple[str, ...], analysis: Analysis | None = None) -> None:
        """Analyze `texts` (one per field of FIELDS), or take their `analysis` (from `analyze_texts`,
        perhaps computed in another process): the Document is the same either way."""
        self.texts = texts
        self._raws: list[list[str]] | None = None  # per field: its raw words (found on first use)
        if analysis is None:
            analysis = tuple(map(analyze_text, texts))
        stems = [field[0] for field in analysis]
        self._simple: list[bool] = [field[1] for field in analysis]  # per field: each raw word is one token
        ends = list(accumulate(map(len, stems)))
        self.bounds: list[tuple[int, int]] = list(
            zip([0, *ends[:-1]], ends, strict=True)
        )  # per field: first token, one past its last
        self.tok_stem: list[str] = list(chain.from_iterable(stems))
        self._tok_field: list[int] | None = None
        last = max(DEFAULT_FIELDS)  # the default fields come first
        self.default_stems = frozenset(chain.from_iterable(stems[: last + 1]))
        # Presearch keys: every stem, and "" (the key of rules posted under one clause).
        self.keys: frozenset[str] = self.default_stems.union(*stems[last + 1 :], ("",))
        self._field_stems: dict[int, frozenset[str]] = {}
        self._positions: dict[int | None, dict[str, list[int]]] = {}
        self._spans: dict[int, _Chunks | list[int] | list[tuple[int, int]]] = {}
        self._folded: dict[str, list[int]] | None = None
        self._lines: str | None = None
        self._prefix_keys: frozenset[str] | None = None
        self._scans = 0
        self.terms_made: dict[tuple[int, int], Any] = {}  # token range -> its hit.Term, once made
        self.words_made: dict[tuple[int, int], tuple[str, str]] = {}  # token range -> (folded, as written)
        self._tok_words: dict[int, list[str]] = {}  # per field: each token as written, once asked
        self._word_ranges: dict[tuple[str, int | None], tuple[list[int], tuple[tuple[int, int], ...]]] = {}
        self._pairs: dict[int, tuple[int, int]] = {}  # token -> (token, token), one object per token
        self._scanned: dict[int | None, dict[str, list[int]]] = {}  # scope -> stem -> its positions
        self._index_only: Collection[str] | Callable[[], Collection[str]] | None = None
        self._joined: dict[int | None, str | None] = {}

    @property
    def tok_field(self) -> list[int]:
        """Each token's field number (made on first use: only phrases, scopes and hits ask)."""
        if self._tok_field is None:
            self._tok_field = list(
                chain.from_iterable(repeat(f, hi - lo) for f, (lo, hi) in enumerate(self.bounds))
            )
        return self._tok_field

    def raw_words(self) -> list[list[str]]:
        """Per field, its raw words (kept when the Document analyzed its texts, else found now)."""
        if self._raws is None:
            self._raws = [_RAW_RE.findall(text) if text else [] for text in self.texts]
        return self._raws

    def index_only(self, stems: Collection[str] | Callable[[], Collection[str]]) -> None:
        """Promise that positions will be asked for these stems (those of the rules that matched),
        or for those a function returns (called on first use: most matches never ask): the positions
        index then holds only them, is cheap, and is built on first use. Another stem is still
        found, by a scan."""
        if self._index_only is None and self._positions:
            return  # a full index is built already: it serves every stem
        self._index_only = stems
        self._positions.clear()  # an index of other promised stems would miss some of these

    def prefix_keys(self) -> frozenset[str]:
        """Presearch keys for prefix queries: the mark plus the first letters of every word."""
        if self._prefix_keys is None:
            keys: set[str | None] = set()
            for raws in self.raw_words():
                keys.update(map(_single_prefix.get, raws))
            if None in keys:  # a word of several tokens, or one the caches dropped: the slow way
                keys.discard(None)
                rare = {r for raws in self.raw_words() for r in raws if r not in _single_prefix}
                keys.update(PREFIX_MARK + p[2][:PREFIX_KEY_LEN] for r in rare for p in pieces(r))
            self._prefix_keys = frozenset(keys)  # type: ignore[arg-type]
        return self._prefix_keys

    def _range(self, scope: int | None) -> range:
        """Token numbers of the default fields (scope None) or of one field."""
        if scope is None:
            return range(self.bounds[max(DEFAULT_FIELDS)][1])
        return range(*self.bounds[scope])

    def stems_in(self, scope: int | None) -> frozenset[str]:
        """The stems of the default fields (scope None) or of one field."""
        if scope is None:
            return self.default_stems
        found = self._field_stems.get(scope)
        if found is None:
            lo, hi = self.bounds[scope]
            found = self._field_stems[scope] = frozenset(self.tok_stem[lo:hi])
        return found

    def occurrences(self, stem: str, scope: int | None) -> list[int]:
        """The token numbers of one stem in scope.

        The first few calls scan the token list at C speed; after that (many phrase rules are
        being checked) the item builds a full stem -> positions index once and uses it.
        """
        if callable(self._index_only):
            self._index_only = self._index_only()
        index = self._positions.get(scope)
        if index is None:
            self._scans += 1
            only = self._index_only
            if (only is None and self._scans <= _SCANS_BEFORE_INDEX) or (
                only is not None and len(only) <= _SCANS_BEFORE_INDEX
            ):  # a few stems: each scanned at C speed, once (a scan finds every position: always valid)
                memo = self._scanned.setdefault(scope, {})
                found = memo.get(stem)
                if found is None:
                    found = memo[stem] = self._scan(stem, self._range(scope))
                return found
            index = self._positions[scope] = self._index(self._range(scope))
        found = index.get(stem)
        if found is None:
            only = self._index_only
            return [] if only is None or stem in only else self._scan(stem, self._range(scope))
        return found

    def word_ranges(self, stem: str, scope: int | None) -> tuple[list[int], tuple[tuple[int, int], ...]]:
        """The occurrences of a stem in scope, and the same as (token, token) ranges, found once per item
        (the hits of many rules share words); one range object per token."""
        key = (stem, scope)
        found = self._word_ranges.get(key)
        if found is None:
            tokens = self.occurrences(stem, scope)
            pairs = self._pairs
            ranges = tuple(pairs.setdefault(t, (t, t)) for t in tokens)
            found = self._word_ranges[key] = (tokens, ranges)
        return found

    def token_ranges(self, tokens: Iterable[int]) -> tuple[tuple[int, int], ...]:
        """(token, token) of each token, the objects `word_ranges` gave (of tokens it gave)."""
        return tuple(map(self._pairs.__getitem__, tokens))

    def joined(self, scope: int | None) -> str | None:
        """The stems in scope as one string: each stem between two NUL characters, a \\x01 between
        fields. A phrase (slop 0) occurs in scope exactly when NUL + its stems joined by NUL + NUL is
        a substring of it: one C-speed search. None if a stem holds either character (no stem of
        letters and digits does): the caller then scans the tokens."""
        if scope in self._joined:
            return self._joined[scope]
        fields = sorted(DEFAULT_FIELDS) if scope is None else [scope]
        stems = [self.tok_stem[slice(*self.bounds[f])] for f in fields]
        stems = [field for field in stems if field]
        text = "\1".join("\0" + "\0".join(field) + "\0" for field in stems)
        nuls, breaks = sum(len(field) + 1 for field in stems), max(0, len(stems) - 1)
        # a stem holding a NUL or a \x01 (none does): None, and the caller scans instead
        found = self._joined[scope] = text if (text.count("\0"), text.count("\1")) == (nuls, breaks) else None
        return found

    def _index(self, where: range) -> dict[str, list[int]]:
        """Stem -> token numbers within a range (only the promised stems, if any: their tokens are
        picked out at C speed first, most of an item's tokens are of no promised stem)."""
        index: dict[str, list[int]] = {}
        only = self._index_only
        assert not callable(only)
        stems = self.tok_stem
        tokens: Iterable[int] = range(where.start, where.stop)
        if only is not None:
            tokens = compress(tokens, map(only.__contains__, stems[where.start : where.stop]))
        for tok in tokens:
            stem_ = stems[tok]
            found = index.get(stem_)
            if found is None:
                index[stem_] = [tok]
            else:
                found.append(tok)
        return index

    def _scan(self, stem: str, where: range) -> list[int]:
        """The token numbers of a stem within a range, by repeated list.index."""
        lo, hi, stems = where.start, where.stop, self.tok_stem
        found: list[int] = []
        while True:
            try:
                lo = stems.index(stem, lo, hi)
            except ValueError:
                return found
            found.append(lo)
            lo += 1

    def offsets(self, first: int, last: int) -> tuple[int, int]:
        """Where tokens first..last (of one field) start and end in their field's text."""
        field_id = self.tok_field[first]
        spans = self._spans.get(field_id)
        if spans is None:
            lo, hi = self.bounds[field_id]
            chunks = None if self._simple[field_id] else _Chunks.of(self.texts[field_id], hi - lo)
            spans = self._spans[field_id] = chunks or self._field_spans(field_id)
        lo = self.bounds[field_id][0]
        if isinstance(spans, _Chunks):
            if first == last:
                return spans.span(first - lo)
            return spans.span(first - lo)[0], spans.span(last - lo)[1]
        if self._simple[field_id]:  # spans: every word's start and end offsets, alternating
            return spans[2 * (first - lo)], spans[2 * (last - lo) + 1]  # type: ignore[return-value]
        return spans[first - lo][0], spans[last - lo][1]  # type: ignore[index]

    def token_text(self, first: int, last: int) -> str:
        """The text as written of tokens `first` to `last` (one field): what their offsets cut from it.

        One token is found in its field's words as written (`_token_words`), without working out any
        offset; a range of several (a phrase) is cut at its offsets."""
        field_id = self.tok_field[first]
        if first == last:
            return self.field_words(field_id)[first - self.bounds[field_id][0]]
        start, end = self.offsets(first, last)
        return self.texts[field_id][start:end]

    def field_words(self, field_id: int) -> list[str]:
        """Each token of a field as written (its text between its offsets), found once (`_token_words`)."""
        words = self._tok_words.get(field_id)
        if words is None:
            words = self._tok_words[field_id] = self._token_words(field_id)
        return words

    def _token_words(self, field_id: int) -> list[str]:
        """Each token of a field as written: its raw words (one C-speed `findall`), each one token when
        the field is simple (the offsets of such a field are its raw words' bounds, `_field_spans`),
        else cut into their tokens (`pieces`, cached), as the offsets cut them."""
        raws = self._raws[field_id] if self._raws is not None else _RAW_RE.findall(self.texts[field_id])
        if self._simple[field_id]:
            return raws
        words: list[str] = []
        for raw in raws:
            found = pieces(raw)
            if len(found) == 1 and found[0][0] == 0 and found[0][1] == len(raw):
                words.append(raw)
            else:
                words.extend(raw[p[0] : p[1]] for p in found)
        return words

    def _field_spans(self, field_id: int) -> list[int] | list[tuple[int, int]]:
        """Offsets of a field's tokens, from the lengths of its separators and raw words (only items
        that matched get here: most items are analyzed, found to match nothing, and dropped)."""
        ends = list(accumulate(map(len, _SPLIT_RE.split(self.texts[field_id]))))
        if self._simple[field_id]:
            return ends  # raw word k starts at ends[2k] and ends at ends[2k + 1]
        spans: list[tuple[int, int]] = []
        for k, found in enumerate(map(pieces, self.raw_words()[field_id])):
            start = ends[2 * k]
            if len(found) == 1:
                spans.append((start, ends[2 * k + 1]))
            else:
                spans.extend((start + p[0], start + p[1]) for p in found)
        return spans

    def folded_index(self) -> dict[str, list[int]]:
        """Folded word (as written, not stemmed) -> token numbers, all fields."""
        if self._folded is None:
            index: dict[str, list[int]] = {}
            tok = 0
            for raws in self.raw_words():
                for raw in raws:
                    for piece in pieces(raw):
                        index.setdefault(piece[2], []).append(tok)
                        tok += 1
            self._folded = index
        return self._folded

    def folded_lines(self) -> str:
        """The distinct folded words, one per line (for testing a regex against all at once)."""
        if self._lines is None:
            self._lines = "\n".join(self.folded_index())
        return self._lines


class _Chunks:
    """Where a field's tokens are, found from its chunks (`analyze_text`) when the text's only
    whitespace is spaces, tabs and line breaks: each chunk's offset by C-speed sums of lengths, each
    chunk's number of tokens from the chunk caches; one token's offsets then take a bisection and
    a look inside its chunk. Much cheaper than splitting the whole text into raw words with the
    regular expression (`Document._field_spans`, the fallback), which gives the same offsets."""

    __slots__ = ("before", "chunks", "ends", "found", "place")

    def __init__(
        self, chunks: list[str], before: list[int], ends: list[int], place: list[int] | None
    ) -> None:
        self.chunks, self.ends = chunks, ends  # ends: the tokens up to each chunk's end
        self.before, self.place = before, place  # the length of the parts before each; each chunk's part
        self.found: dict[int, tuple[int, int]] = {}  # token -> its offsets, once found

    @classmethod
    def of(cls, text: str, tokens: int) -> _Chunks | None:
        """The layout of a field of `tokens` tokens; None when its whitespace is of other kinds."""
        for char in "-/\n\t\r":  # one character for another: the offsets stay (analyze_text's chunks)
            if char in text:
                text = text.replace(char, " ")
        parts = text.split(" ")
        chunks = list(filter(None, parts))
        if not text.isprintable() and chunks != text.split():  # printable: no whitespace but spaces
            return None  # other whitespace (a no-break space, ...): the regular expression's way
        found: list[str | None] = list(map(_chunk_stem.get, chunks))
        counts: list[int] = list(map(bool, found))
        at, after = -1, found.index
        for _ in range(found.count(None)):  # chunks of several tokens, or not cached: a few
            at = after(None, at + 1)
            cached = _chunk_stems.get(chunks[at])
            counts[at] = len(_chunk(chunks[at]) if cached is None else cached)
        ends = list(accumulate(counts))
        if (ends[-1] if ends else 0) != tokens:
            return None  # not the analysis's tokens (cannot happen): the regular expression's way
        # chunk k starts after the parts before it and one space after each: parts == chunks unless
        # the text has runs of spaces (or starts or ends with one)
        lengths = list(map(len, parts))
        place = None if len(parts) == len(chunks) else list(compress(count(), lengths))
        return cls(chunks, list(accumulate(lengths, initial=0)), ends, place)

    def span(self, token: int) -> tuple[int, int]:
        """Where a token (numbered within its field) starts and ends in the field's text."""
        found = self.found.get(token)
        if found is None:
            found = self.found[token] = self._span(token)
        return found

    def _span(self, token: int) -> tuple[int, int]:
        at = bisect_right(self.ends, token)
        left = token - (self.ends[at - 1] if at else 0)
        part = at if self.place is None else self.place[at]
        chunk, base = self.chunks[at], self.before[part] + part
        for m in _RAW_RE.finditer(chunk):
            found = pieces(m.group())
            if left < len(found):
                start, end = found[left][0], found[left][1]
                return base + m.start() + start, base + m.start() + end
            left -= len(found)
        raise AssertionError("a token beyond its chunk")  # the counts are the chunk's own


def _plain_text(value: str | Sequence[str] | None) -> str:
    """A field value as plain text: several values (categories) are joined by spaces.

    Spaces, not commas: match offsets stored in the database point into this text, and they
    were computed on space-joined categories (matching is the same either way).
    """
    if not value:
        return ""
    return value if isinstance(value, str) else " ".join(value)


def analyze_item(fields: Mapping[str, str | Sequence[str]]) -> Document:
    """Analyze an item once (title, summary, content, author, category, feed, link; missing = empty).

    A field may hold several strings (the categories of an entry): they are joined with spaces.
    """
    return Document(item_texts(fields))


def item_texts(fields: Mapping[str, str | Sequence[str]]) -> tuple[str, ...]:
    """The text of each field of FIELDS, as `analyze_item` reads them."""
    return tuple(_plain_text(fields.get(name)) for name in FIELDS)
