"""Delivery against loopback receivers: retries, backoff, Retry-After, permanent errors, timeouts, SMTP."""

from __future__ import annotations

import itertools
import json
import time
from collections.abc import Iterator
from datetime import timedelta
from typing import Any

import pytest
from conftest import Project
from feeds import It
from outbox import Rig
from receivers import HANG, HttpReceiver, Reply, SmtpReceiver

from monitor.schedule import delivery_backoff

STORY = It("Military chiefs meet", "The military chiefs meet on Thursday.", link="https://n.example.org/1")
OTHER = It("Military parade", "A military parade in town.", link="https://n.example.org/2")


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def webhook_rig(project: Project, hook: HttpReceiver, options: str = "") -> Rig:
    return Rig(project, f"hook: {{type: webhook, url: '${{HOOK}}'{options}}}", {"HOOK": hook.url})


def test_backoff_starts_near_two_seconds_doubles_and_stops_at_ten_minutes() -> None:
    for attempts, expected in ((1, 2), (2, 4), (3, 8), (6, 64)):
        delays = {delivery_backoff(attempts).total_seconds() for _ in range(50)}
        assert all(0.8 * expected <= d <= 1.2 * expected for d in delays)
        assert len(delays) > 1  # jittered
    assert all(delivery_backoff(n) <= timedelta(minutes=10) for n in range(9, 60))
    assert max(delivery_backoff(12) for _ in range(50)) >= timedelta(minutes=9)


def test_server_error_is_retried_after_backoff_with_the_same_id(project: Project, hook: HttpReceiver) -> None:
    hook.script(500)
    rig = webhook_rig(project, hook)
    rig.ingest(STORY)
    rig.deliver_until(lambda: rig.status() == {"sent"}, seen=lambda: len(hook.requests))
    first, second = hook.requests
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == rig.deliveries()[0].id
    assert 1.5 <= rig.arrivals[1] - rig.arrivals[0] <= 3.5  # about 2 s, jittered
    assert rig.deliveries()[0].attempts == 2
    assert [e.data["final"] for e in rig.events("delivery_failed")] == [False]
    rig.close()


def test_retry_after_pauses_the_whole_channel_even_across_a_restart(
    project: Project, hook: HttpReceiver
) -> None:
    hook.script(Reply(429, {"Retry-After": "2"}))
    rig = webhook_rig(project, hook, ", concurrency: 1")  # with more, OTHER is in flight before the 429
    rig.ingest(STORY, OTHER)
    rig.deliver_until(lambda: len(hook.requests) == 1, seen=lambda: len(hook.requests))
    rig.restart()  # the pause is in the database, not only in this process's memory
    rig.deliver_until(lambda: rig.status() == {"sent"}, seen=lambda: len(hook.requests))
    assert len(hook.requests) == 3
    assert all(later - rig.arrivals[0] >= 1.95 for later in rig.arrivals[1:])
    rejected = hook.requests[0].headers["webhook-id"]
    assert rejected in {r.headers["webhook-id"] for r in hook.requests[1:]}
    rig.close()


def test_gone_fails_at_once_is_listed_and_retried_by_command(project: Project, hook: HttpReceiver) -> None:
    hook.script(410)
    rig = webhook_rig(project, hook)
    rig.ingest(STORY)
    rig.deliver_until(lambda: rig.status() == {"failed"})
    (row,) = rig.deliveries()
    assert row.attempts == 1 and "HTTP 410" in (row.last_error or "")
    listed = project.cli("deliveries", "--failed")
    assert listed.returncode == 0 and row.id in listed.stdout
    (as_json,) = [
        json.loads(line) for line in project.cli("deliveries", "--failed", "--json").stdout.splitlines()
    ]
    assert as_json["id"] == row.id and as_json["status"] == "failed" and as_json["rule"] == "watch"
    assert project.cli("deliveries", "retry").returncode == 2  # neither ids nor --all
    retried = project.cli("deliveries", "retry", row.id)
    assert retried.returncode == 0 and "1 deliveries queued" in retried.stdout
    again = project.cli("deliveries", "retry", row.id)  # pending now, not failed: nothing to retry
    assert again.returncode == 1 and f"no failed delivery with id {row.id}" in again.stderr
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert [r.headers["webhook-id"] for r in hook.requests] == [row.id, row.id]
    rig.close()


def test_retry_all_requeues_every_failed_delivery(project: Project, hook: HttpReceiver) -> None:
    hook.script(404, 404)
    rig = webhook_rig(project, hook)
    rig.ingest(STORY, OTHER)
    rig.deliver_until(lambda: rig.status() == {"failed"})
    assert "2 deliveries queued" in project.cli("deliveries", "retry", "--all").stdout
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert len(hook.requests) == 4
    rig.close()


def test_a_receiver_that_never_answers_times_out_and_is_retried(project: Project, hook: HttpReceiver) -> None:
    hook.script(HANG)
    rig = webhook_rig(project, hook, ", timeout: 0.3")
    rig.ingest(STORY)
    rig.deliver_until(lambda: rig.deliveries()[0].attempts == 1)
    assert "timed out after 0.3 s" in (rig.deliveries()[0].last_error or "")
    assert rig.status() == {"pending"}
    rig.deliver_until(lambda: rig.status() == {"sent"})
    assert len({r.headers["webhook-id"] for r in hook.requests}) == 1
    rig.close()


