"""Lucene's classic query parser forms, case by case (written from its documentation, not copied).

Each form we support is accepted with Lucene's meaning (checked on an item it must match and one it
must not); each form we do not support is refused with an error at a column inside the query. None
crashes.
"""

from __future__ import annotations

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from monitor.errors import QuerySyntaxError
from monitor.query import analyze_item, compile_query

# (query, an item it matches, an item it does not match); items are content text.
ACCEPTED = [
    ("jakarta", "jakarta apache", "apache"),  # term
    ("jakarta apache", "apache jakarta", "jakarta"),  # two terms (default AND here; Lucene's default is OR)
    ('"jakarta apache"', "the jakarta apache project", "apache jakarta"),  # phrase
    ('"jakarta apache"~10', "jakarta is an apache thing", "apache"),  # proximity
    ('"jakarta apache"~2', "apache jakarta", "apache is not jakarta"),  # reversed: 2 moves
    ("te?t", "a test", "a toast"),  # single-character wildcard
    ("test*", "tests and testing", "a toast"),  # multi-character wildcard
    ("te*t", "a tent", "a team"),  # wildcard inside
    ("jakarta^4 apache", "jakarta apache", "apache"),  # boost, ignored
    ('"jakarta apache"^4 project', "jakarta apache project", "jakarta project"),  # phrase boost
    ("(jakarta OR apache)^2 website", "apache website", "website"),  # group boost
    ('"jakarta apache" OR jakarta', "jakarta", "apache"),  # OR
    ('"jakarta apache" || jakarta', "jakarta", "apache"),  # ||
    ('"jakarta apache" AND "Apache Lucene"', "jakarta apache and apache lucene", "jakarta apache"),
    ('"jakarta apache" && lucene', "jakarta apache lucene", "jakarta apache"),  # &&
    ("+jakarta lucene", "jakarta lucene", "lucene"),  # required
    ('"jakarta apache" NOT "Apache Lucene"', "jakarta apache", "jakarta apache apache lucene"),
    ('"jakarta apache" -"Apache Lucene"', "jakarta apache", "jakarta apache apache lucene"),  # prohibit
    ('"jakarta apache" !lucene', "jakarta apache", "jakarta apache lucene"),  # !
    ("(jakarta OR apache) AND website", "apache website", "jakarta"),  # grouping
    ('title:(+return +"pink panther")', None, None),  # field grouping (checked below)
    ("title:jakarta", None, None),  # field
    ('title:"the right way" AND content:go', None, None),  # field phrase
    ("/jak.rta/", "jakarta", "jakata"),  # regular expression
    ("\\(1\\+1\\)\\:2", "1 1 2", "3"),  # escapes
    ("jakarta\u00a0apache", "apache and jakarta", "apache"),  # a no-break space separates words
]

# (query, the column its error must point at)
REFUSED = [
    ("roam~", 5),  # fuzzy
    ("roam~1", 5),
    ("roam~0.8", 5),
    ("mod_date:[20020101 TO 20030101]", 1),  # unknown field, before the range is reached
    ("title:[20020101 TO 20030101]", 7),  # inclusive range
    ("title:{Aida TO Carmen}", 7),  # exclusive range
    ("[a TO c]", 1),
    ("{a TO c}", 1),
    ("jakarta AND apache OR lucene", 9),  # explicit AND beside OR: two readings
    ("jakarta OR apache AND lucene", 19),
    ("(jakarta apache", 16),
    ("jakarta apache)", 15),
    ('"jakarta apache', 1),
    ("title:", 7),
    ("^4", 1),
    ("", 1),
    ("jakarta AND", 12),
]

FIELD_CASES = [
    (
        'title:(+return +"pink panther")',
        {"title": "the pink panther return"},
        {"content": "pink panther return"},
    ),
    ("title:jakarta", {"title": "jakarta"}, {"content": "jakarta"}),
    (
        'title:"the right way" AND content:go',
        {"title": "the right way", "content": "go"},
        {"title": "the way right", "content": "go"},
    ),
]


@pytest.mark.parametrize(("query", "hit", "miss"), [c for c in ACCEPTED if c[1] is not None])
def test_supported_forms_mean_what_they_mean_in_lucene(query: str, hit: str, miss: str) -> None:
    compiled = compile_query(query)
    assert compiled.evaluate(analyze_item({"content": hit})) is not None
    assert compiled.evaluate(analyze_item({"content": miss})) is None


@pytest.mark.parametrize(("query", "hit", "miss"), FIELD_CASES)
def test_field_forms_mean_what_they_mean_in_lucene(
    query: str, hit: dict[str, str], miss: dict[str, str]
) -> None:
    compiled = compile_query(query)
    assert compiled.evaluate(analyze_item(hit)) is not None
    assert compiled.evaluate(analyze_item(miss)) is None


@pytest.mark.parametrize(("query", "col"), REFUSED)
def test_unsupported_forms_are_refused_at_a_column_inside_the_query(query: str, col: int) -> None:
    with pytest.raises(QuerySyntaxError) as err:
        compile_query(query)
    assert err.value.col == col
    assert 1 <= err.value.col <= len(query) + 1


LUCENE_PIECES = [
    "jakarta", "apache", '"jakarta apache"', "~2", "^4", "^1.5", "*", "?", "(", ")", "[", "]", "{", "}",
    " TO ", " AND ", " OR ", " NOT ", "&&", "||", "!", "+", "-", "title:", "content:", "/jak.*/", "\\:",
    " ", "\u00a0", "\u3000", "\t",
]  # fmt: skip


@settings(max_examples=500, deadline=None)
@given(st.lists(st.sampled_from(LUCENE_PIECES), max_size=12).map("".join))
def test_any_mix_of_lucene_syntax_compiles_or_is_refused_at_a_column(query: str) -> None:
    try:
        compile_query(query)
    except QuerySyntaxError as err:
        assert 1 <= err.col <= len(query) + 1
