"""The story on one page: poll = fetch, parse, dedup, match, route (one transaction); then deliver.

poll_due(rt)   claim_due: lease due feeds -> poll_claimed: fetch them (many in flight; on the
               daemon's fetch loop, fetchloop.py) -> each body to a parse worker as it arrives -> an
               ingest thread takes the feeds in arrival order: ingest_new() for those that brought
               new entries, several in one transaction, ingest() for the others. The daemon's
               poller (poller.py) calls the two halves itself, sleeping until the next feed is due
ingest()       parsed entries -> Item rows (ON CONFLICT DO NOTHING) -> match new items -> Match rows
               -> route -> Delivery rows (the outbox) -> events; all committed together (store.py)
finish_article the article of a `fulltext` item read (or failed): store its text, then match the item
lookback(rt)   new or changed rules run over the recent items, once
deliver        see deliver.py: claim due deliveries, send, mark sent / retry / failed
"""

from __future__ import annotations

import hashlib
import logging
import queue
import threading
from collections import Counter
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from types import EllipsisType
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor import db, events, fulltext, quietpolls, schedule, store
from monitor.config import Config, FeedConfig, RuleConfig
from monitor.errors import FetchError, ParseError
from monitor.fetch import fetch_iter, redact_url
from monitor.match import (
    applied_fingerprints,
    changed_rules,
    lookback_matches,
    mark_applied,
    match_items,
)
from monitor.metrics import POLLS
from monitor.models import Delivery, FeedState, Item, Match, utcnow
from monitor.parsepool import Pending, submit
from monitor.quietpolls import Quiet, is_quiet
from monitor.records import Fetched, FetchRequest, Parsed
from monitor.route import route
from monitor.runtime import Runtime
from monitor.store import (
    Brought,
    Prematched,
    Stored,
    article_failed,
    route_matches,
    store_feeds,
    store_items,
)

log = logging.getLogger("monitor.pipeline")
Parsing = Callable[[], Parsed | ParseError]  # a parse running in a worker process: call to wait for it
Job = tuple[FeedConfig, Fetched | FetchError, Parsing | None]  # a fetched feed, its parse under way
BATCH = 100
INGEST_BATCH = 50  # feeds with new entries stored in one transaction, at most
GATHER = 0.1  # seconds a batch waits for the next feed's parse before it goes without it
QUIET_WAIT = 0.2  # seconds: unchanged polls arriving this close together are written together


def sync_feeds(engine: sa.Engine, config: Config, previous: Config | None = None) -> None:
    """Make a FeedState row for every configured feed (due at once when new or moved).

    A feed whose interval changed since `previous` is rescheduled from its last poll; others keep theirs.
    """
    now = utcnow()
    with Session(engine) as session:
        db.exclusive(session, "sync_feeds")  # instances starting or reloading together take turns
        known = {s.name: s for s in session.exec(select(FeedState))}
        for feed in config.feeds.values():
            if not feed.enabled:  # `enabled: false`: never polled; its state is kept for when it is back
                continue
            state = known.get(feed.name)
            if state is None:
                session.add(FeedState(name=feed.name, url=feed.url, next_poll_at=now))
            elif state.url != feed.url:
                state.url, state.etag, state.last_modified, state.body_hash = feed.url, None, None, None
                state.next_poll_at = now
                session.add(state)
            elif _interval_changed(previous, feed) and state.status != "failing":  # failing: keep its backoff
                state.next_poll_at = schedule.rescheduled(now, feed.every, state.last_poll_at)
                session.add(state)
        session.commit()


def _interval_changed(previous: Config | None, feed: FeedConfig) -> bool:
    return bool(previous and feed.name in previous.feeds and previous.feeds[feed.name].every != feed.every)


@dataclass(frozen=True)
class Claimed:
    """Feeds leased to this instance for one poll, and when the first feed left over is due."""

    requests: list[FetchRequest]
    hashes: dict[str, str | None]  # each feed's last body hash: the same bytes are not parsed again
    next_due: datetime | None  # None: no unleased feed is waiting
    steady: frozenset[str] = frozenset()  # feeds "ok" when leased: an unchanged poll takes quiet_polls


