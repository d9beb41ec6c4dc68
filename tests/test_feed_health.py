"""Feed scheduling and health through the real pipeline against a loopback feed server, and `monitor feeds`."""

from __future__ import annotations

import json
import threading
import time
from datetime import datetime, timedelta
from typing import Any

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from runtimes import open_runtime
from sqlmodel import Session, select
from waiting import wait_until

from monitor import pipeline
from monitor.models import Event, FeedState, utcnow

STORY = It("Troops in Ukraine", link="https://n.example/1")


class Feeds:
    """A project whose rules name feeds on a loopback server, and its pipeline run in-process."""

    def __init__(self, project: Project, server: FeedServer, feeds: dict[str, str]) -> None:
        lines = [f'  - {{name: {name}, url: "{server.url(path)}", every: {every}}}' for name, (path, every) in
                 ((n, v.split(" ")) for n, v in feeds.items())]  # fmt: skip
        project.write(
            "rules/watch.yaml", "feeds:\n" + "\n".join(lines) + "\nrules:\n  - {name: r, match: troops}\n"
        )
        project.write("alerts/channels.yaml", "channels: {}\n")
        self.project, self.server = project, server
        self.rt = open_runtime(
            project.env["MONITOR_DB"], project.root / "rules", project.root / "alerts" / "channels.yaml"
        )
        pipeline.sync_feeds(self.rt.engine, self.rt.config)

    def poll(self) -> datetime:
        """Poll every feed now; return when."""
        now = utcnow()
        pipeline.poll_due(self.rt, every_feed=True)
        return now

    def state(self, name: str) -> FeedState:
        with Session(self.rt.engine) as session:
            state = session.get(FeedState, name)
            assert state is not None
            return state

    def events(self, kind: str, feed: str) -> list[str]:
        with Session(self.rt.engine) as session:
            rows = session.exec(
                select(Event).where(Event.kind == kind, Event.feed == feed).order_by(Event.id)
            )  # type: ignore[arg-type]
            return [e.message for e in rows]


def waited(state: FeedState) -> float:
    assert state.next_poll_at and state.last_poll_at
    return (state.next_poll_at - state.last_poll_at).total_seconds()


def test_a_failing_feed_backs_off_reports_once_per_change_and_recovers(project: Project) -> None:
    with FeedServer() as server:
        feeds = Feeds(project, server, {"flaky": "/flaky.xml 2s"})
        server.status("/flaky.xml", 500)
        for want in (2, 4, 8):
            feeds.poll()
            assert want * 0.9 <= waited(feeds.state("flaky")) <= want * 1.1  # doubling from the interval
        state = feeds.state("flaky")
        assert (state.status, state.failures) == ("failing", 3) and "HTTP 500" in (state.reason or "")
        assert len(feeds.events("fetch_failed", "flaky")) == 1  # once per state change, not per poll
        server.status("/flaky.xml", 404)
        feeds.poll()
        assert "HTTP 404" in (feeds.state("flaky").reason or "")
        assert len(feeds.events("fetch_failed", "flaky")) == 2  # a new reason is a new state
        server.feed("/flaky.xml", rss(STORY))
        feeds.poll()
        state = feeds.state("flaky")
        assert (state.status, state.failures, state.reason, state.items) == ("ok", 0, None, 1)
        assert 1.8 <= waited(state) <= 2.2  # back to its interval
        assert any("recovered after 4 failures" in m for m in feeds.events("fetch", "flaky"))


def test_server_hints_set_the_next_poll_within_bounds(project: Project) -> None:
    ttl_feed = rss(STORY).replace(
        b"<description>test</description>", b"<description>t</description><ttl>1</ttl>"
    )
    with FeedServer() as server:
        feeds = Feeds(
            project, server, {"busy": "/busy.xml 10s", "cached": "/cached.xml 10s", "ttl": "/ttl.xml 10s"}
        )
        server.status("/busy.xml", 429, headers={"Retry-After": "120"})
        server.feed("/cached.xml", rss(STORY), headers={"Cache-Control": "public, max-age=30"})
        server.feed("/ttl.xml", ttl_feed)
        feeds.poll()
        assert 119 <= waited(feeds.state("busy")) <= 121  # Retry-After
        assert 27 <= waited(feeds.state("cached")) <= 33  # Cache-Control max-age
        assert 54 <= waited(feeds.state("ttl")) <= 66  # RSS <ttl> of a minute, at most six intervals


def test_polls_are_conditional_and_an_unchanged_feed_stores_nothing(project: Project) -> None:
    with FeedServer() as server:
        feeds = Feeds(project, server, {"world": "/world.xml 1m"})
        server.feed("/world.xml", rss(STORY), last_modified="Wed, 25 Nov 2026 03:00:00 GMT")
        feeds.poll()
        feeds.poll()
        first, second = server.requests("/world.xml")
        assert "if-none-match" not in first
        assert second["if-none-match"].startswith('"') and second["if-modified-since"].endswith("GMT")
        state = feeds.state("world")
        assert state.items == 1 and state.last_poll_at and state.last_ok_at == state.last_poll_at
        assert feeds.events("fetch", "world") == ["1 entries, 1 new"]  # the unchanged poll: no event row


