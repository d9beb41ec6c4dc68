"""Store what polls brought: new Item rows (each stored once), their matches, deliveries and events.

store_feeds    the entries of one feed or of several, in the caller's transaction: the stored ones
               found in one query, every other in one INSERT ... ON CONFLICT DO NOTHING, one matcher
               pass over the new items, the matches and their deliveries in one INSERT each; returns
               each feed's new count and events (not yet recorded), so a caller ingesting many feeds
               records them all in one write
store_items    one feed's entries, events recorded (pipeline.ingest)
route_matches  matches -> Match rows (a story alerts a rule once) -> Delivery rows, with their events

A batch stores exactly what its feeds stored one by one would (tests/test_ingest_batch.py): item ids
are scoped to their feed, so feeds never share a row, and the matches go in in the feeds' order, so
when two feeds of a batch bring one story the first feed's match is the one kept, as it would be.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col

from monitor import db, dedup, events, fulltext, mutes
from monitor.config import Config, FeedConfig
from monitor.match import match_items
from monitor.models import Delivery, FeedState, Item, Match, utcnow
from monitor.parsepool import Streaming
from monitor.records import Entry
from monitor.route import route
from monitor.runtime import Active, Runtime

FIRST_POLL_WINDOW = timedelta(hours=24)
Titles = dict[str, tuple[str, str | None]]  # item id -> (title, link), for the match events


@dataclass(frozen=True)
class Brought:
    """One feed's parsed entries to store; `first_poll`: the feed has never been polled successfully."""

    feed: FeedConfig
    entries: Sequence[Entry]
    first_poll: bool
    early: Prematched | None = None  # rows and matches made while a streamed parse arrived


@dataclass
class Prematched:
    """The Item rows and matches `prematch` made of a streamed feed's entries as they arrived.

    Kept by entry (the very object): `store_feeds` uses a row or an item's matches only for the entry
    that made them, so a duplicate id later in the feed, an item that turned out stored, or a parse
    done again (new objects) gets what the plain path gives it.
    """

    active: Active  # what it matched with
    now: datetime  # when (rows and matches take the store's time: first_seen, created_at)
    rows: dict[int, tuple[Entry, dict[str, Any]]] = field(default_factory=dict)
    found: dict[str, tuple[Entry, list[dict[str, Any]]]] = field(default_factory=dict)

    def row(self, entry: Entry) -> dict[str, Any] | None:
        known = self.rows.get(id(entry))
        return known[1] if known is not None and known[0] is entry else None


@dataclass
class Stored:
    """What storing one feed's entries made: how many items were new, and the events to record."""

    new: int
    events: list[dict[str, Any]] = field(default_factory=list)


def item_row(feed: str, entry: Entry, now: datetime) -> dict[str, Any]:
    """The Item row of a parsed entry, with its identity and story keys."""
    link_key, title_key = dedup.story_keys(entry)
    return {
        "id": dedup.item_id(feed, entry),
        "feed": feed,
        "guid": entry.guid,
        "link": entry.link,
        "title": entry.title,
        "summary": entry.summary,
        "content": entry.content,
        "author": entry.author,
        "categories": list(entry.categories),
        "published": entry.published,
        "first_seen": now,
        "link_key": link_key,
        "title_key": title_key,
        "page": entry.page,
    }


def store_items(
    rt: Runtime,
    session: Session,
    feed: FeedConfig,
    entries: Sequence[Entry],
    *,
    first_poll: bool,
    now: datetime,
) -> int:
    """Insert new items, match and route those that may alert, record the events; return how many
    items were new."""
    [stored] = store_feeds(rt, session, [Brought(feed, entries, first_poll)], now)
    events.record_all(session, stored.events)
    return stored.new


