"""The one fold: dedup, query words and query literals agree on what a folded word is."""

from __future__ import annotations

import pytest

from monitor.dedup import title_key
from monitor.query import analyze_item, compile_query
from monitor.textfold import fold


def test_fold_drops_case_and_accents_and_reads_typographic_apostrophes() -> None:
    assert fold("Zürich ÉCOLE ﬁne") == "zurich ecole fine"
    assert fold("O’Brien Oʼahu") == "o'brien o'ahu"
    assert fold("PLAIN ascii") == "plain ascii"


@pytest.mark.parametrize("query", ["o'bri*", "o’bri*", "oʼbri*", "/o.bri.n/", "/oʼbrien/"])
def test_a_wildcard_or_regex_folds_its_apostrophe_as_the_words_do(query: str) -> None:
    """Every apostrophe the tokenizer reads as one is the same apostrophe inside a wildcard or regex."""
    doc = analyze_item({"title": "O’Brien resigns"})
    assert compile_query(query).matches(doc)


def test_dedup_folds_case_and_accents_as_the_query_does() -> None:
    assert title_key("O'BRIEN in Zurich") == title_key("O’Brien in Zürich")
