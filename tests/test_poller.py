"""The quiet steady state (issue 14): one fetch loop whose connections outlive a poll, a poller that
sleeps until the next due feed and wakes early for a reload, and the claim that tells it when."""

from __future__ import annotations

import threading
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import sqlalchemy as sa
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from pg import BACKENDS, empty_engine
from sqlmodel import Session
from waiting import wait_until

from monitor import db
from monitor.errors import FetchError
from monitor.fetch import KEEPALIVE, MAX_KEEPALIVE, keepalive_for
from monitor.fetchloop import FetchLoop
from monitor.models import FeedState
from monitor.records import Fetched, FetchRequest
from monitor.runtime import Wakeup

T0 = datetime(2026, 11, 24, 12, 0, tzinfo=UTC)
STORY = It("A story", "Some text about a story.", link="https://news.example.org/a/1")
CHANNELS = "channels:\n  console: {type: console}\n"
RULES = """\
feeds:
{feeds}
rules:
  - name: story
    match: story
    alert: [console]
"""


def feeds_yaml(*feeds: tuple[str, str, str]) -> str:
    return "\n".join(f"  - name: {name}\n    url: {url}\n    every: {every}" for name, url, every in feeds)


# --- connections outlive a poll -------------------------------------------------------------------


def test_the_fetch_loop_reuses_one_connection_across_batches() -> None:
    with FeedServer() as server:
        server.feed("/rss", rss(STORY))
        loop = FetchLoop()
        try:
            etag = None
            for _ in range(5):  # five polls, as five batches of the poller
                [(_request, result)] = list(loop.fetch_iter([FetchRequest("f", server.url("/rss"), etag)]))
                assert isinstance(result, Fetched), result
                etag = result.etag or etag
        finally:
            loop.close()
        assert len(server.requests("/rss")) == 5
        assert server.connections == 1


def test_idle_connections_outlive_httpx_default_expiry_up_to_the_poll_interval() -> None:
    assert keepalive_for([timedelta(seconds=90), timedelta(seconds=30)]) == pytest.approx(109)
    assert keepalive_for([timedelta(hours=1)]) == MAX_KEEPALIVE
    assert keepalive_for([timedelta(seconds=1)]) == pytest.approx(11.1)
    assert keepalive_for([]) == KEEPALIVE


def test_a_server_closing_idle_connections_costs_a_new_connection_not_a_failed_poll() -> None:
    with FeedServer(idle_close=0.3) as server:
        server.feed("/rss", rss(STORY))
        loop = FetchLoop(keepalive=60)  # kept far longer than the server keeps it
        try:
            etag = None
            for n in range(1, 4):
                [(_request, result)] = list(loop.fetch_iter([FetchRequest("f", server.url("/rss"), etag)]))
                assert isinstance(result, Fetched), result
                assert result.status == (200 if n == 1 else 304)
                etag = result.etag or etag
                wait_until(lambda n=n: server.closed == n, message="the server closing the idle connection")
        finally:
            loop.close()
        assert server.connections == 3


def test_unused_responses_keep_their_connection_and_their_meaning() -> None:
    """A 304, an error and a redirect are read to their end (their connection is kept) and mean
    exactly what they meant when the connection was dropped."""
    with FeedServer() as server:
        server.feed("/rss", rss(STORY))
        server.status("/gone", 404, body=b"not here")
        server.status("/busy", 503, headers={"Retry-After": "120"}, body=b"later")
        server.redirect("/old", "/rss", code=301)
        loop = FetchLoop()
        try:
            results = {}
            for path in ("/rss", "/gone", "/busy", "/old", "/gone"):
                [(_request, results[path])] = list(loop.fetch_iter([FetchRequest("f", server.url(path))]))
        finally:
            loop.close()
        assert server.connections == 1
    gone, busy, moved = results["/gone"], results["/busy"], results["/old"]
    assert isinstance(gone, FetchError) and gone.status == 404 and "HTTP 404" in str(gone)
    assert isinstance(busy, FetchError) and busy.status == 503 and busy.retry_after == 120
    assert (
        isinstance(moved, Fetched) and moved.status == 200 and moved.permanent_redirect == server.url("/rss")
    )