def store_feeds(rt: Runtime, session: Session, brought: Sequence[Brought], now: datetime) -> list[Stored]:
    """Insert the new items of each feed, match and route those that may alert; each feed's outcome.

    The events (each new item, each refused article, each new match) are returned, not recorded.
    """
    rows_of: list[list[dict[str, Any]]] = []
    analyses, last = {}, {}
    for one in brought:
        by_id = {}  # the last entry of an id wins, as its analysis does
        for entry in one.entries:
            pre = one.early.row(entry) if one.early else None  # made a moment before: this `now`
            row = {**pre, "first_seen": now} if pre else item_row(one.feed.name, entry, now)
            by_id[row["id"]], analyses[row["id"]], last[row["id"]] = row, entry.analysis, entry
        rows_of.append(list(by_id.values()))
    every = [row for rows in rows_of for row in rows]
    known = _stored_ids(session, [row["id"] for row in every])  # most of a changed feed's, usually
    inserted = db.insert_ignore(session, Item, [row for row in every if row["id"] not in known])
    stale = now - rt.config.retention
    outcomes: list[Stored] = []
    feed_of: dict[str, tuple[int, Stored]] = {}  # item id -> its feed's place in `brought`, its outcome
    titles: Titles = {}
    to_match: list[dict[str, Any]] = []
    for place, (one, rows) in enumerate(zip(brought, rows_of, strict=True)):
        new = [row for row in rows if row["id"] in inserted]
        alert_ids = {r["id"] for r in new if _alertable(r, one, now, stale)}
        stored = Stored(len(new), [_item_event(r, r["id"] in alert_ids) for r in new])
        waiting: set[str] = set()
        if one.feed.fulltext and new:  # these are matched once their article is read (or failed)
            waiting, refused = fulltext.plan_articles(session, one.feed, new, alert_ids)
            for row, reason in refused:
                stored.events.append(article_failed(session, one.feed.name, row["id"], reason))
            if waiting:
                session.info["articles_pending"] = True  # the caller wakes the article fetcher after commit
        now_matched = [r for r in new if r["id"] in alert_ids and r["id"] not in waiting]
        to_match += now_matched
        for row in now_matched:
            feed_of[row["id"]], titles[row["id"]] = (place, stored), (row["title"], row["link"])
        outcomes.append(stored)
    active = rt.active  # read once: a reload may swap it, and a config goes with its own matcher
    matches, rest = [], []
    for row in to_match:  # what a streamed parse's prematch found for the very entry, else matched here
        early = brought[feed_of[row["id"]][0]].early
        found = early.found.get(row["id"]) if early and early.active is active else None
        if found is not None and found[0] is last[row["id"]]:
            matches += [{**match, "created_at": now} for match in found[1]]
        else:
            rest.append(row)
    matches += match_items(active.config, active.matcher, rest, now, analyses)
    # feed by feed, each feed's sorted: the rows one transaction per feed would insert, in that order
    matches.sort(key=lambda m: (feed_of[m["item_id"]][0], m["id"]))
    for match in insert_matches(active.config, session, matches, now, in_order=True):
        event = _match_event(active.config, match, titles[match["item_id"]])
        feed_of[match["item_id"]][1].events.append(event)
    return outcomes


def _stored_ids(session: Session, ids: list[str]) -> set[str]:
    """Which of these items are stored already, in one query: only the others go to the INSERT
    (which still skips any that another instance stores meanwhile)."""
    found: set[str] = set()
    for some in _in_pieces(ids):
        found.update(session.execute(sa.select(col(Item.id)).where(col(Item.id).in_(some))).scalars())
    return found


def _in_pieces(ids: Sequence[str], size: int = 500) -> Iterator[Sequence[str]]:
    """`ids` in pieces of `size`, for `IN (...)` queries with a bounded number of parameters."""
    for start in range(0, len(ids), size):
        yield ids[start : start + size]


def _alertable(row: dict[str, Any], brought: Brought, now: datetime, stale: datetime) -> bool:
    """Whether a new item may alert: a first poll is silent (unless `backfill`) but for the last day's
    items; after it, an item older than retention is one pruned while its feed still carries it."""
    published = row["published"]
    if (
        brought.first_poll
        and not brought.feed.backfill
        and not (published and published >= now - FIRST_POLL_WINDOW)
    ):
        return False
    return brought.first_poll or not (published and published < stale)


def article_failed(session: Session, feed: str, item_id: str, reason: str) -> dict[str, Any]:
    """An article that could not be read: one more in the feed's count (`monitor feeds`); returns its
    event, to record."""
    session.execute(
        sa.update(FeedState)
        .where(col(FeedState.name) == feed)
        .values(article_failures=FeedState.article_failures + 1)
    )
    return events.event("article_failed", f"{feed}: {reason}", feed=feed, item_id=item_id)


