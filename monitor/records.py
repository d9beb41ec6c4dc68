"""The records that flow between pipeline stages: Fetched -> Parsed/Entry -> (Item row) -> Alert.

Frozen dataclasses, so a stage can never change what an earlier stage produced.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal


@dataclass(frozen=True)
class FetchRequest:
    """What `fetch` needs to poll one feed: its URL (http(s), file:// or an absolute path) and validators."""

    feed: str
    url: str
    etag: str | None = None
    last_modified: str | None = None


@dataclass(frozen=True)
class Fetched:
    """The outcome of one successful fetch. `body is None` means 304 Not Modified."""

    feed: str
    url: str  # the URL asked for
    final_url: str  # after redirects
    status: int  # 200, 304; 0 for a local file
    body: bytes | None
    content_type: str | None = None
    etag: str | None = None
    last_modified: str | None = None
    permanent_redirect: str | None = None  # the new URL when a 301/308 moved the feed
    max_age: float | None = None  # Cache-Control max-age, seconds
    elapsed: float = 0.0

    @property
    def not_modified(self) -> bool:
        return self.body is None


@dataclass(frozen=True)
class Entry:
    """One feed item as clean text. Text fields are plain text (no markup); `link` is http(s) or None."""

    guid: str | None
    link: str | None
    title: str
    summary: str = ""
    content: str = ""
    author: str = ""
    categories: tuple[str, ...] = ()
    published: datetime | None = None  # timezone-aware UTC
    page: str | None = None  # the link as found, resolved but unchecked: where a `fulltext` feed's article is
    # The fields' analysis (entrytext.entry_analysis), made by the parse worker; None: analyze when matching.
    analysis: tuple[tuple[Sequence[str], bool], ...] | None = field(default=None, compare=False, repr=False)


@dataclass(frozen=True)
class Parsed:
    """A parsed feed. `degraded` names why the feed was not well-formed but still parsed."""

    title: str
    entries: tuple[Entry, ...]
    ttl_minutes: int | None = None
    degraded: str | None = None


@dataclass(frozen=True)
class Snippet:
    """A short quote of item text around the matched terms; `spans` are (start, end) offsets in `text`."""

    text: str
    spans: tuple[tuple[int, int], ...] = ()


@dataclass(frozen=True)
class AlertItem:
    """One matched item inside an alert."""

    id: str
    title: str
    link: str | None
    feed: str
    published: datetime | None
    matched_terms: tuple[str, ...]
    snippet: Snippet


@dataclass(frozen=True)
class Alert:
    """What a channel sends. `id` is stable across re-sends (webhook-id, Message-ID).

    `kind` is "match" for one item, "digest" for a batch of a rule's matches (or a grouped burst),
    "test" for `monitor alerts test`.
    """

    id: str
    rule: str
    items: tuple[AlertItem, ...]
    kind: Literal["match", "digest", "test"] = "match"
    created: datetime | None = None
    extra: dict[str, str] = field(default_factory=dict)
