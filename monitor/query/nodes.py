"""The compiled query tree: each node tests an analyzed Document, collects matched token ranges,
and states a presearch condition (clauses of keys, at least one key of each must be in the item).

`test` is the fast boolean path (no allocation for plain words); `collect` runs only after a
successful `test` and appends (first_token, last_token) ranges of what matched.
"""

from __future__ import annotations

import heapq
from collections.abc import Callable, Sequence
from typing import Protocol

from monitor.query.analyze import DEFAULT_FIELDS, PREFIX_KEY_LEN, PREFIX_MARK, Document
from monitor.query.wordregex import WordPattern

Span = tuple[int, int]
MAX_PATTERN_WORD = 64  # longer words are never tested against a regex or wildcard (hostile input)
Clauses = list[frozenset[str]]

# Stems so frequent in English news that indexing a rule under them finds nearly every item.
_COMMON_WORDS = (
    "the be to of and a in that have i it for not on with he as you do at this but his by from they we "
    "say her she or an will my one all would there their what so up out if about who get which go me "
    "when make can like time no just him know take peopl into year your good some could them see other "
    "than then now look onli come its over think also back after use two how our work first well way "
    "even new want becaus ani these give day most us is was are has had were been said mr"
)
_COMMON = frozenset(_COMMON_WORDS.split())


def key_cost(key: str) -> float:
    """How often a presearch key is expected in items (lower is rarer, a better index key)."""
    if key.startswith(PREFIX_MARK):
        return 50.0
    if key in _COMMON:
        return 100.0
    return 10.0 - min(len(key), 8)


def clause_cost(clause: frozenset[str]) -> float:
    """The expected cost of a disjunctive clause: the sum of its keys' costs."""
    return sum(key_cost(k) for k in clause)


ClauseCost = Callable[[frozenset[str]], float]


class Node(Protocol):
    """A compiled query node."""

    def test(self, doc: Document) -> bool:
        """Whether the node matches the document."""

    def collect(self, doc: Document, out: list[Span]) -> None:
        """Append the token ranges that make the node match (call only after `test` is true)."""

    def clauses(self, cost: ClauseCost = clause_cost) -> Clauses:
        """A presearch condition: every clause must share a key with the document's keys."""

    def all_stems(self) -> frozenset[str]:
        """Every stem the node may look up the positions of."""


def _in_scope(doc: Document, tokens: Sequence[int], scope: int | None) -> list[int]:
    """The tokens that lie in the scope (None: title, summary, content; else one field)."""
    fields = doc.tok_field
    if scope is None:
        return [t for t in tokens if fields[t] in DEFAULT_FIELDS]
    return [t for t in tokens if fields[t] == scope]


class WordsNode:
    """Stemmed words in the default fields or one field: all of them (AND) or any of them (OR)."""

    __slots__ = ("every", "scope", "stems")

    def __init__(self, stems: frozenset[str], scope: int | None, every: bool = True) -> None:
        self.stems, self.scope, self.every = stems, scope, every or len(stems) == 1

    def test(self, doc: Document) -> bool:
        """Whether all (or any) of the stems occur in scope."""
        present = doc.default_stems if self.scope is None else doc.stems_in(self.scope)
        return self.stems <= present if self.every else not self.stems.isdisjoint(present)

    def collect(self, doc: Document, out: list[Span]) -> None:
        """Every occurrence of the stems in scope."""
        for stem in self.stems:
            out.extend((t, t) for t in doc.occurrences(stem, self.scope))

    def all_stems(self) -> frozenset[str]:
        """The node's stems."""
        return self.stems

    def clauses(self, cost: ClauseCost = clause_cost) -> Clauses:
        """Each stem (AND), or one clause of all of them (OR)."""
        return [frozenset({s}) for s in self.stems] if self.every else [self.stems]


def word(stem: str, scope: int | None) -> WordsNode:
    """A node for one stemmed word."""
    return WordsNode(frozenset({stem}), scope)


def _merge_words(children: Sequence[Node], every: bool) -> list[Node]:
    """Merge the word children of an AND (or an OR) into one WordsNode per field scope."""
    merged: dict[int | None, set[str]] = {}
    others: list[Node] = []
    for child in children:
        if isinstance(child, WordsNode) and (child.every == every or len(child.stems) == 1):
            merged.setdefault(child.scope, set()).update(child.stems)
        else:
            others.append(child)
    words: list[Node] = [WordsNode(frozenset(stems), scope, every) for scope, stems in merged.items()]
    return words + others