def _item_event(row: dict[str, Any], alertable: bool) -> dict[str, Any]:
    note = "" if alertable else " (stored silently: older than the first-poll window or retention)"
    return events.event("item", f"{row['title'][:120]}{note}", feed=row["feed"], item_id=row["id"])


def route_matches(config: Config, session: Session, matches: list[dict[str, Any]], now: datetime) -> None:
    """Store matches (a story alerts a rule once) and their deliveries, with an event per match."""
    fresh = insert_matches(config, session, matches, now)
    items = _titles(session, {m["item_id"] for m in fresh})
    events.record_all(session, (_match_event(config, m, items.get(m["item_id"])) for m in fresh))


def insert_matches(
    config: Config, session: Session, matches: list[dict[str, Any]], now: datetime, *, in_order: bool = False
) -> list[dict[str, Any]]:
    """Store matches and the deliveries of the new ones; return the new ones (`muted` set).

    A muted rule's matches are stored with `muted` set and get no delivery, then or later. `in_order`:
    insert the matches in the order given (else sorted by id).
    """
    if not matches:
        return []
    muted = mutes.active(session, now)
    matches = [{**m, "muted": m["rule"] in muted} for m in matches]
    inserted = db.insert_ignore(session, Match, matches, in_order=in_order)
    fresh = [m for m in matches if m["id"] in inserted]
    db.insert_ignore(session, Delivery, route(config, [m for m in fresh if not m["muted"]], now))
    return fresh


def _titles(session: Session, ids: set[str]) -> Titles:
    """Each item's (title, link), for the match events."""
    found: Titles = {}
    for some in _in_pieces(sorted(ids)):
        stmt = sa.select(col(Item.id), col(Item.title), col(Item.link)).where(col(Item.id).in_(some))
        found |= {row.id: (row.title, row.link) for row in session.execute(stmt)}
    return found


def _match_event(config: Config, match: dict[str, Any], item: tuple[str, str | None] | None) -> Any:
    rule = config.rules.get(match["rule"])
    note = " (muted)" if match["muted"] else "" if rule and rule.alert else " (dry run: no channel)"
    title, link = item or ("", None)
    return events.event(
        "match",
        f"{match['rule']} matched{note}: {title[:120]}" + (f" <{link}>" if link else ""),
        rule=match["rule"],
        item_id=match["item_id"],
        terms=match["matched_terms"],
        title=title,
        link=link,
        muted=match["muted"],
    )


def prematch(rt: Runtime, feed: FeedConfig, parsing: object) -> Prematched | None:
    """Build the Item rows of a streamed parse's entries and match those not stored yet, a chunk at
    a time as they arrive, while the worker analyses the next (None when there is nothing to do
    early: not streamed, a learning matcher, a `fulltext` feed, a small feed sent whole).

    Only work that changes nothing: rows built, items matched, nothing written; `store_feeds`
    then does what it always does, in its order, with what was found here (kept by entry).
    """
    if not isinstance(parsing, Streaming):
        return None
    active = rt.active
    if active.matcher.learning is not None or feed.fulltext:  # a learning matcher counts what it matches
        return None
    now = utcnow()
    early = Prematched(active, now)
    stale = now - active.config.retention
    with Session(rt.engine) as session:
        state = session.get(FeedState, feed.name)
        brought = Brought(feed, (), first_poll=not (state and state.polled))
        for chunk in parsing.chunks():
            latest = {}  # a duplicate id in one chunk: the last entry of it wins, as in store_feeds
            for entry in chunk:
                row = item_row(feed.name, entry, now)
                early.rows[id(entry)] = (entry, row)
                latest[row["id"]] = (entry, row)
            stored = _stored_ids(session, list(latest))
            todo = [
                (e, r)
                for e, r in latest.values()
                if r["id"] not in stored and _alertable(r, brought, now, stale)
            ]
            found = match_items(
                active.config,
                active.matcher,
                [r for _, r in todo],
                now,
                {r["id"]: e.analysis for e, r in todo},
            )
            per_item: dict[str, list[dict[str, Any]]] = {r["id"]: [] for _, r in todo}
            for match in found:
                per_item[match["item_id"]].append(match)
            for entry, row in todo:
                early.found[row["id"]] = (entry, per_item[row["id"]])
    return early if early.rows else None
