"""Noise control: a rule's digest arrives as one message at its cron time; bursts become grouped messages."""

from __future__ import annotations

import json
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta

import pytest
import time_machine
from conftest import Project
from feeds import It
from outbox import Rig
from receivers import HttpReceiver

from monitor import deliver
from monitor.channels.slack import MAX_BLOCKS, MAX_TEXT

DAY = datetime(2026, 11, 26, tzinfo=UTC)


def story(n: int, words: str = "military") -> It:
    return It(
        f"Story {n} about the {words}", f"The {words} story number {n}.", link=f"https://n.example.org/{n}"
    )


def dated(n: int, age: timedelta | None = timedelta(minutes=5)) -> It:
    return It(f"Story {n} about the military", "The military.", link=f"https://n.example.org/{n}", age=age)


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def test_matches_through_the_day_arrive_as_one_digest_at_the_cron_time(
    project: Project, hook: HttpReceiver
) -> None:
    rig = Rig(
        project, "hook: {type: webhook, url: '${HOOK}'}", {"HOOK": hook.url}, "    digest: '0 8 * * *'\n"
    )
    with time_machine.travel(DAY.replace(hour=6), tick=True) as clock:
        rig.ingest(story(1))
        clock.move_to(DAY.replace(hour=7, minute=30))
        rig.ingest(story(2), story(1), story(3, "weather"))
        clock.move_to(DAY.replace(hour=7, minute=59, second=50))
        rig.deliverer.run_until_idle()
        assert hook.requests == [] and rig.status() == {"pending"}  # nothing before the cron time
        clock.move_to(DAY.replace(hour=8, second=1))
        rig.deliver_until(lambda: rig.status() == {"sent"})
        clock.move_to(DAY.replace(hour=8, minute=5))
        rig.ingest(story(4), story(2), story(1))  # after 08:00: tomorrow's digest
    (message,) = hook.requests
    body = message.json()
    assert body["kind"] == "digest" and body["rule"] == "watch"
    assert [item["title"] for item in body["items"]] == [story(2).title, story(1).title]  # newest first
    tomorrow = [d for d in rig.deliveries() if d.status == "pending"]
    assert [d.next_attempt_at for d in tomorrow] == [DAY.replace(day=27, hour=8)]
    rig.close()


def test_a_digest_lists_newest_first_by_published_time_then_first_seen(
    project: Project, hook: HttpReceiver
) -> None:
    rig = Rig(
        project, "hook: {type: webhook, url: '${HOOK}'}", {"HOOK": hook.url}, "    digest: '0 8 * * *'\n"
    )
    with time_machine.travel(DAY.replace(hour=6), tick=True) as clock:
        rig.ingest(dated(1, timedelta(minutes=10)))  # published 05:50
        clock.move_to(DAY.replace(hour=7))
        rig.ingest(dated(2, timedelta(hours=2)), dated(3, None))  # 05:00, and no date (first seen 07:00)
        clock.move_to(DAY.replace(hour=7, minute=30))
        rig.ingest(dated(4, timedelta(hours=2, minutes=30)))  # 05:00 too, first seen later than 2
        clock.move_to(DAY.replace(hour=8, second=1))
        rig.deliver_until(lambda: rig.status() == {"sent"})
    (message,) = hook.requests
    assert [item["title"] for item in message.json()["items"]] == [dated(n).title for n in (3, 1, 4, 2)]
    rig.close()


def test_twenty_matches_at_once_reach_slack_as_one_grouped_message(
    project: Project, hook: HttpReceiver
) -> None:
    rig = Rig(project, "slack: {type: slack, webhook_url: '${SLACK}'}", {"SLACK": hook.url})
    rig.ingest(*(story(n) for n in range(20)))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    (message,) = hook.requests
    text = json.dumps(message.json())
    assert all(story(n).title in text for n in range(20))
    assert len(message.json()["blocks"]) == 22  # a header, a context line and one section per item
    rig.close()


def test_up_to_five_matches_at_once_go_out_one_by_one(project: Project, hook: HttpReceiver) -> None:
    rig = Rig(project, "hook: {type: webhook, url: '${HOOK}'}", {"HOOK": hook.url})
    rig.ingest(*(story(n) for n in range(5)))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert sorted(r.headers["webhook-id"] for r in hook.requests) == sorted(d.id for d in rig.deliveries())
    assert {r.json()["kind"] for r in hook.requests} == {"match"}
    rig.close()


def test_a_large_burst_keeps_within_slack_limits(project: Project, hook: HttpReceiver) -> None:
    rig = Rig(project, "slack: {type: slack, webhook_url: '${SLACK}', min_interval: 0}", {"SLACK": hook.url})
    long_words = "military " + "R&D &amp; <x> " * 300
    rig.ingest(*(story(n, long_words) for n in range(90)))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert len(hook.requests) == 3  # 40 + 40 + 10 items
    blocks = [block for r in hook.requests for block in r.json()["blocks"]]
    assert all(len(r.json()["blocks"]) <= MAX_BLOCKS for r in hook.requests)
    assert all(len(b["text"]["text"]) <= MAX_TEXT for b in blocks if "text" in b)
    assert sum(b["type"] == "section" for b in blocks) == 90  # every item shown
    rig.close()


def test_a_grouped_message_is_resent_whole_under_the_same_id(
    project: Project, hook: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    hook.script(503)
    rig = Rig(project, "hook: {type: webhook, url: '${HOOK}'}", {"HOOK": hook.url})
    rig.ingest(*(story(n) for n in range(8)))
    rig.deliver_until(lambda: len(hook.requests) == 1)
    monkeypatch.setattr(deliver, "CLAIM_LIMIT", 3)  # a claim smaller than the group takes the group whole
    rig.deliver_until(lambda: rig.status() == {"sent"})
    first, second = hook.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert first.json()["items"] == second.json()["items"] and len(first.json()["items"]) == 8
    assert first.json()["kind"] == "digest"
    assert len({d.group_key for d in rig.deliveries()}) == 1
    rig.close()