def and_of(children: Sequence[Node]) -> Node:
    """All children must match (word children are merged into one subset test)."""
    nodes = _merge_words(children, every=True)
    return nodes[0] if len(nodes) == 1 else AndNode(tuple(nodes))


def or_of(children: Sequence[Node]) -> Node:
    """Any child may match (word children are merged into one intersection test)."""
    nodes = _merge_words(children, every=False)
    return nodes[0] if len(nodes) == 1 else OrNode(tuple(nodes))


class PhraseNode:
    """Stemmed words in order (slop 0), or within `slop` moves of that order (Lucene's sloppy phrase)."""

    __slots__ = ("joined", "scope", "slop", "stem_set", "stems")

    def __init__(self, stems: tuple[str, ...], slop: int, scope: int | None) -> None:
        self.stems, self.slop, self.scope = stems, slop, scope
        self.stem_set = frozenset(stems)
        # The phrase as `Document.joined` writes the item's stems ("" if only the token scan applies).
        self.joined = "\0" + "\0".join(stems) + "\0" if stems and slop == 0 else ""

    def test(self, doc: Document) -> bool:
        """Whether the phrase occurs in scope (an exact phrase: one substring search of the item's stems)."""
        if self.joined and self.stem_set <= (
            doc.default_stems if self.scope is None else doc.stems_in(self.scope)
        ):
            joined = doc.joined(self.scope)
            if joined is not None:
                return self.joined in joined
        return bool(self._spans(doc, first_only=True))

    def collect(self, doc: Document, out: list[Span]) -> None:
        """Every occurrence: one range per exact phrase, one range per word for a proximity match."""
        out.extend(self._spans(doc, first_only=False))

    def all_stems(self) -> frozenset[str]:
        """The phrase's stems."""
        return self.stem_set

    def clauses(self, cost: ClauseCost = clause_cost) -> Clauses:
        """Every word of the phrase is required."""
        return [frozenset({s}) for s in set(self.stems)]

    def _spans(self, doc: Document, first_only: bool) -> list[Span]:
        if not self.stem_set <= (doc.default_stems if self.scope is None else doc.stems_in(self.scope)):
            return []
        if self.slop == 0:
            return self._exact(doc, doc.occurrences(self.stems[0], self.scope), first_only)
        return self._near(doc, first_only)

    def _exact(self, doc: Document, anchors: list[int], first_only: bool) -> list[Span]:
        stems, fields, n = doc.tok_stem, doc.tok_field, len(self.stems)
        found = []
        for t in anchors:
            last = t + n - 1
            if (
                last < len(stems)
                and fields[last] == fields[t]
                and all(stems[t + i] == s for i, s in enumerate(self.stems))
            ):
                found.append((t, last))
                if first_only:
                    break
        return found

    def _near(self, doc: Document, first_only: bool) -> list[Span]:
        """Lucene's sloppy phrase: word i at position p stands at p - i; all within `slop` of each other.

        So the slop is an edit distance counted in moves: `"a b"~1` matches "a x b", a reversed pair
        ("b a") needs `~2`. A sweep over each field (the smallest range covering one position of every
        word, as Lucene's SloppyPhraseMatcher); a word repeated in the phrase needs distinct positions.
        """
        fields = doc.tok_field
        lists = [doc.occurrences(s, self.scope) for s in self.stems]
        used: set[int] = set()
        for field in sorted({fields[t] for t in lists[0]}):
            shifted = [[t - i for t in ts if fields[t] == field] for i, ts in enumerate(lists)]
            if all(shifted) and self._sweep(shifted, used, first_only) and first_only:
                break
        return [(t, t) for t in sorted(used)]

    def _sweep(self, shifted: list[list[int]], used: set[int], first_only: bool) -> bool:
        """Add the positions of every window of `shifted` within the slop to `used`; True if any."""
        heap = [(ts[0], i, 0) for i, ts in enumerate(shifted)]
        heapq.heapify(heap)
        high, found = max(ts[0] for ts in shifted), False
        while True:
            low, i, k = heap[0]
            if high - low <= self.slop:
                positions = {at + j for at, j, _ in heap}
                if len(positions) == len(heap):
                    used.update(positions)
                    found = True
                    if first_only:
                        return True
            if k + 1 == len(shifted[i]):
                return found
            nxt = shifted[i][k + 1]
            heapq.heapreplace(heap, (nxt, i, k + 1))
            high = max(high, nxt)


