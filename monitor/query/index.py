"""The presearcher: an index from terms to rules, so an item is evaluated only against rules that can match.

Each rule's presearch condition is a list of clauses (sets of keys: stems, or prefix marks); an
item can only match if it has a key of every clause. A rule is posted under its two cheapest
clauses: postings[key1][key2] (key2 "" when it has one clause). For an item, the candidates are
the rules whose key1 and key2 are both among the item's keys. Rules with no clause (only negative,
regex or short-prefix terms) are always checked. Candidates are then evaluated exactly, so the
result is what evaluating every rule returns. A rule that is only words joined by AND (the usual
rule) is evaluated as one subset test of its stems against the item's stems.
"""

from __future__ import annotations

from collections.abc import Mapping

from monitor.query.analyze import Document
from monitor.query.compile import Query
from monitor.query.hit import Hit
from monitor.query.nodes import AndNode, Node, WordNode, clause_cost

_MAX_PAIRS = 64  # more key1 x key2 postings than this for one rule: post under key1 only


def _plain_words(root: Node) -> frozenset[str] | None:
    """The stems of a rule that is only default-field words joined by AND, else None."""
    nodes = root.children if isinstance(root, AndNode) else (root,)
    if all(isinstance(n, WordNode) and n.scope is None for n in nodes):
        return frozenset(n.stem for n in nodes)  # type: ignore[attr-defined]
    return None


class Matcher:
    """Match an item against many rules at once, through the term index."""

    def __init__(self, rules: Mapping[str, Query]) -> None:
        self._names = list(rules)
        self._queries = [rules[name] for name in self._names]
        self._plain = [_plain_words(q.root) for q in self._queries]
        self._always: list[int] = []
        self._postings: dict[str, dict[str, list[int]]] = {}
        for idx, query in enumerate(self._queries):
            self._post(idx, query)
        self._first_keys = frozenset(self._postings)

    def _post(self, idx: int, query: Query) -> None:
        clauses = sorted(set(query.root.clauses()), key=lambda c: (clause_cost(c), sorted(c)))
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
        for key1 in keys & self._first_keys:  # set & set walks the smaller one
            sub = postings[key1]
            for key2 in keys.intersection(sub):
                found.update(sub[key2])
            unpaired = sub.get("")
            if unpaired:
                found.update(unpaired)
        return sorted(found)

    def match(self, doc: Document) -> dict[str, Hit]:
        """Rule name -> Hit for every rule that matches the analyzed item."""
        hits = {}
        stems = doc.default_stems
        plain, queries, names = self._plain, self._queries, self._names
        for idx in self.candidates(doc):
            required = plain[idx]
            if required is None:
                hit = queries[idx].evaluate(doc)
                if hit is not None:
                    hits[names[idx]] = hit
            elif required <= stems:
                hits[names[idx]] = Hit.of(doc, queries[idx].root)
        return hits