def test_a_slow_error_body_is_abandoned_not_awaited() -> None:
    with FeedServer() as server:

        def dripping_404(h) -> None:  # type: ignore[no-untyped-def]
            h.head(404, {"Content-Length": "1000"})
            h.wfile.write(b"x")
            h.wfile.flush()
            server.stopping.wait(30)

        server.route("/drip", dripping_404)
        loop = FetchLoop(deadline=20)
        began = time.monotonic()
        try:
            [(_request, result)] = list(loop.fetch_iter([FetchRequest("f", server.url("/drip"))]))
        finally:
            loop.close()
        assert isinstance(result, FetchError) and result.status == 404
        assert time.monotonic() - began < 10


@pytest.mark.slow
def test_a_daemon_polls_a_feed_many_times_over_fewer_connections(project: Project) -> None:
    with FeedServer() as server:
        server.feed("/rss", rss(STORY))
        project.write("rules/watch.yaml", RULES.format(feeds=feeds_yaml(("f", server.url("/rss"), "1s"))))
        project.write("alerts/channels.yaml", CHANNELS)
        daemon = project.start()
        wait_until(lambda: len(server.requests("/rss")) >= 6, timeout=60, message="six polls")
        assert project.stop(daemon) == 0
        polls = len(server.requests("/rss"))
        assert server.connections < polls, (server.connections, polls)
        assert server.connections <= 2  # one kept alive (a second only if the pool dropped one)


# --- a reload wakes the poller --------------------------------------------------------------------


@pytest.mark.slow
def test_a_feed_added_by_a_reload_is_polled_before_the_pollers_capped_sleep_ends(project: Project) -> None:
    """After its first claim the poller sleeps CAP (12 s): only the reload's wakeup polls the new feed sooner."""
    with FeedServer() as server:
        server.feed("/a", rss(STORY))
        server.feed("/b", rss(STORY))
        first = ("a", server.url("/a"), "1h")
        project.write("rules/watch.yaml", RULES.format(feeds=feeds_yaml(first)))
        project.write("alerts/channels.yaml", CHANNELS)
        daemon = project.start()
        wait_until(lambda: server.requests("/a"), timeout=60, message="the first poll of a")
        claimed_at = time.monotonic()  # the claim came just before: the poller sleeps until then + 12 s
        project.write(
            "rules/watch.yaml", RULES.format(feeds=feeds_yaml(first, ("b", server.url("/b"), "1h")))
        )
        wait_until(lambda: server.requests("/b"), timeout=30, message="the first poll of b")
        waited = time.monotonic() - claimed_at
        assert project.stop(daemon) == 0
        assert waited < 9, f"b was polled {waited:.1f} s after a: the reload did not wake the poller"
        assert len(server.requests("/a")) == 1


# --- Wakeup ---------------------------------------------------------------------------------------


class Sleeper:
    """`wakeup.sleep(until, cap)` in a thread; `done` is set when it returns."""

    def __init__(self, wakeup: Wakeup, until: datetime | None, cap: float) -> None:
        self.done = threading.Event()
        self.began = time.monotonic()
        self.took = float("nan")

        def run() -> None:
            wakeup.sleep(until, cap)
            self.took = time.monotonic() - self.began
            self.done.set()

        self.thread = threading.Thread(target=run, daemon=True)
        self.thread.start()
        wait_until(lambda: wakeup._planned is not None, message="the sleeper to plan its wake")

    def join(self) -> None:
        self.thread.join(10)
        assert not self.thread.is_alive()


def later(seconds: float) -> datetime:
    return datetime.now(UTC) + timedelta(seconds=seconds)


def test_soon_before_the_plan_wakes_the_sleeper() -> None:
    wakeup = Wakeup()
    sleeper = Sleeper(wakeup, later(60), cap=60)
    wakeup.soon()
    assert sleeper.done.wait(10)
    sleeper.join()
    assert sleeper.took < 10


def test_soon_after_the_plan_does_not_wake_the_sleeper() -> None:
    wakeup = Wakeup()
    sleeper = Sleeper(wakeup, later(60), cap=60)
    wakeup.soon(later(120))
    assert not wakeup._event.is_set() and not sleeper.done.is_set()
    wakeup.wake()  # stop: wakes whatever was planned
    assert sleeper.done.wait(10)
    sleeper.join()