class PatternNode:
    """Folded words (as written, not stemmed) starting with `prefix` and fully matching `regex`."""

    __slots__ = ("prefix", "regex", "scope")

    def __init__(self, prefix: str, regex: WordPattern | None, scope: int | None) -> None:
        self.prefix, self.regex, self.scope = prefix, regex, scope

    def _tokens(self, doc: Document, first_only: bool) -> list[int]:
        found: list[int] = []
        prefix, regex = self.prefix, self.regex
        for word, tokens in doc.folded_index().items():
            if word.startswith(prefix) and (
                regex is None or (len(word) <= MAX_PATTERN_WORD and regex.fullmatch(word))
            ):
                found.extend(_in_scope(doc, tokens, self.scope))
                if found and first_only:
                    break
        return found

    def test(self, doc: Document) -> bool:
        """Whether a word in scope matches (most items have none: one RE2 pass over all words says so)."""
        if self.regex is not None and not self.regex.anywhere(doc.folded_lines()):
            return False
        return bool(self._tokens(doc, first_only=True))

    def collect(self, doc: Document, out: list[Span]) -> None:
        """Every matching word in scope."""
        out.extend((t, t) for t in sorted(self._tokens(doc, first_only=False)))

    def all_stems(self) -> frozenset[str]:
        """None: a pattern reads folded words, not stem positions."""
        return frozenset()

    def clauses(self, cost: ClauseCost = clause_cost) -> Clauses:
        """The prefix's first letters, when it has enough of them to be selective."""
        if len(self.prefix) >= PREFIX_KEY_LEN:
            return [frozenset({PREFIX_MARK + self.prefix[:PREFIX_KEY_LEN]})]
        return []


class AndNode:
    """Every child matches."""

    __slots__ = ("children",)

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def test(self, doc: Document) -> bool:
        """Whether all children match."""
        for child in self.children:  # noqa: SIM110 (a loop is faster than all() over a generator)
            if not child.test(doc):
                return False
        return True

    def collect(self, doc: Document, out: list[Span]) -> None:
        """What every child matched."""
        for child in self.children:
            child.collect(doc, out)

    def all_stems(self) -> frozenset[str]:
        """Every child's stems."""
        return frozenset().union(*(child.all_stems() for child in self.children))

    def clauses(self, cost: ClauseCost = clause_cost) -> Clauses:
        """Every child's clauses (a negated child adds none)."""
        return [clause for child in self.children for clause in child.clauses(cost)]


# AndNode's twin by shape, on purpose: each node type is its own small class with __slots__, so the
# matching hot loop calls `test` directly (no shared base, no flag to branch on).
class OrNode:
    """At least one child matches."""

    __slots__ = ("children",)

    def __init__(self, children: tuple[Node, ...]) -> None:
        self.children = children

    def test(self, doc: Document) -> bool:
        """Whether any child matches."""
        for child in self.children:  # noqa: SIM110 (a loop is faster than any() over a generator)
            if child.test(doc):
                return True
        return False

    def collect(self, doc: Document, out: list[Span]) -> None:
        """What each matching child matched."""
        for child in self.children:
            if child.test(doc):
                child.collect(doc, out)

    def all_stems(self) -> frozenset[str]:
        """Every child's stems."""
        return frozenset().union(*(child.all_stems() for child in self.children))

    def clauses(self, cost: ClauseCost = clause_cost) -> Clauses:
        """One clause: the union of each child's cheapest clause (none if a child is unconstrained)."""
        union: set[str] = set()
        for child in self.children:
            own = child.clauses(cost)
            if not own:
                return []
            union |= min(own, key=lambda clause: cost(frozenset(clause)))
        return [frozenset(union)]


class NotNode:
    """The child does not match."""

    __slots__ = ("child",)

    def __init__(self, child: Node) -> None:
        self.child = child

    def test(self, doc: Document) -> bool:
        """Whether the child does not match."""
        return not self.child.test(doc)

    def collect(self, doc: Document, out: list[Span]) -> None:
        """A negation matches no terms."""

    def all_stems(self) -> frozenset[str]:
        """The child's stems (a phrase inside NOT looks positions up to test)."""
        return self.child.all_stems()

    def clauses(self, cost: ClauseCost = clause_cost) -> Clauses:
        """A negation can match any item."""
        return []
