"""Parse the query text (Lucene query_string syntax) into a small syntax tree, with 1-based columns.

Grammar, loosest first (OR binds tighter than AND, as in Google: `Thursday UK OR Britain military`
is `Thursday AND (UK OR Britain) AND military`; use parentheses to say otherwise). An explicit AND
beside an OR at one level (`a AND b OR c`) is refused: boolean logic and Lucene read it
`(a AND b) OR c`, the Google order `a AND (b OR c)`, so the author must say which with parentheses.

    query   := and_expr
    and_expr:= or_expr ( ["AND" | "&&"] or_expr )*        (juxtaposition is AND)
    or_expr := unary ( ("OR" | "||") unary )*
    unary   := ("NOT" | "!" | "-") unary | "+" unary | primary
    primary := FIELD ":" primary | "(" and_expr ")" ["^" N] | '"phrase"' ["~" N] | "/regex/" | word

Operators are upper case (lower-case "and"/"or" are words, as in Lucene). `\\` escapes the next
character. A boost `^N` is accepted and ignored. Fuzzy `word~N` and ranges (`[a TO b]`, `{a TO b}`)
are refused at their column. Any Unicode white space (U+00A0, U+2009, U+3000...) separates words.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from monitor.errors import QuerySyntaxError
from monitor.query.analyze import FIELDS

_SPECIAL = set('()":~^')  # and any white space (str.isspace)
_WHAT = "a word, phrase or group"
MAX_DEPTH = 100
MAX_QUERY_LENGTH = 10_000  # characters; longer queries are refused so checking and reloading stay fast
# A query of bare words only (the usual rule): no operator, quote, field, group, escape or wildcard.
_PLAIN_WORD = r"[^\s()\":~^\\/!+\-&|*?\[\]{}]+"
_PLAIN_QUERY = re.compile(rf"\s*{_PLAIN_WORD}(?:\s+{_PLAIN_WORD})*\s*")
_RANGE = "ranges such as [a TO c], {a TO c} or field:[2002-01-01 TO 2002-01-04] are not supported"
_PLAIN_WORDS = re.compile(_PLAIN_WORD)


@dataclass(frozen=True)
class Tok:
    """A lexical token: kind, text and 1-based column."""

    kind: str  # TERM FIELD PHRASE REGEX LPAREN RPAREN AND OR NOT PLUS MINUS EOF
    text: str
    col: int
    slop: int = 0


@dataclass(frozen=True)
class Word:
    """A bare word as typed (escapes kept, for wildcard detection)."""

    raw: str
    col: int
    field: str | None


@dataclass(frozen=True)
class Phrase:
    """A quoted phrase, with its proximity slop (0: exact)."""

    text: str
    slop: int
    col: int
    field: str | None


@dataclass(frozen=True)
class Regex:
    """A /regular expression/ matched against whole folded words."""

    pattern: str
    col: int
    field: str | None


@dataclass(frozen=True)
class Bool:
    """AND, OR or NOT of sub-expressions."""

    op: str  # AND OR NOT
    items: tuple[Expr, ...]


Expr = Word | Phrase | Regex | Bool


def _read_until(text: str, i: int, close: str) -> tuple[str, int] | None:
    """Read up to an unescaped `close` from i; return (content with escapes resolved, index after)."""
    out = []
    while i < len(text):
        ch = text[i]
        if ch == "\\" and i + 1 < len(text):
            out.append(text[i + 1] if text[i + 1] == close else text[i : i + 2])
            i += 2
        elif ch == close:
            return "".join(out), i + 1
        else:
            out.append(ch)
            i += 1
    return None


_NUMBERS = {"~": re.compile(r"\d+"), "^": re.compile(r"\d+(?:\.\d*)?|\.\d+")}


def _number(text: str, i: int, after: str) -> tuple[int, int]:
    """Read the number after `~` (digits) or `^` (a decimal) at text[i-1]; error when there is none."""
    found = _NUMBERS[after].match(text, i)
    if found is None:
        raise QuerySyntaxError(i + 1, f"expected a number after '{after}'")
    return int(float(found.group())), found.end()


def _suffixes(text: str, i: int, allow_slop: bool) -> tuple[int, int]:
    """Read an optional `~N` (phrases only) and `^boost` after a token; return (slop, next index)."""
    slop = 0
    if i < len(text) and text[i] == "~":
        if not allow_slop:
            raise QuerySyntaxError(
                i + 1, "expected a quoted phrase before '~' (fuzzy words are not supported)"
            )
        slop, i = _number(text, i + 1, "~")
    if i < len(text) and text[i] == "^":
        _, i = _number(text, i + 1, "^")
    return slop, i


def _lex_word(text: str, i: int, value: bool) -> tuple[Tok, int]:
    """Lex a bare word, a field name (word followed by ':'), or an operator keyword.

    A `value` (the word right after a field name) may contain ':' (`link:https://example.org`).
    """
    start = i
    while i < len(text) and not text[i].isspace() and (text[i] not in _SPECIAL or (value and text[i] == ":")):
        i += 2 if text[i] == "\\" and i + 1 < len(text) else 1
    raw = text[start:i]
    if i < len(text) and text[i] == ":":
        if raw.lower() not in FIELDS:
            fields = ", ".join(FIELDS)
            raise QuerySyntaxError(
                start + 1, f"unknown field '{raw}': expected one of {fields} (or quote it)"
            )
        return Tok("FIELD", raw.lower(), start + 1), i + 1
    if raw in ("AND", "OR", "NOT"):
        return Tok(raw, raw, start + 1), i
    _, i = _suffixes(text, i, allow_slop=False)
    return Tok("TERM", raw, start + 1), i


def _lex_one(text: str, i: int, value: bool) -> tuple[Tok, int]:
    """Lex the token starting at text[i] (not whitespace); `value`: it follows a field name."""
    ch, col = text[i], i + 1
    two = text[i : i + 2]
    simple = {"(": "LPAREN", ")": "RPAREN", "!": "NOT", "+": "PLUS", "-": "MINUS"}
    if ch in "[{":
        raise QuerySyntaxError(col, _RANGE)
    if ch == ")":  # a boost on a group, `(a b)^2`, is accepted and ignored like any boost
        _, after = _suffixes(text, i + 1, allow_slop=False)
        return Tok("RPAREN", ch, col), after
    if two in ("&&", "||"):
        return Tok("AND" if two == "&&" else "OR", two, col), i + 2
    if ch in simple and not (ch in "+-!" and (i + 1 == len(text) or text[i + 1].isspace())):
        return Tok(simple[ch], ch, col), i + 1
    if ch in "+-!":
        raise QuerySyntaxError(col + 1, f"expected {_WHAT} right after '{ch}'")
    if ch in '"/':
        read = _read_until(text, i + 1, ch)
        if read is None:
            what = "phrase" if ch == '"' else "regular expression"
            raise QuerySyntaxError(
                col, f"unterminated {what}: expected a closing {ch} to end the one opened here"
            )
        body, i = read
        slop, i = _suffixes(text, i, allow_slop=ch == '"')
        return Tok("PHRASE" if ch == '"' else "REGEX", body, col, slop), i
    if ch in ":~^":
        raise QuerySyntaxError(col, f"expected {_WHAT} before '{ch}'")
    return _lex_word(text, i, value)


def lex(text: str) -> list[Tok]:
    """Split the query into tokens, ending with EOF."""
    tokens: list[Tok] = []
    i = 0
    while i < len(text):
        if text[i].isspace():
            i += 1
            continue
        tok, i = _lex_one(text, i, bool(tokens) and tokens[-1].kind == "FIELD")
        tokens.append(tok)
    tokens.append(Tok("EOF", "", len(text) + 1))
    return tokens


class _Parser:
    """Recursive descent over the token list."""

    def __init__(self, tokens: list[Tok]) -> None:
        self.tokens, self.pos = tokens, 0
        self.open_parens: list[Tok] = []
        self.depth = 0

    def peek(self) -> Tok:
        """The next token."""
        return self.tokens[self.pos]

    def take(self) -> Tok:
        """Consume and return the next token."""
        tok = self.tokens[self.pos]
        self.pos += 1
        return tok

    def and_expr(self, field: str | None) -> Expr:
        """Terms joined by AND or by juxtaposition, up to ')' or the end."""
        first_or: list[Tok] = []  # the first OR at this level, if any
        items = [self.or_expr(field, first_or)]
        explicit: Tok | None = None  # the first explicit AND at this level
        while self.peek().kind not in ("EOF", "RPAREN"):
            if self.peek().kind == "AND":
                explicit = explicit or self.peek()
                self.take()
            items.append(self.or_expr(field, first_or))
        if explicit is not None and first_or:
            raise _mixed(explicit, first_or[0])
        return items[0] if len(items) == 1 else Bool("AND", tuple(items))

    def or_expr(self, field: str | None, first_or: list[Tok]) -> Expr:
        """Terms joined by OR; the first OR token of the level is appended to `first_or`."""
        items = [self.unary(field)]
        while self.peek().kind == "OR":
            if not first_or:
                first_or.append(self.peek())
            self.take()
            items.append(self.unary(field))
        return items[0] if len(items) == 1 else Bool("OR", tuple(items))

    def unary(self, field: str | None) -> Expr:
        """NOT, -, + or a primary."""
        kind = self.peek().kind
        if kind in ("NOT", "MINUS", "PLUS"):
            tok = self.take()
            self.nest(tok)
            inner = self.unary(field)
            self.depth -= 1
            return inner if kind == "PLUS" else Bool("NOT", (inner,))
        return self.primary(field)

    def nest(self, tok: Tok) -> None:
        """Count one more level of nesting; refuse absurd depths (they would exhaust the stack)."""
        self.depth += 1
        if self.depth > MAX_DEPTH:
            raise QuerySyntaxError(tok.col, f"expected at most {MAX_DEPTH} nested groups or operators")

    def primary(self, field: str | None) -> Expr:
        """A field, group, phrase, regex or word."""
        tok = self.take()
        if tok.kind == "FIELD":
            return self.primary(tok.text)
        if tok.kind == "TERM":
            return Word(tok.text, tok.col, field)
        if tok.kind == "PHRASE":
            return Phrase(tok.text, tok.slop, tok.col, field)
        if tok.kind == "REGEX":
            return Regex(tok.text, tok.col, field)
        if tok.kind == "LPAREN":
            return self.group(tok, field)
        raise self.unexpected(tok)

    def group(self, opening: Tok, field: str | None) -> Expr:
        """The inside of parentheses; error if the ')' is missing."""
        if self.peek().kind == "RPAREN":
            raise QuerySyntaxError(self.peek().col, f"expected {_WHAT} inside the parentheses")
        self.open_parens.append(opening)
        self.nest(opening)
        inner = self.and_expr(field)
        self.depth -= 1
        close = self.take()
        if close.kind != "RPAREN":
            raise QuerySyntaxError(close.col, f"expected ')' to close the '(' at column {opening.col}")
        self.open_parens.pop()
        return inner

    def unexpected(self, tok: Tok) -> QuerySyntaxError:
        """The error for a token where a term was expected."""
        before = self.tokens[self.pos - 2] if self.pos >= 2 else None
        previous = "" if before is None else before.text + (":" if before.kind == "FIELD" else "")
        after = f" after '{previous}'" if previous else ""
        if tok.kind == "EOF":
            if not previous:
                return QuerySyntaxError(tok.col, f"expected {_WHAT}: the query is empty")
            return QuerySyntaxError(tok.col, f"expected {_WHAT}{after} at the end of the query")
        if tok.kind == "RPAREN" and not self.open_parens:
            return QuerySyntaxError(tok.col, "unexpected ')' without a matching '('")
        return QuerySyntaxError(tok.col, f"expected {_WHAT}{after}, found '{tok.text}'")


def _mixed(and_tok: Tok, or_tok: Tok) -> QuerySyntaxError:
    """The error for an explicit AND beside an OR at one level, with both readings."""
    a, o = and_tok.text, or_tok.text
    return QuerySyntaxError(
        and_tok.col,
        f"'{a}' beside '{o}' (column {or_tok.col}) without parentheses reads two ways: "
        f"'(x {a} y) {o} z' in boolean logic and Lucene, 'x {a} (y {o} z)' in the Google order "
        "used for words without an operator; add parentheses to say which",
    )


def parse(text: str) -> Expr:
    """Parse a query; raise QuerySyntaxError(col, message) saying what was expected where."""
    if len(text) > MAX_QUERY_LENGTH:
        raise QuerySyntaxError(
            MAX_QUERY_LENGTH + 1,
            f"expected a query of at most {MAX_QUERY_LENGTH} characters, this one has {len(text)}",
        )
    plain = _plain_words(text)
    return plain if plain is not None else parse_full(text)


def _plain_words(text: str) -> Expr | None:
    """The tree of a query of bare words (what `parse_full` gives, without the lexer's work), else None."""
    if not _PLAIN_QUERY.fullmatch(text):
        return None
    words = [Word(m.group(), m.start() + 1, None) for m in _PLAIN_WORDS.finditer(text)]
    if any(w.raw in ("AND", "OR", "NOT") for w in words):
        return None
    return words[0] if len(words) == 1 else Bool("AND", tuple(words))


def parse_full(text: str) -> Expr:
    """Parse any query with the lexer and the recursive-descent parser."""
    parser = _Parser(lex(text))
    expr = parser.and_expr(None)
    tok = parser.peek()
    if tok.kind == "RPAREN":
        raise QuerySyntaxError(tok.col, "unexpected ')' without a matching '('")
    return expr
