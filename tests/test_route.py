"""The outbox: a Match per (rule, story) and a Delivery per (match, channel), stored with the items."""

from __future__ import annotations

from datetime import UTC, datetime

from conftest import Project
from feeds import It
from outbox import Rig

from monitor.route import delivery_id, route

NOW = datetime(2026, 11, 26, 9, 30, tzinfo=UTC)
CHANNELS = "a: {type: console}\nb: {type: console}\n"
STORY = It("Military chiefs meet", "The military chiefs meet.", link="https://n.example.org/1")


def test_delivery_id_is_stable_per_match_and_channel() -> None:
    first = delivery_id("match-1", "slack")
    assert first == delivery_id("match-1", "slack") and first.startswith("msg_") and len(first) == 28
    assert len({first, delivery_id("match-1", "email"), delivery_id("match-2", "slack")}) == 3


def test_route_makes_one_pending_delivery_per_channel_due_now(project: Project) -> None:
    rig = Rig(project, CHANNELS)
    rows = route(rig.rt.config, [{"id": "m1", "rule": "watch"}, {"id": "m2", "rule": "gone"}], NOW)
    assert [(r["channel"], r["match_id"]) for r in rows] == [("a", "m1"), ("b", "m1")]
    assert all(r["status"] == "pending" and r["attempts"] == 0 and r["next_attempt_at"] == NOW for r in rows)
    assert all(r["group_key"] is None and r["id"] == delivery_id("m1", r["channel"]) for r in rows)
    rig.close()


def test_a_rule_without_alert_routes_nowhere(project: Project) -> None:
    project.write("rules/dry.yaml", "rules:\n  - name: dry\n    match: military\n")
    rig = Rig(project, CHANNELS)
    assert route(rig.rt.config, [{"id": "m1", "rule": "dry"}], NOW) == []
    rig.ingest(STORY)
    assert {m.rule for m in rig.matches()} == {"watch", "dry"}
    assert {d.rule for d in rig.deliveries()} == {"watch"}
    rig.close()


def test_digest_deliveries_wait_for_the_next_cron_time_in_the_rules_timezone(project: Project) -> None:
    rig = Rig(project, CHANNELS, rule_extra="    digest: '0 8,18 * * *'\n")
    config = rig.rt.config
    morning = route(config, [{"id": "m1", "rule": "watch"}, {"id": "m2", "rule": "watch"}], NOW)
    evening = route(config, [{"id": "m3", "rule": "watch"}], NOW.replace(hour=18, minute=1))
    assert {r["next_attempt_at"] for r in morning} == {NOW.replace(hour=18, minute=0)}
    assert {r["next_attempt_at"] for r in evening} == {datetime(2026, 11, 27, 8, tzinfo=UTC)}
    assert len({r["group_key"] for r in morning}) == 1 and morning[0]["group_key"] != evening[0]["group_key"]
    rig.close()


def test_items_matches_and_deliveries_are_stored_together_and_once(project: Project) -> None:
    rig = Rig(project, CHANNELS)
    rig.ingest(STORY)
    (match,) = rig.matches()
    assert sorted(d.channel for d in rig.deliveries()) == ["a", "b"]
    assert {d.id for d in rig.deliveries()} == {delivery_id(match.id, "a"), delivery_id(match.id, "b")}
    same_story = It(
        "Military chiefs meet", "Copied by another site.", link="https://n.example.org/1?utm_source=x"
    )
    rig.ingest(STORY, same_story, It("Weather", "Rain.", link="https://n.example.org/2"))
    assert len(rig.matches()) == 1 and len(rig.deliveries()) == 2  # the same story alerts once
    assert len(rig.events("match")) == 1
    rig.close()
