"""The presearcher: an index from terms to rules, so an item is evaluated only against rules that can match.

Each rule's presearch condition is a list of clauses (sets of keys: stems, or prefix marks); an
item can only match if it has a key of every clause. A rule is posted under its two cheapest
clauses: postings[key1][key2] (key2 "" when it has one clause; every item has the key "").
For an item, the candidates are the rules whose key1 and key2 are both among the item's keys.
Rules with no clause (only negative, regex or short-prefix terms) are always checked. Candidates
are then evaluated exactly, so the result is what evaluating every rule returns. A rule that is
only words joined by AND (the usual rule) is evaluated as one subset test of its stems, and one of
exactly the two words it is posted under (or of one word) is not evaluated at all when both are among
the item's title, summary and content stems (`Bucket`).

A rule's cheapest clause is its rarest word. A daemon's matcher learns how rare each word is from
the items it matches (StemCounts) and posts its rules again as it learns; before its first 256
items, and without learning, a heuristic guesses (common English words are frequent, longer words
rarer). Whatever the postings, the result is the same; only the speed differs.
"""

from __future__ import annotations

import threading
from collections import Counter
from collections.abc import Callable, Iterable, Mapping
from itertools import compress, repeat
from operator import and_, itemgetter
from typing import Any

from monitor.query.analyze import PREFIX_MARK, Document
from monitor.query.compile import Query
from monitor.query.hit import Hit, collector, lazy_hit
from monitor.query.nodes import AndNode, Node, WordsNode, clause_cost

_PREFIX_COST = 0.5  # a 3-letter prefix, when stem frequencies are known: assume it is common
_MAX_PAIRS = 64  # more key1 x key2 postings than this for one rule: post under key1 only
_MAX_STEMS = 200_000  # stems counted by StemCounts before those seen once are dropped
_first = itemgetter(0)
LEARN_AT = (256, 1024, 4096, 16_384, 65_536)  # items counted when a learning Matcher posts its rules again

# A rule: its number (rule order), name, root node, every stem it may ask positions of (Hit.terms), and
# what its hits collect their terms with (`hit.collector`).
Rule = tuple[int, str, Node, frozenset[str], Any]
# A posting: the rule, split for a fast test (`_split`: the default-field words all required, the
# default-field groups of words one of each required, the rest as a node or None), and whether the
# rule is posted more than once and so must be deduplicated.
Posting = tuple[Rule, frozenset[str], tuple[frozenset[str], ...], Node | None, bool]
# The rules posted under one pair of keys: first those whose every clause is a posting key (they
# match whenever both keys are among the item's default-field stems: nothing to test), then the others.
Bucket = tuple[tuple[Rule, ...], tuple[Posting, ...]]

_first, _name, _stems_of = itemgetter(0), itemgetter(1), itemgetter(3)
_collector = itemgetter(4)


def _cost_function(frequencies: Mapping[str, float] | None) -> Callable[[frozenset[str]], float]:
    """How to rank clauses: by known stem frequencies (unknown stems are rare), else by a heuristic."""
    if frequencies is None:
        return clause_cost
    return lambda clause: sum(
        _PREFIX_COST if key.startswith(PREFIX_MARK) else frequencies.get(key, 0.0) for key in clause
    )


def stem_frequencies(docs: Iterable[Document]) -> dict[str, float]:
    """The share of the items holding each stem (for `Matcher(rules, frequencies=...)`)."""
    counts = StemCounts()
    for doc in docs:
        counts.add(doc)
    return counts.frequencies()


class StemCounts:
    """How many of the items seen so far hold each stem: the document frequencies a Matcher learns.

    Thread-safe. At 200,000 stems the rarest (seen in one item, then two, ...) are dropped until half
    are left: a stem the counts do not hold is a rare one, which is what an unknown stem is taken to be.
    """

    def __init__(self) -> None:
        self.items = 0
        self._counts: Counter[str] = Counter()
        self._lock = threading.Lock()

    def add(self, doc: Document) -> int:
        """Count one item's stems; return how many items have been counted."""
        with self._lock:
            self._counts.update(doc.keys)
            self.items += 1
            if len(self._counts) > _MAX_STEMS:
                self._prune()
            return self.items

    def _prune(self) -> None:
        """Drop the rarest stems (seen once, then twice, ...) until half the cap is left."""
        floor = 1
        while len(self._counts) > _MAX_STEMS // 2:
            self._counts = Counter({k: n for k, n in self._counts.items() if n > floor})
            floor += 1

    def frequencies(self) -> dict[str, float]:
        """Stem -> share of the items holding it (empty before the first item)."""
        with self._lock:
            total = self.items
            return {stem: n / total for stem, n in self._counts.items() if stem}


def _split(root: Node) -> tuple[frozenset[str], tuple[frozenset[str], ...], Node | None]:
    """A rule as (default-field words all required, default-field groups of words one of each
    required, the rest of its AND or None): it matches exactly when all three hold."""
    children = root.children if isinstance(root, AndNode) else (root,)
    need: set[str] = set()
    groups: list[frozenset[str]] = []
    others: list[Node] = []
    for child in children:
        if isinstance(child, WordsNode) and child.scope is None:
            if child.every:
                need |= child.stems
            else:
                groups.append(child.stems)
        else:
            others.append(child)
    rest = None if not others else others[0] if len(others) == 1 else AndNode(tuple(others))
    return frozenset(need), tuple(groups), rest


