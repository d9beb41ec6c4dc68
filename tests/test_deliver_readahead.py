"""Reading the next message's rows while a send waits: the same sends, in the same order, under the same
ids as the plain path; nothing marked early, so a kill mid-batch repeats only the send in flight."""

from __future__ import annotations

import signal
import threading
from collections.abc import Callable
from datetime import datetime
from typing import Any

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from hypothesis import given, settings
from hypothesis import strategies as st
from outbox import HOOK_RULES, Rig
from receivers import HttpReceiver, Received
from sqlmodel import Session, create_engine, select
from waiting import wait_until

from monitor import sendpool
from monitor.channels import http
from monitor.models import Delivery

STORIES = [
    It(f"Military story {n}", f"military report {n}", link=f"https://n.example.org/{n}") for n in range(5)
]


class Pool:
    """The pool over `groups`, recording the order `start` saw, the (group, prepared) pairs sent and the
    groups prepared. A group in `refused` is released by `start`; the send of `g` calls `meanwhile`
    when `calls_meanwhile(g)`; preparing a group in `fails` raises."""

    def __init__(
        self, refused: set[int], calls_meanwhile: Callable[[int], bool], fails: frozenset[int] = frozenset()
    ) -> None:
        self.refused, self.calls_meanwhile, self.fails = refused, calls_meanwhile, fails
        self.lock = threading.Lock()
        self.started: list[int] = []
        self.sent: list[tuple[int, int]] = []
        self.prepared: list[int] = []

    def run(self, groups: list[int], width: int) -> Pool:
        sendpool.send_in_order("hook", groups, width, self.start, self.prepare, self.send)
        return self

    def start(self, group: int) -> bool:
        self.started.append(group)
        return group not in self.refused

    def prepare(self, group: int) -> int:
        with self.lock:
            self.prepared.append(group)
        if group in self.fails:
            raise RuntimeError(f"database error reading {group}")
        return group * 10

    def send(self, ready: int, meanwhile: Callable[[], None]) -> None:
        if self.calls_meanwhile(ready // 10):
            meanwhile()
            meanwhile()  # a second call does nothing
        with self.lock:
            self.sent.append((ready // 10, ready))


@settings(max_examples=200, deadline=None)
@given(
    count=st.integers(0, 12),
    refused=st.sets(st.integers(0, 11)),
    waits=st.sets(st.integers(0, 11)),
)
def test_one_at_a_time_the_pool_sends_what_the_plain_loop_sends(
    count: int, refused: set[int], waits: set[int]
) -> None:
    groups = list(range(count))
    pool = Pool(refused, lambda g: g in waits).run(groups, 1)
    plain = [
        (g, g * 10) for g in groups if g not in refused
    ]  # for g in groups: if start(g): send(prepare(g))
    assert pool.started == groups
    assert pool.sent == plain
    assert len(pool.prepared) == len(set(pool.prepared))  # each group read once at most
    assert {g for g, _ in plain} <= set(pool.prepared)
    # read ahead (then dropped, as `start` released it) only after the send before it said it waits
    assert set(pool.prepared) - {g for g, _ in plain} <= {g + 1 for g in waits if g not in refused}


@settings(max_examples=100, deadline=None)
@given(count=st.integers(0, 12), width=st.integers(2, 4), refused=st.sets(st.integers(0, 11)))
def test_with_sends_in_flight_each_group_is_sent_once_with_its_own_reads(
    count: int, width: int, refused: set[int]
) -> None:
    groups = list(range(count))
    pool = Pool(refused, lambda g: True).run(groups, width)
    assert pool.started == groups  # starts keep the claim order
    assert sorted(pool.sent) == [(g, g * 10) for g in groups if g not in refused]
    assert len(pool.prepared) == len(set(pool.prepared))


def test_a_read_ahead_that_fails_stops_the_worker_and_not_the_send_in_flight() -> None:
    pool = Pool(set(), lambda g: True, fails=frozenset({2}))
    with pytest.raises(RuntimeError, match="reading 2"):
        pool.run(list(range(5)), 1)
    assert pool.sent == [(0, 0), (1, 10)]  # the send that read 2 ahead went on; 2 was never sent
    assert pool.started == [0, 1, 2]  # and the worker stopped there, as on a failed read today


def timeless(body: Any) -> Any:
    """A webhook body without its times (`created`, `published`), which differ between two runs."""
    if isinstance(body, dict):
        return {k: timeless(v) for k, v in body.items() if k not in ("created", "published")}
    if isinstance(body, list):
        return [timeless(v) for v in body]
    return body


def lease_of(rig: Rig) -> dict[str, datetime | None]:
    return {d.id: d.lease_until for d in rig.deliveries()}


def deliver_five(project: Project, read_ahead: bool) -> dict[str, Any]:
    """Five alerts at concurrency 1; with `read_ahead`, the receiver checks at each request but the last
    that the next delivery's lease was renewed while the request waits and nothing else was marked."""
    seen_renewed: list[bool] = []
    rig: Rig

    def on_request(request: Received, port: int) -> None:
        if not read_ahead or len(seen_renewed) == 4:
            return
        order = [d.id for d in rig.deliveries()]
        mine = order.index(request.headers["webhook-id"])
        nxt = order[mine + 1]

        def renewed() -> bool:
            leases = lease_of(rig)
            this, following = leases[order[mine]], leases[nxt]
            return this is not None and following is not None and following > this

        seen_renewed.append(wait_until(renewed, timeout=5, message="the next delivery read ahead"))
        statuses = {d.id: d.status for d in rig.deliveries()}
        assert [statuses[i] for i in order] == ["sent"] * mine + ["pending"] * (5 - mine)

    with HttpReceiver(on_request=on_request) as hook:
        rig = Rig(project, "hook: {type: webhook, url: '${HOOK}', concurrency: 1}", {"HOOK": hook.url})
        rig.ingest(*STORIES)
        rig.deliver_until(lambda: rig.status() == {"sent"})
        result = {
            "received": [(r.headers["webhook-id"], timeless(r.json())) for r in hook.requests],
            "ids": [d.id for d in rig.deliveries()],
            "attempts": [d.attempts for d in rig.deliveries()],
            "events": [(e.message, e.delivery_id, e.data) for e in rig.events("delivery")],
            "renewed": seen_renewed,
        }
        rig.close()
    return result


def test_reading_ahead_sends_what_the_plain_path_sends_in_the_same_order(
    tmp_path_factory: pytest.TempPathFactory, monkeypatch: pytest.MonkeyPatch
) -> None:
    with monkeypatch.context() as patch:
        patch.setattr(http, "TRACE", {})  # the channel never says it waits: the plain path
        plain = deliver_five(Project(tmp_path_factory.mktemp("plain")), False)
    ahead = deliver_five(Project(tmp_path_factory.mktemp("ahead")), True)
    assert ahead["renewed"] == [True] * 4  # each next message was read while the one before waited
    assert [webhook_id for webhook_id, _ in ahead["received"]] == ahead["ids"]  # claim order, their ids
    for key in ("received", "ids", "attempts", "events"):
        assert ahead[key] == plain[key]


@pytest.mark.slow
def test_kill_9_mid_batch_with_the_next_message_read_ahead_repeats_only_the_send_in_flight(
    project: Project,
) -> None:
    hold = threading.Event()
    received: list[str] = []

    def on_request(request: Received, port: int) -> None:
        received.append(request.headers["webhook-id"])
        if len(received) == 3:
            hold.wait(20)  # the third send is in flight when the kill comes

    with HttpReceiver(on_request=on_request) as hook, FeedServer() as feeds:
        feeds.feed("/world.xml", rss(*STORIES))
        project.write("rules/watch.yaml", HOOK_RULES.format(url=feeds.url("/world.xml")))
        project.write(
            "alerts/channels.yaml", 'channels:\n  hook: {type: webhook, url: "${HOOK}", concurrency: 1}\n'
        )
        project.env["HOOK"] = hook.url
        engine = create_engine(project.env["MONITOR_DB"])
        daemon = project.start()

        def rows() -> list[Delivery]:
            with Session(engine) as session:
                return list(session.exec(select(Delivery).order_by(Delivery.created_at, Delivery.id)))  # type: ignore[arg-type]

        def fourth_read_ahead() -> bool:
            if len(received) < 3:
                return False
            by_id = {d.id: d for d in rows()}
            third, fourth = by_id[received[2]], next(d for d in rows() if d.id not in received)
            return bool(third.lease_until and fourth.lease_until and fourth.lease_until > third.lease_until)

        wait_until(fourth_read_ahead, timeout=30, message="the third send in flight, the fourth read ahead")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        hold.set()
        statuses = sorted(d.status for d in rows())
        assert statuses == ["pending"] * 3 + ["sent"] * 2  # nothing marked early: only the two answered
        daemon = project.start()
        wait_until(lambda: {d.status for d in rows()} == {"sent"}, timeout=60, message="every match sent")
        assert project.stop(daemon) == 0
    ids = [d.id for d in rows()]
    assert set(received) == set(ids)
    repeats = [i for i in set(received) if received.count(i) > 1]
    assert repeats == [received[2]] and len(received) == 6  # only the send in flight at the kill
