"""Before composing a YAML file: refuse deep nesting and alias bombs, and word syntax errors plainly.

`check_events` walks the parser's events (no nodes built, no recursion) and stops at the first
collection nested more than MAX_NESTING deep (libyaml's composer would crash on 100,000 levels, the
pure-Python one raises RecursionError) or at the alias that makes the aliases expand to more than
MAX_ALIASED values (a billion-laughs file of 600 bytes would otherwise expand to gigabytes).

`explain` turns PyYAML's syntax errors into a position and plain words: an unclosed quote or
bracket is reported where it opens, not where the file ends.
"""

from __future__ import annotations

from dataclasses import dataclass

import yaml
from yaml.events import (
    AliasEvent,
    MappingEndEvent,
    MappingStartEvent,
    ScalarEvent,
    SequenceEndEvent,
    SequenceStartEvent,
)
from yaml.tokens import (
    FlowMappingEndToken,
    FlowMappingStartToken,
    FlowSequenceEndToken,
    FlowSequenceStartToken,
)

MAX_NESTING = 64
MAX_ALIASED = 100_000
_OPEN = (SequenceStartEvent, MappingStartEvent)
_CLOSE = (SequenceEndEvent, MappingEndEvent)


@dataclass(frozen=True)
class Problem:
    """Where a YAML file goes wrong (1-based) and what to tell its author."""

    line: int
    col: int
    message: str


def check_events(events: object) -> Problem | None:
    """The first nesting or alias problem in a stream of parser events; None if there is none.

    Raises yaml.YAMLError from the parser for a syntax error.
    """
    open_: list[list[object]] = []  # per open collection: [anchor, expanded size]
    sizes: dict[str, int] = {}  # anchor -> how many values it expands to
    aliased = 0
    for event in events:  # type: ignore[attr-defined]
        if isinstance(event, ScalarEvent):
            if event.anchor:
                sizes[event.anchor] = 1
            if open_:
                open_[-1][1] += 1  # type: ignore[operator]
        elif isinstance(event, _OPEN):
            if len(open_) >= MAX_NESTING:
                return _at(event.start_mark, f"lists or mappings nested more than {MAX_NESTING} levels deep")
            open_.append([event.anchor, 1])
        elif isinstance(event, _CLOSE):
            anchor, size = open_.pop()
            if anchor:
                sizes[str(anchor)] = int(size)  # type: ignore[call-overload]
            if open_:
                open_[-1][1] += size  # type: ignore[operator]
        elif isinstance(event, AliasEvent):
            if any(anchor == event.anchor for anchor, _ in open_):
                continue  # a loop (an alias inside its own anchor): the readers' depth limits stop it
            if event.anchor not in sizes:
                return _at(event.start_mark, f"unknown alias *{event.anchor} (no &{event.anchor} before it)")
            aliased += sizes[event.anchor]
            if aliased > MAX_ALIASED:
                return _at(
                    event.start_mark,
                    f"aliases expand to more than {MAX_ALIASED:,} values (a YAML alias bomb?); "
                    "write the values out instead",
                )
            if open_:
                open_[-1][1] += sizes[event.anchor]  # type: ignore[operator]
    return None


def _at(mark: yaml.Mark | None, message: str) -> Problem:
    return Problem(mark.line + 1, mark.column + 1, message) if mark else Problem(1, 1, message)


def explain(exc: yaml.MarkedYAMLError, text: str) -> Problem:
    """A syntax error at the place its author must look, in plain words."""
    problem, context = exc.problem or "", exc.context or ""
    start, mark = exc.context_mark, exc.problem_mark or exc.context_mark
    opened = text[start.index] if start and start.index < len(text) else ""
    if context.startswith("while scanning a") and context.endswith("quoted scalar"):
        if "end of stream" in problem:
            return _at(start, f"a quoted string starts here and is never closed (add the closing {opened})")
        line = start.line + 1 if start else 1
        return _at(mark, f"{problem} in the quoted string that starts at line {line}")
    bracket = _unclosed_bracket(text) if "<stream end>" in problem or "flow" in context else None
    if bracket is not None:
        what, close = ("list", "]") if text[bracket.index] == "[" else ("mapping", "}")
        found = _token(problem)
        where = (
            "the file ends first"
            if found == "the end of the file" or not mark
            else f"found {found} at line {mark.line + 1}"
        )
        return _at(bracket, f"this {text[bracket.index]} {what} is never closed ({where}; add {close})")
    if context == "while scanning a simple key":
        return _at(start, "this line has no ':' after its key (write 'key: value', or quote the text)")
    if "mapping values are not allowed here" in problem:
        return _at(
            mark,
            "a ': ' inside a value: put the whole value in quotes (match: \"a: b\"), "
            "or check the line above for a missing ':' or a wrong indentation",
        )
    if "found character '\\t' that cannot start any token" in problem:
        return _at(mark, "a tab character: YAML indents with spaces only")
    if "that cannot start any token" in problem:
        char = problem.split(" that ")[0].removeprefix("found character ")
        return _at(mark, f"a value cannot start with {char}: put the value in quotes")
    if context.startswith(("while scanning an alias", "while scanning an anchor")):
        sign = "*" if "alias" in context else "&"
        return _at(start, f"a value starting with '{sign}' is read as an alias or anchor: put it in quotes")
    if mark and 0 < mark.index <= len(text) and text[mark.index - 1] in "'\"" and "<scalar>" in problem:
        quote = text[mark.index - 1]
        return _at(
            mark,
            f"text after a closing {quote}: quote the whole value with the other quotes"
            + (" (or write '' for a ' inside '...')" if quote == "'" else ""),
        )
    if context.startswith("while parsing a block") and "expected <block end>" in problem:
        return _at(
            mark,
            "bad indentation: this line does not line up with the lines above it "
            "(check its spaces, or a missing ':' on the line before)",
        )
    if "expected a single document" in context:
        return _at(mark, "a second YAML document ('---') in the file; keep one document per file")
    detail = problem or "syntax error"
    return _at(mark, f"{detail} ({context})" if context else detail)


def _unclosed_bracket(text: str) -> yaml.Mark | None:
    """Where the innermost [ or { still open when the scanner stops begins; None if none is open."""
    opened: list[yaml.Mark] = []
    try:
        for token in yaml.scan(text, Loader=yaml.SafeLoader):
            if isinstance(token, FlowSequenceStartToken | FlowMappingStartToken):
                opened.append(token.start_mark)
            elif isinstance(token, FlowSequenceEndToken | FlowMappingEndToken) and opened:
                opened.pop()
    except yaml.YAMLError:
        pass
    return opened[-1] if opened else None


def _token(problem: str) -> str:
    """The token a parser error found, in words ("'<stream end>'" -> the end of the file)."""
    found = problem.rsplit("found ", 1)[-1] if "found " in problem else problem.rsplit("got ", 1)[-1]
    words = {
        "'<stream end>'": "the end of the file",
        "'<block mapping start>'": "a new mapping",
        "'<block sequence start>'": "a new list",
        "'<block end>'": "the end of a block",
        "'<scalar>'": "a value",
        "'?'": "a '?'",
        "'-'": "a '-' list item",
        "'<block entry>'": "a '-' list item",
        "':'": "a ':'",
    }
    return words.get(found.strip(), found.strip())