def test_max_attempts_then_failed_for_good(project: Project, hook: HttpReceiver) -> None:
    hook.script(503, 503, 503)
    rig = webhook_rig(project, hook, ", max_attempts: 2")
    rig.ingest(STORY)
    rig.deliver_until(lambda: rig.status() == {"failed"})
    assert len(hook.requests) == 2 and rig.deliveries()[0].attempts == 2
    assert [e.data["final"] for e in rig.events("delivery_failed")] == [False, True]
    rig.close()


def test_a_hanging_channel_does_not_hold_up_another(project: Project) -> None:
    with HttpReceiver() as slow, HttpReceiver() as fast:
        slow.script(HANG)
        channels = (
            "slow: {type: webhook, url: '${SLOW}', timeout: 5}\nfast: {type: webhook, url: '${FAST}'}\n"
        )
        rig = Rig(project, channels, {"SLOW": slow.url, "FAST": fast.url})
        rig.ingest(STORY)
        started = time.monotonic()
        rig.deliver_until(lambda: len(fast.requests) == 1 and len(slow.requests) == 1)
        assert time.monotonic() - started < 2  # the other channel's send still hangs
        slow.release()
        rig.close()


def warmed(rig: Rig, hook: HttpReceiver) -> int:
    """Send one alert first, so the channel's HTTP client and connection exist before the sends a test
    measures (a first send makes them: tens of ms under load, between its start and its arrival); return
    how many requests that took."""
    rig.ingest(It("Military warm-up", "military", link="https://n.example.org/0"))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    return len(hook.requests)


def test_rate_limit_spaces_sends_on_one_channel(project: Project, hook: HttpReceiver) -> None:
    rig = webhook_rig(project, hook, ", min_interval: 0.4")
    before = warmed(rig, hook)
    rig.ingest(STORY, OTHER, It("Military band", "military music", link="https://n.example.org/3"))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    arrivals = [r.at for r in hook.requests]  # the receiver's own clock: not when a 50 ms poll noticed
    gaps = [b - a for a, b in itertools.pairwise(arrivals)]
    assert len(arrivals) == before + 3 and all(gap >= 0.3 for gap in gaps), gaps
    rig.close()


@pytest.mark.parametrize("concurrency", [1, 4])
def test_a_slow_read_of_one_message_does_not_bring_the_next_closer_than_the_rate_limit(
    project: Project, hook: HttpReceiver, concurrency: int
) -> None:
    """A group read after its turn to start (the first, or one not read ahead) goes out late by that
    read; the next, read ahead or quick, must still follow it by `min_interval` on the receiver's clock."""
    rig = webhook_rig(project, hook, f", min_interval: 0.4, concurrency: {concurrency}")
    before = warmed(rig, hook)
    rig.ingest(STORY, OTHER)
    prepare, reads = rig.deliverer.prepare_group, []

    def slow_first_read(members: Any) -> Any:
        reads.append(members)
        if len(reads) == 1:
            time.sleep(0.3)  # the database slow under load: not a wait in the test, the load it simulates
        return prepare(members)

    rig.deliverer.prepare_group = slow_first_read  # type: ignore[method-assign]
    rig.deliver_until(lambda: rig.status() == {"sent"})
    first, second = hook.requests[before:]
    assert second.at - first.at >= 0.3, second.at - first.at  # 0.4, less the client and receiver jitter
    rig.close()


def smtp_rig(project: Project, smtp: SmtpReceiver) -> Rig:
    channel = "mail: {type: email, to: [desk@example.org], from: monitor@example.org, smtp: '${SMTP}'}"
    return Rig(project, channel, {"SMTP": smtp.url})


def test_smtp_451_is_retried_then_sent(project: Project) -> None:
    with SmtpReceiver(data_replies=["451 4.3.0 try again later"]) as smtp:
        rig = smtp_rig(project, smtp)
        rig.ingest(STORY)
        rig.deliver_until(lambda: rig.status() == {"sent"})
        (mail,) = smtp.mails
        assert smtp.attempts == 2 and rig.deliveries()[0].attempts == 2
        assert rig.deliveries()[0].id in mail.message["Message-ID"]
        rig.close()


def test_smtp_550_fails_at_once(project: Project) -> None:
    with SmtpReceiver(data_replies=["550 5.1.1 no such user"]) as smtp:
        rig = smtp_rig(project, smtp)
        rig.ingest(STORY)
        rig.deliver_until(lambda: rig.status() == {"failed"})
        assert smtp.attempts == 1 and rig.deliveries()[0].attempts == 1
        assert "550" in (rig.deliveries()[0].last_error or "")
        rig.close()


def test_a_broken_template_is_refused_by_check_not_at_send_time(project: Project) -> None:
    project.write("rules/watch.yaml", "rules:\n  - name: watch\n    match: military\n    alert: [console]\n")
    project.write("alerts/channels.yaml", "channels:\n  console: {type: console}\n")
    project.write("alerts/templates/console.txt.j2", "{{ alert.rule }}\n{% for item in alert.items %}\n")
    result = project.cli("check")
    assert result.returncode == 1
    assert "alerts/templates/console.txt.j2:" in result.stderr


def test_a_batch_that_ends_claims_the_next_at_once(
    project: Project, hook: HttpReceiver, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With `again` set (the daemon), one timer tick drains an outbox larger than a claim."""
    from monitor import deliver

    monkeypatch.setattr(deliver, "CLAIM_LIMIT", 1)
    rig = webhook_rig(project, hook)
    rig.ingest(STORY, OTHER)
    rig.deliverer.again = rig.deliverer.tick
    assert rig.deliverer.tick() == 1  # the only tick: the second claim comes from the first batch's end
    received = hook.wait_for(2)
    assert sorted(r.headers["webhook-id"] for r in received) == sorted(d.id for d in rig.deliveries())
    rig.close()
