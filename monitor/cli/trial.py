"""`monitor try`: run a query against stored items or a feed's current items, without alerting."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Mapping
from dataclasses import dataclass
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from monitor.articlefetch import read_pages
from monitor.config import FeedConfig
from monitor.errors import FetchError
from monitor.fetch import fetch_all
from monitor.fulltext import fetchable
from monitor.match import document_fields
from monitor.models import Item, utcnow
from monitor.parsepool import parse_isolated
from monitor.query import Query, analyze_item
from monitor.records import FetchRequest, Snippet
from monitor.store import item_row


@dataclass(frozen=True)
class TryHit:
    id: str
    title: str
    link: str | None
    feed: str
    matched_terms: tuple[str, ...]
    snippet: Snippet


def stored_items(engine: sa.Engine, since: timedelta) -> list[dict[str, Any]]:
    """Stored items first seen in the window, newest first."""
    stmt = select(Item).where(Item.first_seen >= utcnow() - since).order_by(Item.first_seen.desc())  # type: ignore[attr-defined]
    with Session(engine) as session:
        return [item.model_dump() for item in session.exec(stmt)]


def feed_items(name: str, url: str) -> list[dict[str, Any]]:
    """Every item currently in a feed (a URL, a path, or a configured feed's URL), whatever its age."""
    if "://" not in url:
        url = str(Path(url).resolve())
    [result] = fetch_all([FetchRequest(name, url)])
    if isinstance(result, FetchError):
        raise result
    assert result.body is not None
    parsed = parse_isolated(result.body, result.final_url, result.content_type)  # the daemon's caps
    now = utcnow()
    return [item_row(name, entry, now) for entry in parsed.entries]


def with_articles(
    feed: FeedConfig,
    items: list[dict[str, Any]],
    *,
    per_host: int = 4,
    progress: Callable[[int], None] | None = None,
) -> list[str]:
    """Read the article page of each item of a `fulltext` feed into its `article` field, as the daemon
    would (same bounds, same refusals); `progress(n)` first with the number of pages, then after each.
    Returns why each page that could not be read failed."""
    todo = [(item, fetchable(feed, item.get("page"))) for item in items]
    failures = [reason for _, (url, reason) in todo if url is None and reason]
    wanted = [(item, url) for item, (url, _) in todo if url is not None]
    if progress is not None:
        progress(len(wanted))
    outcomes = read_pages(
        feed.name, [url for _, url in wanted], per_host=per_host, on_done=lambda _: progress and progress(1)
    )
    for (item, _), outcome in zip(wanted, outcomes, strict=True):
        if isinstance(outcome, str):
            item["article"] = outcome
        else:
            failures.append(str(outcome))
    return failures


def run_query(query: Query, items: Iterable[Mapping[str, Any]]) -> list[TryHit]:
    """Evaluate one query on items; a hit carries the matched terms and a highlighted snippet."""
    hits = []
    for item in items:
        doc = analyze_item(document_fields(item))
        hit = query.evaluate(doc)
        if hit is not None:
            hits.append(
                TryHit(
                    item["id"],
                    item["title"],
                    item.get("link"),
                    item["feed"],
                    hit.matched_terms,
                    hit.snippet(doc),
                )
            )
    return hits


__all__ = ["TryHit", "feed_items", "run_query", "stored_items", "with_articles"]
