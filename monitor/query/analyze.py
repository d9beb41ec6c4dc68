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
- Stemming: Snowball English (PyStemmer) on the folded word, so "militaries" and "military" are both
  "militari" and "meeting" is "meet", while "UK" ("uk") never matches "Ukraine" ("ukrain").
  Prefix wildcards and regular expressions see the folded word, not the stem.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping
from dataclasses import dataclass

import Stemmer

FIELDS: tuple[str, ...] = ("title", "summary", "content", "author", "category", "feed", "link")
DEFAULT_FIELDS: frozenset[int] = frozenset({0, 1, 2})  # title, summary, content
PREFIX_KEY_LEN = 3
PREFIX_MARK = "\x01"  # presearch keys for prefixes: mark + first PREFIX_KEY_LEN folded letters

_L = r"[^\W_]"  # a Unicode letter or digit
_LETTER = r"[^\W\d_]"
_APOS = "'’ʼ"
_WORD_RE = re.compile(
    rf"(?<!{_L})(?P<acro>{_LETTER}(?:\.{_LETTER})+)\.?(?!{_L})"  # U.K. U.S.
    rf"|(?P<num>\d+(?:[.,]\d+)+)(?!{_L})"  # 1,000 3.5
    rf"|{_L}+(?:[{_APOS}]{_L}+)*"  # words, don't, O'Brien
)
_APOS_TABLE = str.maketrans({"’": "'", "ʼ": "'"})
_CACHE_LIMIT = 200_000

_stemmer = Stemmer.Stemmer("english")
_cache: dict[str, tuple[str, str]] = {}


def fold(word: str) -> str:
    """Case- and accent-fold one word; drop a possessive "'s" and a trailing apostrophe."""
    if word.isascii():
        folded = word.lower()
    else:
        folded = unicodedata.normalize("NFKD", word.translate(_APOS_TABLE).casefold())
        folded = "".join(ch for ch in folded if not unicodedata.combining(ch))
    if folded.endswith("'s"):
        folded = folded[:-2]
    return folded.rstrip("'")


def normalize(word: str) -> tuple[str, str]:
    """The (folded, stem) pair of one word as written, cached."""
    pair = _cache.get(word)
    if pair is None:
        folded = fold(word)
        pair = (folded, _stemmer.stemWord(folded) if len(folded) > 2 else folded)
        if len(_cache) >= _CACHE_LIMIT:
            _cache.clear()
        _cache[word] = pair
    return pair


@dataclass(frozen=True, slots=True)
class Token:
    """One word of a text: its offsets in the text, folded form and stem."""

    start: int
    end: int
    folded: str
    stem: str


def tokenize(text: str) -> list[Token]:
    """Split text into analyzed word tokens (see the module docstring for the rules)."""
    tokens = []
    for m in _WORD_RE.finditer(text):
        folded, stem = normalize(_raw_word(m))
        if folded:
            tokens.append(Token(m.start(), m.end(), folded, stem))
    return tokens


def _raw_word(m: re.Match[str]) -> str:
    """The word of a tokenizer match, without acronym dots or thousands commas."""
    if m.group("acro"):
        return m.group("acro").replace(".", "")
    if m.group("num"):
        return m.group().replace(",", "")
    return m.group()


class Document:
    """An analyzed item: per-token field, offsets, folded form and stem, plus lookup tables.

    Tokens of all fields share one numbering (field by field, in FIELDS order); `tok_field[i]`
    says which field token i is in, so phrases never cross a field boundary.
    """

    __slots__ = (
        "default_index",
        "field_index",
        "folded_index",
        "keys",
        "texts",
        "tok_end",
        "tok_field",
        "tok_folded",
        "tok_start",
        "tok_stem",
    )

    def __init__(self, texts: tuple[str, ...]) -> None:
        self.texts = texts
        self.tok_field: list[int] = []
        self.tok_start: list[int] = []
        self.tok_end: list[int] = []
        self.tok_folded: list[str] = []
        self.tok_stem: list[str] = []
        self.default_index: dict[str, list[int]] = {}  # stem -> tokens in title, summary, content
        self.field_index: tuple[dict[str, list[int]], ...] = tuple({} for _ in FIELDS)
        self.folded_index: dict[str, list[int]] = {}  # folded word -> tokens, all fields
        for field_id, text in enumerate(texts):
            if text:
                self._add_field(field_id, text)
        stems = set(self.default_index)
        for index in self.field_index[3:]:
            stems.update(index)
        stems.update(PREFIX_MARK + w[:PREFIX_KEY_LEN] for w in self.folded_index if len(w) >= PREFIX_KEY_LEN)
        self.keys: frozenset[str] = frozenset(stems)

    def _add_field(self, field_id: int, text: str) -> None:
        index = self.field_index[field_id]
        default = field_id in DEFAULT_FIELDS
        folded_index = self.folded_index
        for m in _WORD_RE.finditer(text):
            raw = m.group() if m.lastgroup is None else _raw_word(m)
            folded, stem = _cache.get(raw) or normalize(raw)
            if not folded:
                continue
            tok = len(self.tok_stem)
            self.tok_field.append(field_id)
            self.tok_start.append(m.start())
            self.tok_end.append(m.end())
            self.tok_folded.append(folded)
            self.tok_stem.append(stem)
            index.setdefault(stem, []).append(tok)
            if default:
                self.default_index.setdefault(stem, []).append(tok)
            folded_index.setdefault(folded, []).append(tok)

    def text_of(self, field_id: int) -> str:
        """The plain text of one field."""
        return self.texts[field_id]


def analyze_item(fields: Mapping[str, str]) -> Document:
    """Analyze an item once (title, summary, content, author, category, feed, link; missing = empty)."""
    return Document(tuple(fields.get(name) or "" for name in FIELDS))
