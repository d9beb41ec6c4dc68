"""kill -9 at random moments loses nothing: after a restart every match is delivered, repeats keep their id."""

from __future__ import annotations

import json
import random
import signal
import threading
import time
from collections import defaultdict
from collections.abc import Iterator
from typing import Any

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from outbox import HOOK_RULES
from receivers import HttpReceiver, Received
from sqlmodel import Session, create_engine, select
from waiting import wait_until

from monitor.models import Delivery, Item, Match

pytestmark = pytest.mark.slow

KILLS = 24
SEED = 20261125
CHANNELS = """\
channels:
  hook: {type: webhook, url: "${HOOK_URL}", timeout: 5}
"""


class SlowReceiver:
    """A webhook receiver answering 200 after 50-300 ms, recording each body under its webhook-id."""

    def __init__(self, seed: int) -> None:
        self.lock = threading.Lock()
        self.random = random.Random(seed)
        self.received: list[tuple[str, dict[str, Any]]] = []
        self.http = HttpReceiver(on_request=self.on_request).__enter__()
        self.url = self.http.url + "/hook"

    def on_request(self, request: Received, port: int) -> None:
        with self.lock:
            delay = self.random.uniform(0.05, 0.3)
        time.sleep(delay)  # the receiver's own latency: sends are in flight when the kill comes
        with self.lock:
            self.received.append((request.headers["webhook-id"], request.json()))

    def snapshot(self) -> list[tuple[str, dict[str, Any]]]:
        with self.lock:
            return list(self.received)

    def close(self) -> None:
        self.http.__exit__(None, None, None)


@pytest.fixture
def receiver() -> Iterator[SlowReceiver]:
    slow = SlowReceiver(SEED)
    yield slow
    slow.close()


def new_items(rng: random.Random, round_: int) -> list[It]:
    """1-9 new items for this round: most match the rule, some are noise."""
    items = []
    for n in range(rng.randint(1, 9)):
        word = "military" if rng.random() < 0.75 else "weather"
        link = f"https://news.example.org/{round_}/{n}"
        items.append(It(f"Round {round_} story {n} {word}", f"A {word} report number {n}.", link=link))
    return items


def run_and_kill(project: Project, feeds: FeedServer, rng: random.Random) -> None:
    """Start `monitor run` and SIGKILL it at a random moment."""
    polls = len(feeds.requests("/world.xml"))
    daemon = project.start()
    if rng.random() < 0.75:  # most kills land while it works, the rest during start-up
        wait_until(lambda: len(feeds.requests("/world.xml")) > polls, timeout=20, message="a poll")
    time.sleep(rng.uniform(0.0, 1.2))  # the random moment of the kill
    daemon.send_signal(signal.SIGKILL)
    daemon.wait(timeout=10)


def test_kill_9_at_random_moments_loses_nothing(project: Project, receiver: SlowReceiver) -> None:
    rng = random.Random(SEED)
    with FeedServer() as feeds:
        published: list[It] = []
        feeds.feed("/world.xml", rss())
        project.write("rules/watch.yaml", HOOK_RULES.format(url=feeds.url("/world.xml")))
        project.write("alerts/channels.yaml", CHANNELS)
        project.env["HOOK_URL"] = receiver.url
        for round_ in range(KILLS):
            published = new_items(rng, round_) + published
            feeds.feed("/world.xml", rss(*published))
            run_and_kill(project, feeds, rng)

        daemon = project.start()
        expected = {it.title for it in published if "military" in it.title}
        engine = create_engine(project.env["MONITOR_DB"])
        wait_until(lambda: _all_sent(engine, len(expected)), timeout=60, message="every match delivered")
        assert project.stop(daemon) == 0

    with Session(engine) as session:
        matched = {
            item.id: item.title for item in session.exec(select(Item).join(Match, Match.item_id == Item.id))
        }  # type: ignore[arg-type]
    assert set(matched.values()) == expected  # every matching item became a match, none other

    ids_of_item: dict[str, set[str]] = defaultdict(set)
    bodies: dict[str, set[str]] = defaultdict(set)
    received = receiver.snapshot()
    for webhook_id, body in received:
        for item in body["items"]:
            ids_of_item[item["id"]].add(webhook_id)
        bodies[webhook_id].add(json.dumps(sorted(i["id"] for i in body["items"])))
    assert set(ids_of_item) == set(matched)  # every match delivered at least once
    assert all(len(ids) == 1 for ids in ids_of_item.values())  # a repeat keeps its webhook-id
    assert all(len(b) == 1 for b in bodies.values())  # ... and its content
    repeats = len(received) - len(bodies)
    assert repeats <= KILLS  # only sends in flight at a kill were repeated


def _all_sent(engine: Any, expected: int) -> bool:
    with Session(engine) as session:
        rows = list(session.exec(select(Delivery)))
    return len(rows) == expected and all(row.status == "sent" for row in rows)