@dataclass
class Polling:
    """A poll under way (`begin_poll`): its feeds being fetched, and parsed as each body arrives."""

    names: list[str]  # the feeds leased for this poll
    work: queue.Queue[Job | None]
    steady: frozenset[str] = frozenset()  # Claimed.steady
    fetched: set[str] = field(default_factory=set)  # the feeds whose fetch finished (so they are ingested)
    fetcher: threading.Thread | None = None


Fetching = Callable[..., Iterator[tuple[FetchRequest, Fetched | FetchError]]]


def poll_due(
    rt: Runtime, *, every_feed: bool = False, limit: int = BATCH, stop: threading.Event | None = None
) -> int:
    """Poll the feeds that are due (or all, for --once); `stop` abandons fetches still in flight."""
    claimed = claim_due(rt.engine, rt.config, rt.owner, every_feed=every_feed, limit=limit)
    poll_claimed(rt, claimed, stop=stop)
    return len(claimed.requests)


def claim_due(
    engine: sa.Engine, config: Config, owner: str, *, every_feed: bool = False, limit: int = BATCH
) -> Claimed:
    """Lease up to `limit` due feeds (all made due first, for --once) and learn when the next is due.

    Needs no matcher: `monitor run --once` claims and begins its poll before the rules are indexed."""
    now = utcnow()
    with Session(engine) as session:
        if every_feed:
            session.execute(sa.update(FeedState).values(next_poll_at=now))
            session.commit()
        states, next_due = db.claim_feed_states(session, _enabled(config), owner, now, limit)
    requests = [FetchRequest(s.name, config.feeds[s.name].url, s.etag, s.last_modified) for s in states]
    steady = frozenset(
        s.name for s in states if s.status == "ok" and not s.failures and s.url == config.feeds[s.name].url
    )
    return Claimed(requests, {s.name: s.body_hash for s in states}, next_due, steady)


_enabled_of: tuple[Config, list[str]] | None = None


def _enabled(config: Config) -> list[str]:
    """The names of `config`'s enabled feeds; the same list for the same config (claims twice a second)."""
    global _enabled_of
    if _enabled_of is None or _enabled_of[0] is not config:
        _enabled_of = (config, [name for name, feed in config.feeds.items() if feed.enabled])
    return _enabled_of[1]


def poll_claimed(rt: Runtime, claimed: Claimed, *, stop: threading.Event | None = None) -> None:
    """Fetch, parse and ingest the claimed feeds (each ingest tells `rt.wakeup` its feed's next poll).

    The fetches run on the daemon's long-lived loop when it has one (`rt.fetch_loop`), else on a
    loop of their own (`run --once`).
    """
    if not claimed.requests:
        return
    fetching = rt.fetch_loop.fetch_iter if rt.fetch_loop is not None else fetch_iter
    finish_poll(rt, begin_poll(claimed, rt.config, fetching=fetching, stop=stop))


def begin_poll(
    claimed: Claimed,
    config: Config,
    *,
    fetching: Fetching = fetch_iter,
    stop: threading.Event | None = None,
    stream: bool = False,
) -> Polling:
    """Start fetching the claimed feeds in a thread, each body handed to a parse worker as it
    arrives; `finish_poll` ingests them.

    `stream` (`run --once`, whose matcher does not learn): a large feed's entries come back in
    chunks, and the ingest matches each chunk while the worker analyses the next (see `store.prematch`).
    """
    polling = Polling([r.feed for r in claimed.requests], queue.Queue(), claimed.steady)

    def fetch_all() -> None:
        try:
            for request, result in fetching(claimed.requests, stop=stop):  # parsing starts as a body arrives
                parsing = start_parse(claimed.hashes[request.feed], result, stream=stream)
                polling.work.put((config.feeds[request.feed], result, parsing))
                polling.fetched.add(request.feed)
        finally:
            polling.work.put(None)

    if claimed.requests:
        polling.fetcher = threading.Thread(target=fetch_all, name="fetch-feeds", daemon=True)
        polling.fetcher.start()
    else:
        polling.work.put(None)
    return polling


