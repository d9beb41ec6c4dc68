"""Compile the regular expressions of queries with RE2, whose matching time is linear in the text.

Python's `re` backtracks: `/(a|aa)+/` or `/.*a.*a.*a.*c/` against one word of 64 `a`s runs for
minutes and stalls matching for every feed. RE2 (the engine of Go's regexp) never backtracks,
so no rule can do that; what it cannot run (backreferences, lookaround) is refused when the rule
is checked, at its column inside the query.
"""

from __future__ import annotations

import re
from typing import Any

import re2

from monitor.errors import QuerySyntaxError

MAX_REGEX_LENGTH = 1000  # characters; a longer /regex/ is refused (checking and reloading stay fast)
_MAX_MEM = 8 << 20  # bytes of compiled program per pattern; RE2 refuses larger ones ("pattern too large")


# What makes `^(?:pattern)$` in multi-line mode miss a word the pattern matches whole.
_NOT_PER_LINE = re.compile(r"\\[Az]|\(\?[a-zA-Z-]*m")


class WordPattern:
    """A compiled pattern tested against whole folded words.

    `fullmatch(word)` tests one word. `anywhere(lines)` tests the words of a document at once
    (one per line): one pass in C instead of a call per word, false only when no word matches.
    """

    __slots__ = ("_lines", "_whole")

    def __init__(self, whole: Any, lines: Any | None) -> None:
        self._whole, self._lines = whole, lines

    def fullmatch(self, word: str) -> bool:
        """Whether the whole word matches."""
        return self._whole.fullmatch(word) is not None

    def anywhere(self, lines: str) -> bool:
        """Whether some line may match whole (a true answer is checked word by word)."""
        return self._lines is None or self._lines.search(lines) is not None


def _options(case_sensitive: bool) -> re2.Options:
    options = re2.Options()
    options.log_errors = False  # errors are raised to the caller, not written to stderr
    options.case_sensitive = case_sensitive
    options.max_mem = _MAX_MEM
    return options


def compile_word_pattern(pattern: str, col: int, *, ignore_case: bool = True) -> WordPattern:
    """Compile `pattern` with RE2; a QuerySyntaxError at its column (1-based, in the query) if RE2 refuses it.

    `col` is the column of the first character of the pattern.
    """
    if len(pattern) > MAX_REGEX_LENGTH:
        raise QuerySyntaxError(
            col + MAX_REGEX_LENGTH,
            f"expected a regular expression of at most {MAX_REGEX_LENGTH} characters, "
            f"this one has {len(pattern)}",
        )
    options = _options(not ignore_case)
    try:
        whole = re2.compile(pattern, options)
    except re2.error as exc:
        message, offset = _explain(pattern, exc)
        raise QuerySyntaxError(col + offset, message) from None
    return WordPattern(whole, None if _NOT_PER_LINE.search(pattern) else _per_line(pattern, options))


def _per_line(pattern: str, options: re2.Options) -> Any | None:
    """`pattern` matching whole lines of a text (None if that form does not compile: words one by one)."""
    try:
        return re2.compile(f"(?m)^(?:{pattern})$", options)
    except re2.error:
        return None


def _explain(pattern: str, exc: Exception) -> tuple[str, int]:
    """RE2's message (`what: piece`) and the offset of that piece in the pattern (0 if not found)."""
    raw = exc.args[0] if exc.args else ""
    text = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    what, _, piece = text.partition(": ")
    offset = pattern.find(piece) if piece else -1
    hint = ""
    if what.startswith(("invalid escape", "invalid perl operator", "invalid named capture")):
        hint = " (backreferences and lookaround are not supported: RE2 syntax, linear-time matching)"
    return f"expected a valid regular expression: {text}{hint}", max(offset, 0)
