"""Turn a parsed query into evaluation nodes: analyze its words, expand aliases, compile patterns.

- A word is analyzed like item text; a word that analyzes to several words ("U.S.-led") is the
  exact phrase of them. A phrase of one word is that word.
- Aliases map a word (or phrase) to alternatives; matching is on the analyzed form, so `UK` also
  expands "uk" and "U.K.". The word itself always stays one of the alternatives. Alternatives are
  not expanded again, and words inside a quoted phrase are not expanded (a whole phrase can be).
- `ukrain*` is a prefix of the folded word as written (not the stem); `?` and inner `*` are
  wildcards over the whole folded word.
- `/regex/` is an RE2 regular expression (linear-time: no backreferences, no lookaround; see
  wordregex.py) that must match a whole folded word (lower case, no accents, no possessive), like a
  Lucene regexp query: `/nato|otan/` matches "NATO’s" but not "senator". It never spans two words;
  words over 64 characters are not tested.
"""

from __future__ import annotations

import re
import unicodedata
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field

from monitor.errors import QuerySyntaxError
from monitor.query.analyze import FIELDS, Document, tokenize
from monitor.query.hit import Hit
from monitor.query.nodes import Node, NotNode, PatternNode, PhraseNode, and_of, or_of, word
from monitor.query.syntax import Bool, Expr, Phrase, Regex, parse
from monitor.query.wordregex import WordPattern, compile_word_pattern

Aliases = Mapping[str, Sequence[str]]
_WILDCARD = re.compile(r"(?<!\\)[*?]")
_PLAIN_PREFIX = re.compile(r"[^\W_]+")


def _fold_literal(text: str) -> str:
    """Case- and accent-fold a literal piece of a wildcard or regex (no possessive stripping)."""
    folded = unicodedata.normalize("NFKD", text.replace("’", "'").casefold())
    return "".join(ch for ch in folded if not unicodedata.combining(ch))


def _analyze(text: str, col: int) -> tuple[str, ...]:
    """The stems of a query word or phrase; error when it has no word characters."""
    stems = tuple(t.stem for t in tokenize(text))
    if not stems:
        raise QuerySyntaxError(col, f"expected a word with letters or digits, found '{text}'")
    return stems


def _stems_node(stems: tuple[str, ...], slop: int, scope: int | None) -> Node:
    """A word node for one stem, else a phrase node."""
    return word(stems[0], scope) if len(stems) == 1 else PhraseNode(stems, slop, scope)


class QueryCompiler:
    """Compiles many queries with one alias table (the table is analyzed once, not per query)."""

    def __init__(self, aliases: Aliases | None = None) -> None:
        self._key = _alias_key(aliases)
        self.aliases: dict[tuple[str, ...], list[tuple[str, ...]]] = {}
        for key, alternatives in (aliases or {}).items():
            stems = tuple(t.stem for t in tokenize(key))
            if stems:
                alts = [tuple(t.stem for t in tokenize(a)) for a in alternatives]
                self.aliases[stems] = [a for a in alts if a]

    def compile(self, text: str) -> Query:
        """Parse and compile a query; raise QuerySyntaxError(col, message) if it does not parse."""
        return Query(text, self._key, self.node(parse(text)))

    def node(self, expr: Expr) -> Node:
        """The evaluation node of a syntax tree node."""
        if isinstance(expr, Bool):
            children = tuple(self.node(e) for e in expr.items)
            if expr.op == "NOT":
                return NotNode(children[0])
            return and_of(children) if expr.op == "AND" else or_of(children)
        scope = None if expr.field is None else FIELDS.index(expr.field)
        if isinstance(expr, Regex):
            return PatternNode("", _regex(expr.pattern, expr.col), scope)
        if isinstance(expr, Phrase):
            return self.expand(_analyze(expr.text, expr.col), expr.slop, scope)
        if _WILDCARD.search(expr.raw):
            return _wildcard(expr.raw, expr.col, scope)
        return self.expand(_analyze(expr.raw.replace("\\", ""), expr.col), 0, scope)

    def expand(self, stems: tuple[str, ...], slop: int, scope: int | None) -> Node:
        """The node for a word or phrase, or an OR with its aliases."""
        own = _stems_node(stems, slop, scope)
        alternatives = self.aliases.get(stems)
        if not alternatives:
            return own
        nodes = [own] + [_stems_node(a, 0, scope) for a in alternatives if a != stems]
        return or_of(nodes) if len(nodes) > 1 else own


def _regex(pattern: str, col: int) -> WordPattern:
    """Compile a /regex/ (at column `col`, its opening slash) on folded words with RE2."""
    return compile_word_pattern(_fold_literal(pattern), col + 1)


def _wildcard(raw: str, col: int, scope: int | None) -> Node:
    """`ukrain*` as a prefix node; other `*` / `?` patterns as a whole-word pattern."""
    pieces = _WILDCARD.split(raw)
    literals = [_fold_literal(p.replace("\\", "")) for p in pieces]
    if not any(_PLAIN_PREFIX.search(p) for p in literals):
        raise QuerySyntaxError(col, f"expected letters or digits in the wildcard '{raw}'")
    prefix = literals[0]
    if raw.endswith("*") and len(pieces) == 2 and _PLAIN_PREFIX.fullmatch(prefix):
        return PatternNode(prefix, None, scope)
    wilds = _WILDCARD.findall(raw)
    body = re.escape(literals[0]) + "".join(
        (".*" if w == "*" else ".") + re.escape(lit) for w, lit in zip(wilds, literals[1:], strict=True)
    )
    return PatternNode(prefix, compile_word_pattern(body, col, ignore_case=False), scope)


def _alias_key(aliases: Aliases | None) -> tuple[tuple[str, tuple[str, ...]], ...]:
    """A hashable, order-independent form of an alias table."""
    return tuple(sorted((k, tuple(v)) for k, v in (aliases or {}).items()))


@dataclass(frozen=True)
class Query:
    """A compiled query: immutable and hashable (by its text and alias table)."""

    text: str
    aliases: tuple[tuple[str, tuple[str, ...]], ...] = ()
    root: Node = field(default=None, compare=False, repr=False)  # type: ignore[assignment]

    def evaluate(self, doc: Document) -> Hit | None:
        """The hit (terms and where) if the query matches the analyzed item, else None."""
        return Hit.of(doc, self.root) if self.root.test(doc) else None

    def matches(self, doc: Document) -> bool:
        """Whether the query matches (faster than `evaluate` when the terms are not needed)."""
        return self.root.test(doc)


def compile_query(text: str, aliases: Aliases | None = None) -> Query:
    """Parse and compile a query; raise QuerySyntaxError(col, message) if it does not parse."""
    return QueryCompiler(aliases).compile(text)
