"""The presearcher: an index from terms to rules, so an item is evaluated only against rules that can match.

Each rule's presearch condition is a list of clauses (sets of keys: stems, or prefix marks); an
item can only match if it has a key of every clause. A rule is posted under its two cheapest
clauses: postings[key1][key2] (key2 "" when it has one clause; every item has the key "").
For an item, the candidates are the rules whose key1 and key2 are both among the item's keys.
Rules with no clause (only negative, regex or short-prefix terms) are always checked. Candidates
are then evaluated exactly, so the result is what evaluating every rule returns. A rule that is
only words joined by AND (the usual rule) is evaluated as one subset test of its stems.
"""

from __future__ import annotations

from collections import Counter
from collections.abc import Callable, Iterable, Mapping

from monitor.query.analyze import PREFIX_MARK, Document
from monitor.query.compile import Query
from monitor.query.hit import Hit
from monitor.query.nodes import Node, WordsNode, clause_cost

_PREFIX_COST = 0.5  # a 3-letter prefix, when stem frequencies are known: assume it is common
_MAX_PAIRS = 64  # more key1 x key2 postings than this for one rule: post under key1 only

# A posting: (rule number, stems of a plain AND-of-words rule or None, the rule's root node,
# whether the rule is posted more than once and so must be deduplicated).
Posting = tuple[int, frozenset[str] | None, Node, bool]


def _cost_function(frequencies: Mapping[str, float] | None) -> Callable[[frozenset[str]], float]:
    """How to rank clauses: by known stem frequencies (unknown stems are rare), else by a heuristic."""
    if frequencies is None:
        return clause_cost
    return lambda clause: sum(
        _PREFIX_COST if key.startswith(PREFIX_MARK) else frequencies.get(key, 0.0) for key in clause
    )


def stem_frequencies(docs: Iterable[Document]) -> dict[str, float]:
    """The share of the items holding each stem (for `Matcher(rules, frequencies=...)`)."""
    counts: Counter[str] = Counter()
    total = 0
    for doc in docs:
        counts.update(doc.keys)
        total += 1
    counts.pop("", None)
    return {stem: n / total for stem, n in counts.items()}


def _plain_words(root: Node) -> frozenset[str] | None:
    """The stems of a rule that is only default-field words joined by AND, else None."""
    if isinstance(root, WordsNode) and root.every and root.scope is None:
        return root.stems
    return None


class Matcher:
    """Match an item against many rules at once, through the term index."""

    def __init__(self, rules: Mapping[str, Query], frequencies: Mapping[str, float] | None = None) -> None:
        """Index the rules. `frequencies` (stem -> share of items holding it, see `stem_frequencies`)
        lets the index post each rule under its rarest words; without it, a heuristic guesses.
        """
        self._cost = _cost_function(frequencies)
        self._names = list(rules)
        self._roots = [rules[name].root for name in self._names]
        self._always: list[int] = []
        postings: dict[str, dict[str, list[Posting]]] = {}
        self._uses_prefixes = False  # some rule is posted under a prefix key
        for idx, root in enumerate(self._roots):
            self._post(idx, root, postings)
        self._first_keys = frozenset(postings)
        self._stems = [root.all_stems() for root in self._roots]  # each rule's stems, for Hit.terms
        # key1 -> (its key2s, key2 -> postings): an item's key2s are found by one set intersection.
        self._pairs = {key1: (frozenset(sub), sub) for key1, sub in postings.items()}

    def _post(self, idx: int, root: Node, postings: dict[str, dict[str, list[Posting]]]) -> None:
        cost = self._cost
        clauses = sorted(set(root.clauses(cost)), key=lambda c: (cost(c), sorted(c)))
        if not clauses:
            self._always.append(idx)
            return
        first = clauses[0]
        second = clauses[1] if len(clauses) > 1 and len(first) * len(clauses[1]) <= _MAX_PAIRS else {""}
        posting = (idx, _plain_words(root), root, len(first) * len(second) > 1)
        self._uses_prefixes |= any(k.startswith(PREFIX_MARK) for k in (*first, *second))
        for key1 in first:
            sub = postings.setdefault(key1, {})
            for key2 in second:
                sub.setdefault(key2, []).append(posting)

    def __len__(self) -> int:
        return len(self._roots)

    def _keys(self, doc: Document) -> frozenset[str]:
        return doc.keys | doc.prefix_keys() if self._uses_prefixes else doc.keys

    def candidates(self, doc: Document) -> list[int]:
        """Numbers of the rules that can match the item (both keys of a posting in it), in rule order."""
        keys, pairs, found = self._keys(doc), self._pairs, set(self._always)
        for key1 in keys & self._first_keys:
            key2s, sub = pairs[key1]
            for key2 in key2s & keys:
                found.update(p[0] for p in sub[key2])
        return sorted(found)

    def match(self, doc: Document) -> dict[str, Hit]:
        """Rule name -> Hit for every rule that matches the analyzed item (in rule order)."""
        stems, keys, pairs = doc.default_stems, self._keys(doc), self._pairs
        roots = self._roots
        matched = [idx for idx in self._always if roots[idx].test(doc)]
        seen: set[int] = set()
        for key1 in keys & self._first_keys:  # set & set walks the smaller one
            key2s, sub = pairs[key1]
            for key2 in key2s & keys:
                for idx, plain, root, multi in sub[key2]:
                    if multi:
                        if idx in seen:
                            continue
                        seen.add(idx)
                    if plain <= stems if plain is not None else root.test(doc):
                        matched.append(idx)
        matched.sort()
        stems_of = self._stems
        doc.index_only(frozenset().union(*(stems_of[idx] for idx in matched)))  # for Hit.terms
        names = self._names
        return {names[idx]: Hit.of(doc, roots[idx]) for idx in matched}
