"""A large feed parsed in pieces, one per parse worker at once: the `Parsed` of `parse_feed`, sooner.

feedparser is most of a large feed's parse (about 0.4 s per MB) and reads one document on one core.
A well-formed feed whose top-level items follow one another (nothing but whitespace between them)
is cut between items into `parts` documents: each is the feed's head (everything before its first
item), a run of its items, and its tail (everything after its last item). feedparser reads an item
the same in a piece as in the whole document (the same root, namespaces, `xml:base` and entities
around it), and the feed's own fields (title, ttl) from the head and tail that every piece holds;
`join` puts the pieces' entries back in order, with the degraded reasons `parse_feed` gives.

A feed is split only where the pieces' text is the whole's: valid UTF-8 declared as UTF-8 or not
at all (or plain ASCII, the same in every encoding feedparser may try). Every part decides from the
same bytes, so all agree: `piece_of` gives None for each when the feed is not to be split (part 0
then parses it whole). A piece feedparser finds fault with (or no feed in) raises `SplitFailed`: the
caller parses the feed whole. tests/test_feedpieces.py checks the joined pieces against `parse_feed`.
"""

from __future__ import annotations

import dataclasses
import re
from bisect import bisect_left
from collections.abc import Sequence
from itertools import chain, pairwise
from typing import TYPE_CHECKING

from monitor.errors import ParseError
from monitor.records import Parsed

if TYPE_CHECKING:  # the daemon joins pieces and never parses: feedparser is the workers' alone
    from monitor.parse import Prepared

MIN_ITEMS = 50  # items per piece at least: a smaller feed is parsed whole
_DECLARED = re.compile(rb"""\A(?:\xef\xbb\xbf)?\s*<\?xml[^<>]{0,300}?encoding\s*=\s*["']([^"'<>]{0,40})""")
_CHARSET = re.compile(r"""charset\s*=\s*["']?([^"';\s]*)""", re.IGNORECASE)
_UTF8 = (b"utf-8", b"utf8")


class SplitFailed(Exception):
    """feedparser found fault with a piece of a feed (or no feed in it): the feed is parsed whole."""


@dataclasses.dataclass(frozen=True)
class Piece:
    """One piece's parse: its entries and the feed's fields, what made the feed degraded (the same in
    every piece), and the notes its entries took, in order."""

    parsed: Parsed
    reasons: tuple[str | None, ...]
    notes: tuple[str, ...]


def piece_of(
    body: bytes, url: str, content_type: str | None, part: int, parts: int, *, min_items: int = MIN_ITEMS
) -> Piece | None:
    """Piece `part` (from 0) of `parts` of the feed; None when the feed is not to be split (the same
    answer for every part; split only with `min_items` in each piece). `ParseError` as `parse_feed`
    raises it; `SplitFailed` (see the module)."""
    from monitor.parse import assemble, bozo_reason, prepare, read_feed

    ready = prepare(body, url, content_type)
    bounds = _bounds(ready, parts, min_items)
    if bounds is None:
        return None
    lo, hi = bounds[part]
    document = ready.body[: ready.items[0][0]] + ready.body[lo:hi] + ready.body[ready.items[-1][1] :]
    try:
        result, entries, notes = read_feed(document, url, ready.content_type)
    except ParseError as err:
        raise SplitFailed(err.reason) from None
    fault = bozo_reason(result)
    if fault is not None:
        raise SplitFailed(fault)
    return Piece(assemble(result, entries, (), []), ready.reasons, tuple(notes))


def join(pieces: Sequence[Piece]) -> Parsed:
    """The feed of its pieces in order: what `parse_feed` gives for the whole document."""
    first = pieces[0]
    notes = list(chain.from_iterable(p.notes for p in pieces))
    entries = tuple(chain.from_iterable(p.parsed.entries for p in pieces))
    found = [r for r in (*first.reasons, *dict.fromkeys(notes)) if r]
    return dataclasses.replace(first.parsed, entries=entries, degraded="; ".join(found) or None)


def _bounds(ready: Prepared, parts: int, min_items: int) -> list[tuple[int, int]] | None:
    """The byte range of each piece's items, cut where the bytes before it are about even; None: not split."""
    items, body = ready.items, ready.body
    if parts < 2 or ready.bounded is not None or len(items) < parts * min_items or not _reads_alike(ready):
        return None
    if any(body[end:start].strip() for (_, end), (start, _) in pairwise(items)):
        return None  # a comment or another element between items: it would be in one piece only
    starts = [start for start, _ in items]
    first, last = starts[0], items[-1][1]
    cuts = [0] + [bisect_left(starts, first + (last - first) * k // parts) for k in range(1, parts)]
    if any(b - a < min_items for a, b in zip(cuts, [*cuts[1:], len(items)], strict=True)):
        return None  # one huge item: pieces too uneven to be worth it
    edges = [starts[c] for c in cuts] + [last]
    return list(pairwise(edges))


def _reads_alike(ready: Prepared) -> bool:
    """Whether each piece's bytes decode as they do in the whole document, whatever feedparser tries."""
    body = ready.body
    if body.isascii():
        return True
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        return False
    declared = _DECLARED.match(body)
    if declared and declared.group(1).lower() not in _UTF8:
        return False
    charset = _CHARSET.search(ready.content_type or "")
    return charset is None or charset.group(1).lower().encode() in _UTF8