def finish_poll(rt: Runtime, polling: Polling) -> None:
    """Ingest the feeds of `polling` in arrival order (in this thread).

    Feeds whose fetch was abandoned (stopping) are released: the next start polls them.
    """
    try:
        _ingest_all(rt, polling.work, polling.steady)
    finally:
        if polling.fetcher is not None:
            polling.fetcher.join()
    if abandoned := [n for n in polling.names if n not in polling.fetched]:
        release_feeds(rt.engine, rt.owner, abandoned)


def _ingest_all(rt: Runtime, work: queue.Queue[Job | None], steady: frozenset[str] = frozenset()) -> None:
    """Ingest fetched feeds in arrival order: waits on parses only, never on a slow fetch.

    After the next feed's parse, the feeds queued behind it whose parse is over too are taken with it
    (at most INGEST_BATCH; a parse still running GATHER seconds on ends the batch, so it holds up none
    taken before it longer than that):
    those that brought new entries are stored in one transaction (`ingest_new`), the others (unchanged,
    failed, `fulltext`) one by one (`ingest`). Each feed's next poll goes to `rt.wakeup` as soon as it
    is committed (a short backoff or Retry-After may fall before the poller's plan), not at the poll's
    end: a hanging feed of the batch holds up no other. Unchanged polls of `steady` feeds (`is_quiet`)
    are gathered while more arrive within QUIET_WAIT, then written together (`quiet_polls`).
    """
    held: Job | None = None  # the next feed, its parse still running when the last batch was taken
    end = False
    quiet: list[Quiet] = []
    while not end:
        try:
            job = held or (work.get(timeout=QUIET_WAIT) if quiet else work.get())
        except queue.Empty:
            quiet = quiet_polls(rt, quiet)
            continue
        if job is None:
            break
        jobs, held = [_parsed(rt, job)], None
        while len(jobs) < INGEST_BATCH:
            try:
                more = work.get_nowait()
            except queue.Empty:
                break
            if more is None:
                end = True
                break
            if isinstance(more[2], Pending) and not more[2].ready(GATHER):
                held = more
                break
            jobs.append(_parsed(rt, more))
        _ingest_jobs(rt, jobs, steady, quiet)
        if len(quiet) >= BATCH:
            quiet = quiet_polls(rt, quiet)
    quiet_polls(rt, quiet)


ParsedJob = tuple[
    FeedConfig, Fetched | FetchError, Parsing | None, Parsed | ParseError | None, Prematched | None
]


def _parsed(rt: Runtime, job: Job) -> ParsedJob:
    """The job with its parse's outcome (waited for; None: nothing to parse), and what `store.prematch`
    made of a streamed parse's chunks while it arrived."""
    feed, result, parsing = job
    early = store.prematch(rt, feed, parsing)
    return feed, result, parsing, parsing() if parsing is not None else None, early


def _ingest_jobs(
    rt: Runtime,
    jobs: list[ParsedJob],
    steady: frozenset[str] = frozenset(),
    quiet: list[Quiet] | None = None,
) -> None:
    """Ingest a batch of parsed jobs: the new feeds together, the others alone; unchanged polls of
    `steady` feeds go to `quiet` (written by the caller, `quiet_polls`)."""
    new: list[tuple[FeedConfig, Fetched, Parsed]] = []
    early: dict[str, Prematched] = {}
    for feed, result, parsing, outcome, found in jobs:
        if quiet is not None and feed.name in steady and is_quiet(result, parsing):
            quiet.append(Quiet(feed, result, utcnow()))  # type: ignore[arg-type]  # is_quiet: a Fetched
        elif isinstance(outcome, Parsed) and isinstance(result, Fetched) and not feed.fulltext:
            new.append((feed, result, outcome))
            if found is not None:
                early[feed.name] = found
        else:
            _ingest_alone(rt, feed, result, parsing and _given(outcome))
    if not new:
        return
    try:
        afters = ingest_new(rt, new, early)
    except Exception:  # e.g. a deadlock with another instance: each feed on its own, as if not batched
        log.exception("ingest of %d feeds together failed; each is ingested alone", len(new))
        for feed, result, parsed in new:
            _ingest_alone(rt, feed, result, _given(parsed))
        return
    for after in afters:
        if after is not None:
            rt.wakeup.soon(after)


