"""The query language (Lucene query_string syntax, AND by default): parse, analyze, evaluate, index.

Public surface (the rest of monitor uses only these names):

    compile_query(text, aliases=None) -> Query        raises QuerySyntaxError(col, message)
    analyze_item(fields) -> Document                  fields: title, summary, content, author,
                                                      category, feed, link (plain text)
    Query.text; Query.evaluate(doc) -> Hit | None
    Hit.terms: tuple[Term, ...]                       each: field, text as written, start, end
    Hit.matched_terms -> tuple[str, ...]              distinct words as written in the item
    Hit.snippet(doc, width=240) -> records.Snippet    a sentence around the terms, spans inside it
    Matcher(rules: Mapping[name, Query]).match(doc) -> dict[name, Hit]   (indexed; same result as
                                                      evaluating every rule)
"""

from __future__ import annotations

# Placeholder until the implementation lands; the names above are the contract.
Query = object
