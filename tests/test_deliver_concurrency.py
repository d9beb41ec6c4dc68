"""Sends in flight per channel (`concurrency`), one reused HTTP client, and no lost or doubled delivery."""

from __future__ import annotations

import json
import signal
import threading
import time
from collections import Counter
from typing import Any

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from outbox import HOOK_RULES, Rig
from receivers import HttpReceiver, Received
from sqlmodel import Session, create_engine, select
from waiting import wait_until

from monitor.models import Delivery

HOLD = 2.0  # longest a request waits for the others to arrive


class CountingReceiver:
    """A webhook receiver holding each request until `gather` are in flight (or HOLD passes), recording the
    most in flight at once, each request's peer port, and answering 500 to the first try of `fail_first` ids."""

    def __init__(self, gather: int = 1, hold: float = 0.1, fail_first: int = 0) -> None:
        self.gather, self.hold, self.fail_first = gather, hold, fail_first
        self.cond = threading.Condition()
        self.in_flight = self.most = 0
        self.ports: list[int] = []
        self.tries: Counter[str] = Counter()
        self.accepted: list[tuple[str, list[str]]] = []  # (webhook-id, item ids) answered 200
        self.http = HttpReceiver(on_request=self.on_request).__enter__()
        self.url = self.http.url + "/hook"

    def on_request(self, request: Received, port: int) -> int:
        return self.answer(request.headers["webhook-id"], request.json(), port)

    def answer(self, webhook_id: str, body: dict[str, Any], port: int) -> int:
        with self.cond:
            self.in_flight += 1
            self.most = max(self.most, self.in_flight)
            self.ports.append(port)
            self.tries[webhook_id] += 1
            first = self.tries[webhook_id] == 1
            fail = first and len(self.tries) <= self.fail_first
            self.cond.notify_all()
            self.cond.wait_for(lambda: self.in_flight >= self.gather, HOLD if self.gather > 1 else self.hold)
        if self.gather == 1:
            time.sleep(self.hold)  # the receiver's own latency, so a second send would overlap
        with self.cond:
            self.in_flight -= 1
            if not fail:
                self.accepted.append((webhook_id, sorted(i["id"] for i in body["items"])))
        return 500 if fail else 200

    def close(self) -> None:
        self.http.__exit__(None, None, None)


def stories(count: int, prefix: str = "Military") -> list[It]:
    return [
        It(f"{prefix} story {n}", f"military report {n}", link=f"https://n.example.org/{prefix}/{n}")
        for n in range(count)
    ]


def rig_for(project: Project, receiver: CountingReceiver, concurrency: int | None) -> Rig:
    option = "" if concurrency is None else f", concurrency: {concurrency}"
    return Rig(project, f"hook: {{type: webhook, url: '${{HOOK}}'{option}}}", {"HOOK": receiver.url})


@pytest.mark.parametrize(("concurrency", "expected"), [(None, 4), (4, 4), (2, 2), (1, 1)])
def test_a_slow_receiver_sees_exactly_concurrency_sends_in_flight(
    project: Project, concurrency: int | None, expected: int
) -> None:
    receiver = CountingReceiver(gather=expected, hold=0.1)
    rig = rig_for(project, receiver, concurrency)
    rig.ingest(*stories(5))  # 5 for one rule: each its own message (more would be grouped)
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert receiver.most == expected
    assert len(receiver.accepted) == 5
    rig.close()
    receiver.close()


def test_one_client_and_one_connection_serve_many_sends(project: Project) -> None:
    receiver = CountingReceiver(gather=1, hold=0.0)
    rig = rig_for(project, receiver, 1)
    rig.ingest(*stories(4))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert len(receiver.ports) == 4 and len(set(receiver.ports)) == 1  # one TCP connection, kept alive
    assert rig.rt.active.channels["hook"].http.opened == 1
    rig.close()
    receiver.close()


def test_retries_with_concurrency_lose_nothing_and_double_nothing(project: Project) -> None:
    receiver = CountingReceiver(gather=4, fail_first=3)  # the first 3 messages fail once
    rig = rig_for(project, receiver, 4)
    rig.ingest(*stories(5))
    rig.deliver_until(lambda: rig.status() == {"sent"}, timeout=20)
    rows = rig.deliveries()
    accepted = Counter(webhook_id for webhook_id, _ in receiver.accepted)
    assert set(accepted) == {row.id for row in rows} and set(accepted.values()) == {1}
    assert sorted(row.attempts for row in rows) == [1, 1, 2, 2, 2]
    assert sum(receiver.tries.values()) == 8 and len(rig.events("delivery_failed")) == 3
    rig.close()
    receiver.close()


def test_a_replaced_channel_closes_its_client_after_its_sends(project: Project) -> None:
    receiver = CountingReceiver(gather=1, hold=0.0)
    rig = rig_for(project, receiver, 1)
    rig.ingest(*stories(1))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    old = rig.rt.active.channels["hook"]
    assert old.http._client is not None
    rig.restart()  # drain closes every channel the deliverer used
    assert old.http._client is None
    rig.close()
    receiver.close()


@pytest.mark.slow
def test_kill_9_with_four_sends_in_flight_loses_nothing(project: Project) -> None:
    receiver = CountingReceiver(gather=99)  # holds every request HOLD seconds: all in flight at the kill
    with FeedServer() as feeds:
        feeds.feed("/world.xml", rss(*stories(5)))  # 5 messages: more for one rule would be grouped
        project.write("rules/watch.yaml", HOOK_RULES.format(url=feeds.url("/world.xml")))
        project.write(
            "alerts/channels.yaml", 'channels:\n  hook: {type: webhook, url: "${HOOK}", concurrency: 4}\n'
        )
        project.env["HOOK"] = receiver.url
        daemon = project.start()
        wait_until(lambda: receiver.in_flight == 4, timeout=30, message="4 sends in flight")
        daemon.send_signal(signal.SIGKILL)
        daemon.wait(timeout=10)
        in_flight_at_kill = set(receiver.tries)
        daemon = project.start()
        engine = create_engine(project.env["MONITOR_DB"])
        wait_until(lambda: _all_sent(engine, 5), timeout=120, message="every match delivered")
        assert project.stop(daemon) == 0
    with Session(engine) as session:
        ids = {row.id for row in session.exec(select(Delivery))}
    items_of: dict[str, set[str]] = {}
    for webhook_id, items in receiver.accepted:
        items_of.setdefault(webhook_id, set()).add(json.dumps(items))
    assert set(items_of) == ids  # every delivery arrived, under its own id
    assert all(len(bodies) == 1 for bodies in items_of.values())  # a repeat has the same content
    repeats = len(receiver.accepted) - len(ids)
    assert repeats <= len(in_flight_at_kill) <= 4  # only the sends in flight at the kill were repeated
    receiver.close()


def _all_sent(engine: Any, expected: int) -> bool:
    with Session(engine) as session:
        rows = list(session.exec(select(Delivery)))
    return len(rows) == expected and all(row.status == "sent" for row in rows)