def test_soon_while_awake_is_kept_for_the_next_sleep_and_only_that_one() -> None:
    wakeup = Wakeup()
    wakeup.soon()  # a reload commits while the poller is claiming
    began = time.monotonic()
    wakeup.sleep(later(60), cap=60)
    assert time.monotonic() - began < 10
    began = time.monotonic()
    wakeup.sleep(None, cap=0.2)  # the hint was used up: this sleep runs its course
    assert time.monotonic() - began >= 0.2


def test_the_earliest_hint_given_while_awake_wins() -> None:
    wakeup = Wakeup()
    wakeup.soon(later(3600))
    wakeup.soon(later(0.1))
    wakeup.soon(later(1800))
    began = time.monotonic()
    wakeup.sleep(later(60), cap=60)
    assert 0.05 <= time.monotonic() - began < 10


def test_the_cap_bounds_every_sleep() -> None:
    wakeup = Wakeup()
    for until in (None, later(3600)):
        began = time.monotonic()
        wakeup.sleep(until, cap=0.2)
        assert 0.2 <= time.monotonic() - began < 10


def test_a_due_time_in_the_past_does_not_sleep() -> None:
    wakeup = Wakeup()
    began = time.monotonic()
    wakeup.sleep(later(-30), cap=60)
    assert time.monotonic() - began < 5


# --- db.claim_feeds -------------------------------------------------------------------------------


@pytest.fixture(params=BACKENDS)
def engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[sa.Engine]:
    with empty_engine(request.param, tmp_path) as engine:
        db.upgrade(engine)
        yield engine


def add(engine: sa.Engine, **due: float) -> None:
    """A feed per keyword, due that many seconds after T0."""
    with Session(engine) as session:
        for name, seconds in due.items():
            at = T0 + timedelta(seconds=seconds)
            session.add(FeedState(name=name, url=f"http://127.0.0.1/{name}", next_poll_at=at))
        session.commit()


def claim(
    engine: sa.Engine, names: list[str], owner: str = "one", now: datetime = T0, limit: int = 10
) -> tuple[list[str], datetime | None]:
    with Session(engine) as session:
        claimed, next_due = db.claim_feeds(session, names, owner, now, limit)
    return sorted(claimed), (next_due.replace(tzinfo=UTC) if next_due and not next_due.tzinfo else next_due)


def test_claim_leases_the_due_feeds_and_names_when_the_next_is_due(engine: sa.Engine) -> None:
    add(engine, a=-60, b=0, c=30, d=90)
    assert claim(engine, ["a", "b", "c", "d"]) == (["a", "b"], T0 + timedelta(seconds=30))
    assert claim(engine, ["a", "b", "c", "d"], "two") == ([], T0 + timedelta(seconds=30))  # a, b leased


def test_claim_with_no_feed_waiting_names_no_time(engine: sa.Engine) -> None:
    add(engine, a=0)
    assert claim(engine, ["a"]) == (["a"], None)
    assert claim(engine, ["a"], "two") == ([], None)
    assert claim(engine, []) == ([], None)


def test_feeds_another_instance_holds_are_not_counted_until_their_lease_lapses(engine: sa.Engine) -> None:
    add(engine, a=10, b=20)
    assert claim(engine, ["a"], "two", now=T0 + timedelta(seconds=10)) == (["a"], None)
    assert claim(engine, ["a", "b"]) == ([], T0 + timedelta(seconds=20))  # a is two's
    lapsed = T0 + timedelta(seconds=10) + db.LEASE + timedelta(seconds=1)
    assert claim(engine, ["a", "b"], now=lapsed) == (["a", "b"], None)


def test_feeds_not_configured_are_neither_claimed_nor_counted(engine: sa.Engine) -> None:
    add(engine, a=0, gone=5, b=30)
    assert claim(engine, ["a", "b"]) == (["a"], T0 + timedelta(seconds=30))


def test_the_limit_leaves_due_feeds_and_the_next_due_is_the_first_left(engine: sa.Engine) -> None:
    add(engine, a=-30, b=-20, c=-10, d=60)
    assert claim(engine, ["a", "b", "c", "d"], limit=2) == (["a", "b"], T0 - timedelta(seconds=10))
    assert claim(engine, ["a", "b", "c", "d"], limit=2) == (["c"], T0 + timedelta(seconds=60))
