"""The query language (Lucene query_string syntax, AND by default): parse, analyze, evaluate, index.

Public surface (the rest of monitor uses only these names):

    compile_query(text, aliases=None) -> Query        raises QuerySyntaxError(col, message)
    analyze_item(fields) -> Document                  fields: title, summary, content, author,
                                                      category, feed, link (plain text)
    Query.text; Query.evaluate(doc) -> Hit | None
    Hit.terms: tuple[Term, ...]                       each: field, text as written, start, end
    Hit.tokens -> tuple[(first, last), ...] | None    the token ranges the terms are made of
    Hit.matched_terms -> tuple[str, ...]              distinct words as written in the item
    Hit.snippet(doc, width=240) -> records.Snippet    a sentence around the terms, spans inside it
    Matcher(rules: Mapping[name, Query]).match(doc) -> dict[name, Hit]   (indexed; same result as
                                                      evaluating every rule)

Also: `Query.matches(doc) -> bool` (no terms collected), `Matcher.candidates(doc)`, `FIELDS`, and
`stem_frequencies(docs)` -> `Matcher(rules, frequencies=...)` to post rules under their rarest words.
Modules: analyze (tokens, folding, stemming), syntax (parser), compile (aliases, patterns, Query),
nodes (evaluation and presearch clauses), hit (Term, Hit, snippets), index (Matcher).
"""

from __future__ import annotations

from monitor.query.analyze import FIELDS, Document, analyze_item
from monitor.query.compile import Aliases, Query, QueryCompiler, compile_query
from monitor.query.hit import Hit, Term
from monitor.query.index import Matcher, StemCounts, stem_frequencies

__all__ = [
    "FIELDS",
    "Aliases",
    "Document",
    "Hit",
    "Matcher",
    "Query",
    "QueryCompiler",
    "StemCounts",
    "Term",
    "analyze_item",
    "compile_query",
    "stem_frequencies",
]
