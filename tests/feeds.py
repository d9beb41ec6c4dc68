"""Build RSS documents for tests from a few fields per item."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from xml.sax.saxutils import escape


@dataclass(frozen=True)
class It:
    """One test item; `age` is how long ago it was published (None: no date in the feed)."""

    title: str
    text: str = ""
    link: str | None = None
    guid: str | None = None
    age: timedelta | None = timedelta(minutes=5)


def rss(*items: It, title: str = "test feed") -> bytes:
    """An RSS 2.0 document with these items, newest first as feeds usually are."""
    now = datetime.now(UTC)
    parts = [f"<item><title>{escape(it.title)}</title>" for it in items]
    for i, it in enumerate(items):
        if it.link:
            parts[i] += f"<link>{escape(it.link)}</link>"
        if it.guid:
            parts[i] += f'<guid isPermaLink="false">{escape(it.guid)}</guid>'
        if it.age is not None:
            parts[i] += f"<pubDate>{format_datetime(now - it.age)}</pubDate>"
        parts[i] += f"<description>{escape(it.text)}</description></item>"
    body = "".join(parts)
    return (
        f'<?xml version="1.0" encoding="UTF-8"?><rss version="2.0"><channel><title>{escape(title)}</title>'
        f"<link>https://example.org/</link><description>test</description>{body}</channel></rss>"
    ).encode()