def quiet_polls(rt: Runtime, polls: list[Quiet]) -> list[Quiet]:
    """Write unchanged polls of feeds that were "ok" together (`quietpolls.write`); when that did
    not hold for every one (another instance or a reload changed a feed), each takes `ingest`.
    No event: nothing happened. Returns [] (the caller's list starts again)."""
    if not polls:
        return []
    due = quietpolls.write(rt.engine, polls)
    if due is None:
        for p in polls:
            _ingest_alone(rt, p.feed, p.result, None)
        return []
    POLLS.labels(outcome="not_modified").inc(len(polls))
    rt.wakeup.soon(due)
    return []


def _ingest_alone(
    rt: Runtime, feed: FeedConfig, result: Fetched | FetchError, parsing: Parsing | None
) -> None:
    try:
        after = ingest(rt, feed, result, parsing)
    except Exception:  # one feed's surprise must not leave the others of the batch unpolled
        log.exception("ingest of feed %s failed", feed.name)
        return
    if after is not None:
        rt.wakeup.soon(after)


def _given(outcome: Parsed | ParseError | None) -> Parsing:
    """A parse already waited for, as a `Parsing`."""
    assert outcome is not None
    return lambda: outcome


def start_parse(
    known_hash: str | None, result: Fetched | FetchError, *, stream: bool = False
) -> Parsing | None:
    """Hand changed bytes to a parse worker now (capped time and memory); None when nothing is new.

    `stream`: the parse is a `parsepool.Streaming` (its entries come in chunks as well as whole)."""
    if isinstance(result, FetchError) or result.body is None or _digest(result.body) == known_hash:
        return None
    return submit(result.body, result.final_url, result.content_type, stream=stream)


def _digest(body: bytes) -> str:
    return hashlib.sha256(body).hexdigest()


def release_feeds(engine: sa.Engine, owner: str, names: list[str]) -> None:
    """Give up `owner`'s leases on these feeds (not polled after all: the next poll takes them)."""
    with Session(engine) as session:
        session.execute(
            sa.update(FeedState)
            .where(col(FeedState.name).in_(names), col(FeedState.lease_owner) == owner)
            .values(lease_owner=None, lease_until=None)
        )
        session.commit()


def ingest(
    rt: Runtime, feed: FeedConfig, result: Fetched | FetchError, parsing: Parsing | EllipsisType | None = ...
) -> datetime | None:
    """Everything one poll result changes, committed in one transaction; returns the feed's next poll.

    `parsing` is the parse `start_parse` began (None: nothing new to parse); `...` starts it here.
    """
    now = utcnow()
    with Session(rt.engine) as session:
        state = session.get(FeedState, feed.name) or FeedState(name=feed.name, url=feed.url)
        state.last_poll_at, state.lease_owner, state.lease_until = now, None, None
        if isinstance(parsing, EllipsisType):
            parsing = start_parse(state.body_hash, result)
        try:
            parsed = _parse(state, result, parsing)
        except (FetchError, ParseError) as exc:
            _failed(session, state, feed, exc, now)
            outcome = "failed"
        else:
            _fetched(rt, session, state, feed, result, parsed, now)  # type: ignore[arg-type]  # a FetchError result raised in _parse
            outcome = "ok" if parsed else "not_modified"
        session.add(state)
        pending = session.info.pop("articles_pending", False)
        next_poll = state.next_poll_at
        session.commit()
    if pending:
        rt.articles_due.set()
    POLLS.labels(outcome=outcome).inc()
    return next_poll


