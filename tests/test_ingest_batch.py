"""Feeds with new entries ingested together (`pipeline.ingest_new`, one transaction) store exactly what
`pipeline.ingest` of each alone stores: items, matches, deliveries, events in each feed's order, states."""

from __future__ import annotations

import concurrent.futures as cf
import queue
import threading
from collections import defaultdict
from datetime import timedelta
from pathlib import Path
from typing import Any

import sqlalchemy as sa
from feeds import It, rss
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from sqlmodel import Session, select
from waiting import wait_until

from monitor import db, mutes, pipeline
from monitor.config import load_config
from monitor.models import Delivery, Event, FeedState, Item, Match
from monitor.parse import parse_feed
from monitor.parsepool import Pending, _analyzed
from monitor.records import Fetched, Parsed
from monitor.runtime import Active, Runtime

FEEDS = ("a", "b", "c", "d")
RULES = """\
retention: 30d
feeds:
  - {name: a, url: 'http://127.0.0.1:9/a.xml'}
  - {name: b, url: 'http://127.0.0.1:9/b.xml', backfill: true}
  - {name: c, url: 'http://127.0.0.1:9/c.xml'}
  - {name: d, url: 'http://127.0.0.1:9/d.xml'}
rules:
  - {name: troops, match: troops, alert: [out]}
  - {name: talks, match: talks OR ceasefire}
  - {name: some, match: troops OR rain, feeds: [a, c], alert: [out]}
  - {name: hushed, match: rain, alert: [out]}
"""
CHANNELS = "channels:\n  out: {type: console}\n"
WORDS = ("troops", "talks", "rain", "ceasefire", "markets")
AGES = (timedelta(minutes=5), timedelta(days=2), timedelta(days=40), None)

# one item: (story number, words, age, guid or none); stories shared by feeds share link and title
items = st.lists(
    st.tuples(
        st.integers(0, 7),
        st.lists(st.sampled_from(WORDS), min_size=1, max_size=3),
        st.sampled_from(AGES),
        st.booleans(),
    ),
    max_size=5,
)
rounds = st.lists(st.dictionaries(st.sampled_from(FEEDS), items, min_size=1), min_size=1, max_size=3)


def runtime(root: Path) -> Runtime:
    (root / "rules").mkdir(parents=True)
    (root / "rules" / "watch.yaml").write_text(RULES, encoding="utf-8")
    (root / "channels.yaml").write_text(CHANNELS, encoding="utf-8")
    engine = db.make_engine(f"sqlite:///{root / 'monitor.db'}")
    db.create_schema(engine)
    rt = Runtime(engine, Active.build(load_config(root / "rules", root / "channels.yaml")))
    pipeline.sync_feeds(engine, rt.config)
    mutes.mute(engine, "hushed", None)
    return rt


def body(feed: str, round_no: int, entries: list[tuple[int, list[str], timedelta | None, bool]]) -> bytes:
    made = [
        It(
            f"Story {story} {words[0]}",
            " ".join(words),
            link=f"https://news.example.org/{story}?utm_source={feed}",
            guid=f"{feed}-{story}-{round_no}" if guid else None,
            age=age,
        )
        for story, words, age, guid in entries
    ]
    return rss(*made, title=f"feed {feed}")


def jobs_of(
    rt: Runtime, round_no: int, polls: dict[str, list[Any]], moved: bool
) -> list[tuple[Any, Fetched, Parsed]]:
    jobs = []
    for name, entries in polls.items():
        feed = rt.config.feeds[name]
        data = body(name, round_no, entries)
        redirect = "https://new.example.org/b.xml?token=s3cret" if moved and name == "b" else None
        fetched = Fetched(
            name, feed.url, feed.url, 200, data, etag=f'"{round_no}"', permanent_redirect=redirect
        )
        jobs.append((feed, fetched, _analyzed(parse_feed(data, feed.url))))
    return jobs


def failing(rt: Runtime, name: str) -> None:
    with Session(rt.engine) as session:
        session.execute(
            sa.update(FeedState)
            .where(FeedState.name == name)
            .values(status="failing", failures=3, reason="x")
        )
        session.commit()


def contents(rt: Runtime) -> dict[str, Any]:
    """The stored rows, without the times (each ingest reads its own clock)."""
    with rt.engine.connect() as conn:

        def rows(table: Any, *skip: str) -> list[tuple[Any, ...]]:
            cols = [c for c in table.__table__.c if c.name not in skip]
            return sorted(tuple(map(repr, r)) for r in conn.execute(sa.select(*cols)))

        feed_of = dict(conn.execute(sa.select(Item.id, Item.feed)).all())
        by_feed: dict[str, list[tuple[Any, ...]]] = defaultdict(list)
        for e in conn.execute(sa.select(Event).order_by(Event.id)).mappings():
            owner = e["feed"] or feed_of.get(e["item_id"], "")
            by_feed[owner].append((e["kind"], e["feed"], e["rule"], e["item_id"], e["message"], e["data"]))
        return {
            "items": rows(Item, "first_seen"),
            "matches": rows(Match, "created_at"),
            "deliveries": rows(Delivery, "next_attempt_at", "created_at"),
            "events": dict(by_feed),
            "states": rows(FeedState, "last_poll_at", "last_ok_at", "next_poll_at"),
        }