class _Index:
    """The postings of one set of rules under one cost function (replaced whole when re-posted)."""

    def __init__(self, rules: list[Rule], cost: Callable[[frozenset[str]], float]) -> None:
        self.always: list[Rule] = []
        postings: dict[str, dict[str, tuple[list[Rule], list[Posting]]]] = {}
        self.uses_prefixes = False  # some rule is posted under a prefix key
        for rule in rules:
            self._post(rule, cost, postings)
        self.first_keys = frozenset(postings)
        # key1 -> (its key2s, key2 -> bucket, key1): an item's key2s are found by one set intersection.
        self.pairs: dict[str, tuple[frozenset[str], dict[str, Bucket], str]] = {
            key1: (frozenset(sub), {key2: (tuple(a), tuple(b)) for key2, (a, b) in sub.items()}, key1)
            for key1, sub in postings.items()
        }

    def _post(
        self,
        rule: Rule,
        cost: Callable[[frozenset[str]], float],
        postings: dict[str, dict[str, tuple[list[Rule], list[Posting]]]],
    ) -> None:
        root = rule[2]
        clauses = sorted(set(root.clauses(cost)), key=lambda c: (cost(c), sorted(c)))
        if not clauses:
            self.always.append(rule)
            return
        first = clauses[0]
        second = clauses[1] if len(clauses) > 1 and len(first) * len(clauses[1]) <= _MAX_PAIRS else {""}
        need, groups, rest = _split(root)
        posting = (rule, need, groups, rest, len(first) * len(second) > 1)
        # Only words, and every clause is a posting key: reaching the bucket with both keys in the
        # default fields is the match (a rule posted several times is found once: see match).
        sure = rest is None and (len(clauses) == 1 or (len(clauses) == 2 and second is clauses[1]))
        self.uses_prefixes |= any(k.startswith(PREFIX_MARK) for k in (*first, *second))
        for key1 in first:
            sub = postings.setdefault(key1, {})
            for key2 in second:
                bucket = sub.setdefault(key2, ([], []))
                if sure:
                    bucket[0].append(rule)
                else:
                    bucket[1].append(posting)


class Matcher:
    """Match an item against many rules at once, through the term index."""

    def __init__(
        self,
        rules: Mapping[str, Query],
        frequencies: Mapping[str, float] | None = None,
        *,
        learning: StemCounts | None = None,
    ) -> None:
        """Index the rules, each under its rarest words: by `frequencies` (stem -> share of items
        holding it, see `stem_frequencies`) when given, else by what `learning` has counted once it
        has seen enough items, else by a heuristic guess.

        With `learning`, every matched item is counted in it, and the rules are posted again on
        what it learned when it reaches 256, 1,024, 4,096, 16,384 and 65,536 items; pass the
        previous matcher's `learning` to a new one (a reload) to keep what it learned.
        """
        self.queries: Mapping[str, Query] = rules
        self._rules: list[Rule] = [
            (idx, name, query.root, query.root.all_stems(), collector(query.root))
            for idx, (name, query) in enumerate(rules.items())
        ]
        self.learning = learning
        if frequencies is None and learning is not None and learning.items >= LEARN_AT[0]:
            frequencies = learning.frequencies()
        self._index = _Index(self._rules, _cost_function(frequencies))

    def _learn(self, doc: Document) -> None:
        """Count the item; post the rules again when the counts reach the next step."""
        assert self.learning is not None
        if self.learning.add(doc) in LEARN_AT:
            self._index = _Index(self._rules, _cost_function(self.learning.frequencies()))

    def __len__(self) -> int:
        return len(self._rules)

    def candidates(self, doc: Document) -> list[int]:
        """Numbers of the rules that can match the item (both keys of a posting in it), in rule order."""
        index = self._index
        keys = doc.keys | doc.prefix_keys() if index.uses_prefixes else doc.keys
        pairs, found = index.pairs, {rule[0] for rule in index.always}
        for key1 in keys & index.first_keys:  # as in `match`
            key2s, sub, _ = pairs[key1]
            for key2 in key2s & keys:
                sure, rest = sub[key2]
                found.update(rule[0] for rule in sure)
                found.update(p[0][0] for p in rest)
        return sorted(found)

    def match(self, doc: Document) -> dict[str, Hit]:
        """Rule name -> Hit for every rule that matches the analyzed item (in rule order)."""
        if self.learning is not None and self.learning.items < LEARN_AT[-1]:
            self._learn(doc)
        index, stems = self._index, doc.default_stems
        keys = doc.keys | doc.prefix_keys() if index.uses_prefixes else doc.keys
        matched = [rule for rule in index.always if rule[2].test(doc)]
        seen: set[int] = set()
        found = list(map(index.pairs.__getitem__, keys & index.first_keys))  # set & set walks the smaller one
        key2s_found = list(map(and_, map(_first, found), repeat(keys)))  # each key1's key2s in the item
        for (_, sub, key1), key2s in compress(zip(found, key2s_found, strict=True), key2s_found):
            certain = key1 in stems  # a key may be a stem of another field only
            for key2 in key2s:
                sure, rest = sub[key2]
                if sure:
                    if certain and (not key2 or key2 in stems):
                        matched.extend(sure)
                    else:
                        matched.extend(rule for rule in sure if rule[2].test(doc))
                for rule, need, groups, other, multi in rest:
                    if multi:
                        if rule[0] in seen:
                            continue
                        seen.add(rule[0])
                    if (
                        need <= stems
                        and not (groups and any(map(stems.isdisjoint, groups)))
                        and (other is None or other.test(doc))
                    ):
                        matched.append(rule)
        if not matched:
            return {}
        matched.sort(key=_first)  # rule order; a rule found twice is one key of the dict below
        doc.index_only(lambda: frozenset().union(*map(_stems_of, matched)))  # for Hit.terms
        hits = map(lazy_hit, repeat(doc), map(_collector, matched))
        return dict(zip(map(_name, matched), hits, strict=True))