def test_an_unchanged_poll_records_no_event_but_a_change_of_state_does(project: Project) -> None:
    body = rss(STORY)  # built once: rss() dates its items from the clock, to the second
    with FeedServer() as server:
        feeds = Feeds(project, server, {"world": "/world.xml 1m"})
        server.feed("/world.xml", body)
        feeds.poll()
        first = feeds.state("world").last_poll_at
        feeds.poll()  # 304: the state moves on, the event log stays as it was
        state = feeds.state("world")
        assert state.last_poll_at and first and state.last_poll_at > first and state.status == "ok"
        assert feeds.events("fetch", "world") == ["1 entries, 1 new"]
        server.status("/world.xml", 500)
        feeds.poll()
        assert len(feeds.events("fetch_failed", "world")) == 1  # every failure's state change: an event
        server.feed("/world.xml", body)
        feeds.poll()  # recovered, with the same body: an event for the change of state only
        assert feeds.events("fetch", "world") == ["1 entries, 1 new", "world recovered after 1 failures"]
        assert server.requests("/world.xml")[-1]["if-none-match"]  # the validator outlived the failure


def test_a_feed_that_recovers_with_the_same_bytes_and_no_validators_is_not_parsed_again(
    project: Project, monkeypatch: pytest.MonkeyPatch
) -> None:
    body = rss(STORY)
    with FeedServer() as server:
        feeds = Feeds(project, server, {"world": "/world.xml 1m"})
        server.status("/world.xml", 200, body=body)  # no ETag, no Last-Modified: only the body hash tells
        feeds.poll()
        server.status("/world.xml", 500)
        feeds.poll()
        server.status("/world.xml", 200, body=body)
        parses: list[bytes] = []
        submit = pipeline.submit

        def counted(data: bytes, *args: Any, **kwargs: Any) -> Any:
            parses.append(data)
            return submit(data, *args, **kwargs)

        monkeypatch.setattr(pipeline, "submit", counted)
        feeds.poll()
        assert parses == [] and feeds.state("world").status == "ok"  # the stored hash survived the failure
        assert feeds.events("fetch", "world") == ["1 entries, 1 new", "world recovered after 1 failures"]
        server.status("/world.xml", 200, body=body.replace(b"test feed", b"test feed, renamed"))
        feeds.poll()  # other bytes: parsed, and their fetch recorded
        assert len(parses) == 1 and feeds.events("fetch", "world")[-1] == "1 entries, 0 new"


def test_a_permanently_moved_feed_is_followed_and_reported_once(project: Project) -> None:
    with FeedServer() as server:
        feeds = Feeds(project, server, {"moved": "/old.xml 1m", "hop": "/hop.xml 1m"})
        server.redirect("/old.xml", "/new.xml", code=301)
        server.redirect("/hop.xml", "/new.xml", code=302)  # temporary: nothing to report
        server.feed("/new.xml", rss(STORY))
        for _ in range(3):
            feeds.poll()
        state = feeds.state("moved")
        assert state.status == "ok" and state.items == 1
        assert state.reason == f"moved permanently to {server.url('/new.xml')}: update its url"
        assert len([m for m in feeds.events("fetch", "moved") if "moved permanently" in m]) == 1
        assert feeds.state("hop").reason is None


@pytest.mark.slow
def test_monitor_feeds_shows_each_feeds_health(project: Project) -> None:
    with FeedServer() as server:
        feeds = Feeds(
            project, server, {"world": "/world.xml 1m", "down": "/down.xml 1m", "broken": "/broken.xml 1m"}
        )
        server.feed("/world.xml", rss(STORY, It("Other", link="https://n.example/2")))
        server.status("/down.xml", 503, headers={"Retry-After": "600"})
        server.feed(
            "/broken.xml", b"<rss><channel><title>x</title><item><title>broken &amp</item></channel></rss>"
        )
        feeds.poll()
        feeds.poll()
        result = project.cli("feeds", "--json")
        rows = {row["name"]: row for row in map(json.loads, result.stdout.splitlines())}
        assert (
            rows["world"]["status"] == "ok" and rows["world"]["items"] == 2 and rows["world"]["failures"] == 0
        )
        assert rows["down"]["status"] == "failing" and rows["down"]["failures"] == 2
        assert "HTTP 503" in rows["down"]["reason"]
        assert rows["broken"]["status"] == "degraded" and rows["broken"]["reason"], rows["broken"]
        for row in rows.values():
            assert row["last_poll_at"] and row["next_poll_at"]
        next_down = datetime.fromisoformat(rows["down"]["next_poll_at"])
        assert next_down - utcnow() > timedelta(minutes=9)  # Retry-After respected
        table = project.cli("feeds").stdout
        assert "failing" in table and "HTTP 503" in table and "world" in table


def test_a_slow_feed_does_not_hold_up_the_others_of_its_batch(project: Project) -> None:
    with FeedServer() as server:
        feeds = Feeds(project, server, {"fast": "/fast.xml 1m", "slow": "/slow.xml 1m"})
        server.feed("/fast.xml", rss(STORY))
        server.slow("/slow.xml", rss(STORY), delay=20)
        stop = threading.Event()
        poll = threading.Thread(target=pipeline.poll_due, args=[feeds.rt], kwargs={"stop": stop})
        started = time.monotonic()
        poll.start()
        wait_until(lambda: feeds.state("fast").items == 1, timeout=5, message="the fast feed ingested")
        assert time.monotonic() - started < 3 and feeds.state("slow").last_poll_at is None
        stop.set()  # shutting down: the slow fetch is abandoned, its lease released for the next start
        poll.join(timeout=5)
        assert not poll.is_alive() and time.monotonic() - started < 6
        slow = feeds.state("slow")
        assert slow.lease_owner is None and slow.last_poll_at is None and slow.failures == 0