@settings(max_examples=30, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(polls=rounds, c_failing=st.booleans(), moved=st.booleans())
def test_a_batch_stores_what_its_feeds_alone_store(
    tmp_path_factory: Any, polls: list[dict[str, list[Any]]], c_failing: bool, moved: bool
) -> None:
    alone, together = runtime(tmp_path_factory.mktemp("alone")), runtime(tmp_path_factory.mktemp("together"))
    if c_failing:
        failing(alone, "c")
        failing(together, "c")
    for n, poll in enumerate(polls):
        jobs = jobs_of(alone, n, poll, moved)  # the same bytes for both (dates are to the second)
        for feed, fetched, parsed in jobs:
            pipeline.ingest(alone, feed, fetched, lambda parsed=parsed: parsed)
        pipeline.ingest_new(together, jobs)
    assert contents(together) == contents(alone)
    for rt in (alone, together):
        rt.engine.dispose()


def test_a_story_two_feeds_of_a_batch_bring_alerts_once_from_the_first(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    polls = {"c": [(1, ["troops"], AGES[0], True)], "a": [(1, ["troops"], AGES[0], False)]}
    pipeline.ingest_new(rt, jobs_of(rt, 0, polls, moved=False))
    with Session(rt.engine) as session:
        matched = {(m.rule, session.get(Item, m.item_id).feed) for m in session.exec(select(Match))}
    assert matched == {("troops", "c"), ("some", "c")}


def test_the_poll_ingests_new_feeds_together_and_the_rest_alone(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    jobs = jobs_of(rt, 0, {"a": [(1, ["troops"], AGES[0], True)], "b": [(2, ["rain"], AGES[0], True)]}, False)
    work: queue.Queue[pipeline.Job | None] = queue.Queue()
    feed_c = rt.config.feeds["c"]
    work.put((feed_c, Fetched("c", feed_c.url, feed_c.url, 304, None), None))
    for feed, fetched, parsed in jobs:
        work.put((feed, fetched, lambda parsed=parsed: parsed))
    work.put(None)
    batches: list[int] = []
    real = pipeline.ingest_new

    def counted(rt: Runtime, jobs: Any, early: Any = None) -> Any:
        batches.append(len(jobs))
        return real(rt, jobs, early)

    pipeline.ingest_new = counted
    try:
        pipeline._ingest_all(rt, work)
    finally:
        pipeline.ingest_new = real
    assert batches == [2]
    with Session(rt.engine) as session:
        states = {s.name: s for s in session.exec(select(FeedState))}
        assert states["a"].items == states["b"].items == 1
        assert states["c"].status == "ok" and states["c"].lease_owner is None


def test_a_batch_that_fails_is_ingested_feed_by_feed(tmp_path: Path, monkeypatch: Any) -> None:
    rt = runtime(tmp_path)
    jobs = jobs_of(rt, 0, {"a": [(1, ["troops"], AGES[0], True)], "b": [(2, ["rain"], AGES[0], True)]}, False)

    def broken(*args: Any) -> Any:
        raise sa.exc.OperationalError("INSERT", {}, Exception("deadlock detected"))

    monkeypatch.setattr(pipeline, "store_feeds", broken)
    work: queue.Queue[pipeline.Job | None] = queue.Queue()
    for feed, fetched, parsed in jobs:
        work.put((feed, fetched, lambda parsed=parsed: parsed))
    work.put(None)
    pipeline._ingest_all(rt, work)
    with Session(rt.engine) as session:
        assert {i.feed for i in session.exec(select(Item))} == {"a", "b"}
        assert all(s.lease_owner is None for s in session.exec(select(FeedState)))


def test_a_parse_still_running_holds_up_no_feed_taken_before_it(tmp_path: Path) -> None:
    rt = runtime(tmp_path)
    polls = {name: [(n, ["troops"], AGES[0], True)] for n, name in enumerate(("a", "b", "c"))}
    (fa, ra, pa), (fb, rb, pb), (fc, rc, pc) = jobs_of(rt, 0, polls, False)
    slow: cf.Future[Any] = cf.Future()
    work: queue.Queue[pipeline.Job | None] = queue.Queue()
    work.put((fa, ra, lambda: pa))
    work.put((fb, rb, Pending((1, 0), (b"", fb.url, None, "feed"), slow, 30.0)))
    work.put((fc, rc, lambda: pc))
    work.put(None)
    ingesting = threading.Thread(target=pipeline._ingest_all, args=(rt, work))
    ingesting.start()

    def items() -> dict[str, int]:
        with Session(rt.engine) as session:
            return {s.name: s.items for s in session.exec(select(FeedState))}

    try:
        wait_until(lambda: items()["a"] == 1, timeout=10, message="feed a ingested while b parses")
        assert items()["b"] == items()["c"] == 0
    finally:
        slow.set_result(pb)
        ingesting.join(10)
    assert not ingesting.is_alive()
    assert items() == {"a": 1, "b": 1, "c": 1, "d": 0}
