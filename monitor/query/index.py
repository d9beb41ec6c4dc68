"""The presearcher: an index from terms to rules, so an item is evaluated only against rules that can match.

Each rule's presearch condition is a list of clauses (sets of keys: stems, or prefix marks); an
item can only match if it has a key of every clause. A rule is posted under its two cheapest
clauses: posting[key1][key2] (key2 "" when it has one clause). For an item, the candidates are
the rules whose key1 and key2 are both among the item's keys. Rules with no clause (only negative,
regex or short-prefix terms) are always checked. Candidates are then fully evaluated, so the
result is exactly what evaluating every rule returns.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.query.analyze import Document
from monitor.query.compile import Query
from monitor.query.hit import Hit
from monitor.query.nodes import clause_cost

_MAX_PAIRS = 64  # more key1 x key2 postings than this for one rule: post under key1 only


class Matcher:
    """Match an item against many rules at once, through the term index."""

    def __init__(self, rules: Mapping[str, Query]) -> None:
        self._names = list(rules)
        self._queries = [rules[name] for name in self._names]
        self._always: list[int] = []
        self._postings: dict[str, dict[str, list[int]]] = {}
        for idx, query in enumerate(self._queries):
            self._post(idx, query)

    def _post(self, idx: int, query: Query) -> None:
        clauses = sorted(set(query.root.clauses()), key=clause_cost)
        if not clauses:
            self._always.append(idx)
            return
        first = clauses[0]
        second = clauses[1] if len(clauses) > 1 and len(first) * len(clauses[1]) <= _MAX_PAIRS else {""}
        for key1 in first:
            sub = self._postings.setdefault(key1, {})
            for key2 in second:
                sub.setdefault(key2, []).append(idx)

    def __len__(self) -> int:
        return len(self._queries)

    def candidates(self, doc: Document) -> list[int]:
        """Indexes of the rules that can match the item, in rule order."""
        keys = doc.keys
        found = set(self._always)
        postings = self._postings
        for key1 in keys & postings.keys():
            sub = postings[key1]
            for key2, rules in sub.items():
                if not key2 or key2 in keys:
                    found.update(rules)
        return sorted(found)

    def match(self, doc: Document) -> dict[str, Hit]:
        """Rule name -> Hit for every rule that matches the analyzed item."""
        hits = {}
        for idx in self.candidates(doc):
            hit = self._queries[idx].evaluate(doc)
            if hit is not None:
                hits[self._names[idx]] = hit
        return hits
