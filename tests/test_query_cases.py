"""The query language case table (tests/data/queries.yaml), each case both evaluated and through a Matcher."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
import yaml

from monitor.errors import QuerySyntaxError
from monitor.query import Matcher, analyze_item, compile_query

DATA = Path(__file__).parent / "data"
CASES: list[dict[str, Any]] = yaml.safe_load((DATA / "queries.yaml").read_text(encoding="utf-8"))


def item_fields(case: dict[str, Any]) -> dict[str, Any]:
    """The item a case describes: per-field texts, the seed article, or `text` as content."""
    if case.get("seed"):
        title, _, content = (
            (DATA / "ukraine-coalition-article.txt").read_text(encoding="utf-8").partition("\n")
        )
        return {"title": title, "content": content}
    if "fields" in case:
        return {name: text if isinstance(text, list) else str(text) for name, text in case["fields"].items()}
    text = str(case["text"])
    if case.get("long"):
        text = "filler words about nothing in particular. " * case["long"] + text
    return {"content": text}


def case_id(case: dict[str, Any]) -> str:
    """A readable test id."""
    what = "seed" if case.get("seed") else str(case.get("text", case.get("fields", "error")))[:30]
    return f"{case['query']} ~ {what}"


def test_the_table_is_big_enough() -> None:
    assert len(CASES) >= 80


@pytest.mark.parametrize("case", CASES, ids=[case_id(c) for c in CASES])
def test_case(case: dict[str, Any]) -> None:
    if "error" in case:  # refused: the error points at this column
        with pytest.raises(QuerySyntaxError) as err:
            compile_query(case["query"], case.get("aliases"))
        assert err.value.col == case["error"]
        return
    query = compile_query(case["query"], case.get("aliases"))
    doc = analyze_item(item_fields(case))
    hit = query.evaluate(doc)
    assert (hit is not None) == case["match"]
    assert (query.text in Matcher({query.text: query}).match(doc)) == case["match"]
    if hit is not None and "matched_terms" in case:
        assert list(hit.matched_terms) == [str(t) for t in case["matched_terms"]]
    if hit is not None:
        texts = {k: ", ".join(v) if isinstance(v, list) else v for k, v in item_fields(case).items()}
        for term in hit.terms:
            assert texts[term.field][term.start : term.end] == term.text
