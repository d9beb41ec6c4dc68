"""`fulltext` feeds, the database side: which article pages may be read, what a new item's page costs,
and the pending items an article fetcher claims.

    fetchable(feed, page)         the URL to read, or why not (an HTTP feed never names a local file)
    plan_articles(session, ...)   new items of a fulltext feed: pending (matched once the page is read),
                                  or matched now (no link, a refused link, a story already seen elsewhere)
    claim_pending(engine, ...)    lease pending items to one instance's fetcher, oldest first

An item's article is fetched once: only new items are planned, a story (same link or title key) that
another feed brought is not fetched again, and a pending item is leased like a due feed, so neither a
restart nor a second instance fetches it twice while the first still works on it.
"""

from __future__ import annotations

import os
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any
from urllib.parse import urlsplit

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor import db
from monitor.config import FeedConfig
from monitor.escaping import is_web_url
from monitor.fetch import redact_url
from monitor.models import Item

PENDING, OK, FAILED, SKIPPED = "pending", "ok", "failed", "skipped"


@dataclass(frozen=True)
class Pending:
    """A claimed item whose article page is to be read."""

    item_id: str
    feed: str
    page: str | None


def fetchable(feed: FeedConfig, page: str | None) -> tuple[str | None, str | None]:
    """(the URL or path to read, None), or (None, why it is not read; None when the item has no link)."""
    if not page:
        return None, None
    try:
        scheme = urlsplit(page).scheme.lower()
    except ValueError:
        return None, "not fetched: the link is not a valid URL"
    if scheme in ("http", "https"):
        return (page, None) if is_web_url(page) else (None, "not fetched: the link has no host")
    local = (scheme == "file" and page.startswith("file:///")) or (not scheme and os.path.isabs(page))
    if local and feed.local:
        return page, None
    if local:
        return None, "not fetched: a feed fetched over HTTP may not link to local files"
    return None, f"not fetched: not an http(s) link ({redact_url(page)[:80]})"


def plan_articles(
    session: Session, feed: FeedConfig, rows: Sequence[dict[str, Any]], alertable: set[str]
) -> tuple[set[str], list[tuple[dict[str, Any], str]]]:
    """Set the article fields of a fulltext feed's new item rows (already inserted).

    Returns the ids left pending (not to be matched now) and (row, reason) for each refused link.
    A story another feed already brought costs no fetch: its text is reused when that item has one.
    """
    pending: set[str] = set()
    refused: list[tuple[dict[str, Any], str]] = []
    seen = _seen_elsewhere(session, feed.name, rows)
    updates = []
    for row in rows:
        url, reason = fetchable(feed, row.get("page"))
        if url is not None and row["id"] not in seen:
            row["article_status"], row["article_alert"] = PENDING, row["id"] in alertable
            pending.add(row["id"])
        elif url is not None:
            row["article"] = seen[row["id"]]
            row["article_status"] = OK if row["article"] else SKIPPED
        else:
            row["article_status"] = FAILED if reason else SKIPPED
            if reason:
                refused.append((row, reason))
        updates.append(
            {
                "b_id": row["id"],
                "article": row.get("article", ""),
                "article_status": row["article_status"],
                "article_alert": row.get("article_alert", False),
            }
        )
    if updates:
        table = Item.__table__  # type: ignore[attr-defined]
        stmt = (
            sa.update(table)
            .where(table.c.id == sa.bindparam("b_id"))
            .values(
                article=sa.bindparam("article"),
                article_status=sa.bindparam("article_status"),
                article_alert=sa.bindparam("article_alert"),
            )
        )
        session.connection().execute(stmt, updates)
    return pending, refused


def _seen_elsewhere(session: Session, feed: str, rows: Iterable[dict[str, Any]]) -> dict[str, str]:
    """For each row whose story is already stored (same link key anywhere, same title key in another
    feed): the article text of that item ("" when it has none)."""
    rows = list(rows)
    ids = [r["id"] for r in rows]
    links = {r["link_key"] for r in rows if r.get("link_key")}
    titles = {r["title_key"] for r in rows if r.get("title_key")}
    if not rows:
        return {}
    same_link = col(Item.link_key).in_(links) if links else sa.false()
    same_title = sa.and_(col(Item.title_key).in_(titles), col(Item.feed) != feed) if titles else sa.false()
    stmt = select(Item.link_key, Item.title_key, Item.feed, Item.article).where(
        sa.or_(same_link, same_title), col(Item.id).not_in(ids)
    )
    by_link: dict[str, str] = {}
    by_title: dict[str, str] = {}
    for link_key, title_key, other, article in session.exec(stmt):
        if link_key:
            by_link[link_key] = by_link.get(link_key) or article
        if other != feed:
            by_title[title_key] = by_title.get(title_key) or article
    found = {}
    for row in rows:
        if row.get("link_key") in by_link:
            found[row["id"]] = by_link[row["link_key"]]
        elif row.get("title_key") in by_title:
            found[row["id"]] = by_title[row["title_key"]]
    return found


def claim_pending(
    engine: sa.Engine, owner: str, now: datetime, limit: int, busy: Iterable[str] = ()
) -> list[Pending]:
    """Lease up to `limit` pending items (not in `busy`, this fetcher's own) to `owner`, oldest first."""
    busy = list(busy)
    until = col(Item.lease_until)
    stmt = (
        select(Item.id, Item.feed, Item.page)
        .where(col(Item.article_status) == PENDING, sa.or_(until.is_(None), until < now))
        .order_by(col(Item.first_seen))
        .limit(limit)
        .with_for_update(skip_locked=True)
    )
    if busy:
        stmt = stmt.where(col(Item.id).not_in(busy))
    with Session(engine) as session:
        claimed = [Pending(*row) for row in session.exec(stmt)]
        if claimed:
            session.execute(
                sa.update(Item)
                .where(col(Item.id).in_([p.item_id for p in claimed]))
                .values(lease_owner=owner, lease_until=now + db.LEASE)
            )
        session.commit()
    return claimed


def has_pending(engine: sa.Engine) -> bool:
    """Whether any item still waits for its article."""
    with Session(engine) as session:
        stmt = select(Item.id).where(col(Item.article_status) == PENDING).limit(1)
        return session.exec(stmt).first() is not None
