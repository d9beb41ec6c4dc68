"""Alerts for channel and render tests: a plain one, a digest, and one full of hostile feed text."""

from __future__ import annotations

from datetime import UTC, datetime

from monitor.records import Alert, AlertItem, Snippet

HOSTILE_TITLE = "Breaking <!channel> <https://evil.example|click> @here @everyone\nBcc: victim@example.org"
PUBLISHED = datetime(2026, 11, 25, 3, 0, tzinfo=UTC)


def item(
    n: int = 1, *, title: str | None = None, link: str | None = None, snippet: str | None = None
) -> AlertItem:
    """A matched item; by default about a UK military meeting, with both terms highlighted."""
    text = snippet or "On Thursday the UK military met in London."
    return AlertItem(
        id=f"item-{n}",
        title=title if title is not None else f"UK military meeting {n}",
        link=link if link is not None else f"https://news.example.org/story/{n}?a=1&b=2",
        feed="world-news",
        published=PUBLISHED,
        matched_terms=("UK", "military"),
        snippet=Snippet(text, ((16, 18), (19, 27))) if snippet is None else Snippet(text),
    )


def alert(*items: AlertItem, rule: str = "uk-military", id: str = "dlv-42") -> Alert:
    """An alert of the given items (one default item if none): a match, or a digest for several."""
    chosen = items or (item(),)
    return Alert(
        id=id, rule=rule, items=chosen, kind="digest" if len(chosen) > 1 else "match", created=PUBLISHED
    )


def hostile() -> Alert:
    """An alert whose feed text tries to ping, forge links, inject headers and smuggle a javascript: link."""
    bad = item(
        1,
        title=HOSTILE_TITLE,
        link="javascript:alert(document.cookie)",
        snippet="Click <https://evil.example|here> *now* <!here> @channel <script>alert(1)</script>\x1b[31mred",
    )
    return alert(bad, id="dlv-hostile")
