"""Property: the fast analyzer (`analyze_text`: chunks between spaces, hyphens and slashes, each one's
stems cached) returns exactly what the plain word-by-word analysis returns (the reference below: every
raw word of the text, its tokens and their stems), cold or warm, and across a cache eviction."""

from __future__ import annotations

import sys

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.query import analyze
from monitor.query.analyze import FIELDS, Document, analyze_text, pieces, tokenize

# what the analyzer resolves (acronyms, numbers, apostrophes, hyphens, slashes), accents, other
# scripts, mojibake as real feeds hold it, and every kind of whitespace str.split() splits on
pieces_ = st.sampled_from(
    [
        *("peace", "deal", "U.K.", "1,000", "3.5", "don't", "NATO’s", "Zürich", "STRASSE", "a.b,c", "x_y"),
        *("-", ",", ".", " ", "\n", "北京", "İstanbul", "ﬁnal", "talks.", "'s", "e.g.", "U.S.-led", "R&B"),
        *("Â£1.5bn", "£35bn", "10,000m", "well-known", "and/or", "—", "–", "(BBC)", "“quote”", "’", "'"),
        *("\xa0", "\u2028", "\u3000", "\x1c", "\t", "..", ",,", "s'", "1.5.6", "a-", "-b", "/", "ǅ", "ﷺ"),
    ]
)
texts = st.one_of(st.text(max_size=80), st.lists(pieces_, max_size=30).map("".join))


def reference(text: str) -> tuple[tuple[str, ...], bool]:
    """The plain analysis of one field: the stems of its tokens; whether each raw word is one token."""
    raws = analyze._RAW_RE.findall(text)
    return tuple(t.stem for t in tokenize(text)), all(len(pieces(raw)) == 1 for raw in raws)


def clear_caches() -> None:
    for cache in (analyze._chunk_stem, analyze._chunk_stems, analyze._chunk_split):
        cache.clear()


@settings(max_examples=500, deadline=None)
@given(texts)
def test_the_fast_analysis_is_the_word_by_word_one_cold_and_warm(text: str) -> None:
    expected = reference(text)
    clear_caches()
    assert analyze_text(text) == expected  # every chunk new
    assert analyze_text(text) == expected  # every chunk cached
    assert analyze_text(text + " " + text) == (expected[0] * 2, expected[1])


@settings(max_examples=200, deadline=None)
@given(st.lists(texts, min_size=len(FIELDS), max_size=len(FIELDS)))
def test_a_document_of_the_fast_analysis_has_the_plain_tokens_and_offsets(fields: list[str]) -> None:
    doc = Document(tuple(fields))
    assert doc.tok_stem == [t.stem for text in fields for t in tokenize(text)]
    for field_id, text in enumerate(fields):
        lo, hi = doc.bounds[field_id]
        expected = [(t.start, t.end) for t in tokenize(text)]
        assert [doc.offsets(i, i) for i in range(lo, hi)] == expected


def test_the_caches_are_dropped_when_full_and_the_analysis_stays_the_same(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(analyze, "CHUNK_LIMIT", 5)
    clear_caches()
    text = "U.S.-led talks, 1.5bn ‘x’ R&B Â£1.5bn said and/or — peace deal; Zürich’s STRASSE"
    expected = reference(text)
    for shift in range(12):
        rotated = " ".join(text.split()[shift:] + text.split()[:shift])
        assert analyze_text(rotated) == reference(rotated)
        assert analyze_text(text) == expected
        assert len(analyze._chunk_stem) + len(analyze._chunk_stems) <= 5 + len(text.split())


def test_no_separator_the_chunks_are_split_on_can_be_inside_a_raw_word() -> None:
    """What makes chunking exact: every character str.split() splits on, and "-" and "/", is outside
    every raw word (no letter or digit, no dot, comma or apostrophe)."""
    separators = [chr(c) for c in range(sys.maxunicode + 1) if chr(c).isspace()] + ["-", "/"]
    assert len(separators) > 20
    for sep in separators:
        assert analyze._RAW_RE.findall(f"a{sep}b") == ["a", "b"], repr(sep)
