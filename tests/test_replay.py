"""A channel newly added to a rule gets the rule's recent matches once; `deliveries resend`; muting."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta

import pytest
from conftest import Project
from feeds import It
from outbox import FEED_URL, RULES, Rig
from receivers import HttpReceiver
from sqlmodel import Session

from monitor import mutes, pipeline
from monitor.config import load_config
from monitor.redeliver import resend
from monitor.runtime import Active

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"
CHANNELS = """\
channels:
  first: {{type: webhook, url: '{first}/a', secret: '{secret}'}}
  second: {{type: webhook, url: '{second}/b', secret: '{secret}'}}
"""
STORIES = [
    It(f"Military story {n}", f"military news number {n}", link=f"https://n.example.org/{n}")
    for n in range(7)
]


@pytest.fixture
def receivers() -> Iterator[tuple[HttpReceiver, HttpReceiver]]:
    with HttpReceiver() as first, HttpReceiver() as second:
        yield first, second


def rig_with(project: Project, first: HttpReceiver, second: HttpReceiver) -> Rig:
    rig = Rig(project, channels=f"first: {{type: webhook, url: '{first.url}/a', secret: '{SECRET}'}}")
    project.write("alerts/channels.yaml", CHANNELS.format(first=first.url, second=second.url, secret=SECRET))
    pipeline.lookback(rig.rt)  # the first start applies the rules
    return rig


def set_alert(rig: Rig, alert: str) -> None:
    """Edit the rule's `alert:` and reload, as the daemon does (the new rules, then their lookback)."""
    root = rig.project.root
    rig.project.write("rules/watch.yaml", RULES.format(url=FEED_URL, alert=alert))
    config = load_config(root / "rules", root / "alerts" / "channels.yaml", rig.project.env)
    rig.rt.active = Active.build(config)
    pipeline.lookback(rig.rt)


def test_a_new_channel_gets_the_recent_matches_once_as_a_burst(
    project: Project, receivers: tuple[HttpReceiver, HttpReceiver]
) -> None:
    first, second = receivers
    rig = rig_with(project, first, second)
    set_alert(rig, "first")
    rig.ingest(*STORIES)
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert len(first.requests) == 1  # seven at once: one grouped message

    set_alert(rig, "first, second")
    rig.deliver_until(lambda: rig.status() == {"sent"} and len(rig.deliveries()) == 14)
    [burst] = second.wait_for(1)
    assert burst.json()["kind"] == "digest" and len(burst.json()["items"]) == 7
    first_ids = {d.id for d in rig.deliveries() if d.channel == "first"}
    assert first_ids.isdisjoint(d.id for d in rig.deliveries() if d.channel == "second")

    set_alert(rig, "second, first")  # another edit, a restart: nothing again, to either channel
    rig.restart()
    pipeline.lookback(rig.rt)
    rig.deliverer.tick()
    rig.deliverer.wait()
    assert (len(first.requests), len(second.requests)) == (1, 1)
    [note] = [e for e in rig.events("delivery") if e.data.get("replayed")]
    assert note.channel == "second" and note.data["replayed"] == 7
    rig.close()


def test_matches_made_while_muted_are_never_sent_even_by_a_replay_or_resend(
    project: Project, receivers: tuple[HttpReceiver, HttpReceiver]
) -> None:
    first, second = receivers
    rig = rig_with(project, first, second)
    set_alert(rig, "first")
    mutes.mute(rig.engine, "watch", None)
    rig.ingest(STORIES[0])
    assert [m.muted for m in rig.matches()] == [True] and rig.deliveries() == []

    assert mutes.unmute(rig.engine, "watch")
    set_alert(rig, "first, second")
    assert resend(rig.engine, "watch", "first", timedelta(days=1)) == 0
    rig.ingest(STORIES[1], STORIES[0])
    rig.deliver_until(lambda: rig.status() == {"sent"} and len(rig.deliveries()) == 2)
    assert [r.json()["item"]["title"] for r in first.requests + second.requests] == [STORIES[1].title] * 2
    rig.close()


def test_mute_for_a_while_ends_by_itself(
    project: Project, receivers: tuple[HttpReceiver, HttpReceiver]
) -> None:
    rig = rig_with(project, *receivers)
    until = mutes.mute(rig.engine, "watch", timedelta(hours=2))
    assert until is not None
    with Session(rig.engine) as session:
        assert mutes.active(session, until - timedelta(minutes=1)) == {"watch": until}
        assert mutes.active(session, until + timedelta(minutes=1)) == {}
    rig.close()


def test_resend_sends_again_under_new_ids(
    project: Project, receivers: tuple[HttpReceiver, HttpReceiver]
) -> None:
    first, second = receivers
    rig = rig_with(project, first, second)
    set_alert(rig, "first")
    rig.ingest(STORIES[0])
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert resend(rig.engine, "watch", "first", timedelta(days=1)) == 1
    assert resend(rig.engine, "watch", "second", timedelta(days=1)) == 1  # a channel it never had
    rig.deliver_until(
        lambda: rig.status() == {"sent"} and len(first.requests) == 2 and len(second.requests) == 1
    )
    ids = [r.headers["webhook-id"] for r in first.requests]
    assert ids[0] != ids[1]
    assert resend(rig.engine, "watch", "first", timedelta(seconds=0)) == 0  # nothing in an empty window
    rig.close()