def ingest_new(
    rt: Runtime,
    jobs: Sequence[tuple[FeedConfig, Fetched, Parsed]],
    early: Mapping[str, Prematched] | None = None,
) -> list[datetime | None]:
    """`ingest` of several feeds that each brought a new body (parsed), in one transaction for them
    all: one query for their states, one INSERT for their items (`store.store_feeds`), one for their
    events. Returns each feed's next poll. Stores exactly what `ingest` of each alone would
    (tests/test_ingest_batch.py); not for `fulltext` feeds, whose articles are planned against the
    stories stored before them (`ingest` takes those one by one)."""
    now = utcnow()
    names = [feed.name for feed, _, _ in jobs]
    with Session(rt.engine) as session:
        known = {s.name: s for s in session.exec(select(FeedState).where(col(FeedState.name).in_(names)))}
        states = [known.get(feed.name) or FeedState(name=feed.name, url=feed.url) for feed, _, _ in jobs]
        brought = [
            Brought(feed, parsed.entries, first_poll=not state.polled, early=(early or {}).get(feed.name))
            for (feed, _, parsed), state in zip(jobs, states, strict=True)
        ]
        stored = store_feeds(rt, session, brought, now)
        notes = []
        for (feed, result, parsed), state, one in zip(jobs, states, stored, strict=True):
            assert result.body is not None  # a parsed body
            state.last_poll_at, state.lease_owner, state.lease_until = now, None, None
            state.body_hash = _digest(result.body)
            notes += _fetched(rt, session, state, feed, result, parsed, now, stored=one)
            session.add(state)
        events.record_all(session, notes)
        next_polls = [state.next_poll_at for state in states]
        session.commit()
    POLLS.labels(outcome="ok").inc(len(jobs))
    return next_polls


def _parse(state: FeedState, result: Fetched | FetchError, parsing: Parsing | None) -> Parsed | None:
    """The parsed feed, or None when nothing changed (304, or the same bytes as last time)."""
    if isinstance(result, FetchError):
        raise result
    if parsing is None or result.body is None:
        return None
    parsed = parsing()
    if isinstance(parsed, ParseError):
        raise parsed
    state.body_hash = _digest(result.body)
    return parsed


def _failed(
    session: Session, state: FeedState, feed: FeedConfig, exc: FetchError | ParseError, now: datetime
) -> None:
    reason = exc.reason
    changed = state.status != "failing" or state.reason != reason
    state.failures += 1
    state.status, state.reason = "failing", reason
    retry_after = exc.retry_after if isinstance(exc, FetchError) else None
    state.next_poll_at = schedule.after_failure(now, feed.every, state.failures, retry_after)
    if changed:  # once per state change, not once per poll: `monitor feeds` shows the count
        shown = f"{feed.name}: {redact_url(exc.url)}: {reason}"  # a redirect's URL may hold a new token
        events.record(session, "fetch_failed", shown, feed=feed.name, failures=state.failures)


def _fetched(
    rt: Runtime,
    session: Session,
    state: FeedState,
    feed: FeedConfig,
    result: Fetched,
    parsed: Parsed | None,
    now: datetime,
    stored: Stored | None = None,
) -> list[dict[str, Any]]:
    """The state after a fetch; `stored`: its entries are stored already (`ingest_new`), and the
    events still to record (its new items', matches' and its own) are returned, else recorded."""
    if state.status == "failing":
        events.record(
            session, "fetch", f"{feed.name} recovered after {state.failures} failures", feed=feed.name
        )
    state.failures, state.last_ok_at = 0, now
    state.etag, state.last_modified = result.etag or state.etag, result.last_modified or state.last_modified
    moved = _moved(session, state, feed, result)
    ttl = parsed.ttl_minutes if parsed else None
    state.next_poll_at = schedule.after_success(now, feed.every, result.max_age, ttl)
    if parsed is None:
        if state.status in ("failing", "ok", "new"):
            state.status, state.reason = "ok", moved
        # nothing new: the state and counters change, the event log does not (960,000 rows a day at
        # 10,000 feeds every 15 min); a state change (recovered, moved) has its own event above
        log.debug("fetch %s: unchanged (status %s)", feed.name, result.status)
        return []
    reason = "; ".join(r for r in (parsed.degraded, moved) if r) or None
    state.status, state.reason = ("degraded" if parsed.degraded else "ok"), reason
    first_poll = not state.polled
    new = (
        stored.new
        if stored
        else store_items(rt, session, feed, parsed.entries, first_poll=first_poll, now=now)
    )
    state.polled, state.items = True, state.items + new
    done = events.event(
        "fetch", f"{len(parsed.entries)} entries, {new} new", feed=feed.name, status=result.status
    )
    if stored is not None:
        return [*stored.events, done]
    events.record_all(session, [done])
    return []


def _moved(session: Session, state: FeedState, feed: FeedConfig, result: Fetched) -> str | None:
    """The reason shown for a feed a 301/308 moved (reported once, as an event, while it stays moved)."""
    if not result.permanent_redirect:
        return None
    moved = f"moved permanently to {redact_url(result.permanent_redirect)}: update its url"
    if moved not in (state.reason or ""):
        events.record(
            session,
            "fetch",
            f"{feed.name} {moved}",
            feed=feed.name,
            moved_to=redact_url(result.permanent_redirect),
        )
    return moved


def finish_article(rt: Runtime, item_id: str, outcome: str | Exception | None) -> bool:
    """Store a pending item's article text (or its failure: `outcome` is the error; None: not fetched,
    e.g. the feed is no longer `fulltext`), then match and route the item, in one transaction.

    Returns False when the item was not pending any more (finished elsewhere, or pruned): nothing is
    done twice.
    """
    now = utcnow()
    text = outcome if isinstance(outcome, str) else ""
    status = fulltext.OK if text else fulltext.FAILED if outcome is not None else fulltext.SKIPPED
    with Session(rt.engine) as session:
        done = session.execute(
            sa.update(Item)
            .where(col(Item.id) == item_id, col(Item.article_status) == fulltext.PENDING)
            .values(article=text, article_status=status, lease_owner=None, lease_until=None)
        )
        if done.rowcount != 1:  # type: ignore[attr-defined]  # an UPDATE gives a CursorResult; execute() is typed as Result
            session.rollback()
            return False
        item = session.get(Item, item_id)
        assert item is not None
        if isinstance(outcome, Exception):
            events.record_all(session, [article_failed(session, item.feed, item_id, str(outcome))])
        if item.article_alert:
            active = rt.active  # read once: a config goes with its own matcher
            rows = match_items(active.config, active.matcher, [item.model_dump()], now)
            route_matches(active.config, session, rows, now)
        session.commit()
    return True


def replay(config: Config, session: Session, rules: Sequence[RuleConfig], now: datetime) -> int:
    """Give each channel newly on a rule's `alert:` the rule's matches of its lookback window, once.

    Deliveries are unique per (match, channel): a channel that already had a match gets nothing again;
    muted matches are never delivered. Return how many deliveries were made.
    """
    windows = {rule.name: now - rule.lookback for rule in rules if rule.alert and rule.enabled}
    if not windows:
        return 0
    stmt = select(Match).where(
        col(Match.rule).in_(sorted(windows)),
        col(Match.muted).is_(False),
        col(Match.created_at) >= min(windows.values()),
    )
    found = [m.model_dump() for m in session.exec(stmt) if m.created_at >= windows[m.rule]]
    rows = route(config, found, now)
    inserted = db.insert_ignore(session, Delivery, rows)
    made = Counter((row["rule"], row["channel"]) for row in rows if row["id"] in inserted)
    for (rule, channel), count in sorted(made.items()):
        events.record(
            session,
            "delivery",
            f"{rule}: {count} match(es) of its lookback window queued for {channel}, newly on its alert list",
            rule=rule,
            channel=channel,
            replayed=count,
        )
    return sum(made.values())


def lookback(rt: Runtime) -> int:
    """Run new or changed rules over the items of their lookback window, once; return the matches made."""
    config, now = rt.config, utcnow()
    with Session(rt.engine) as session:
        db.exclusive(session, "lookback")  # one instance runs a rule's lookback, the others then find it done
        known = applied_fingerprints(session)
        todo = changed_rules(session, config, known)
        matches = lookback_matches(rt.config, session, todo, now) if todo else []
        route_matches(config, session, matches, now)
        replay(config, session, todo, now)
        mark_applied(session, todo, now, known)
        session.commit()
    return len(matches)
