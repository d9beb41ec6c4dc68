"""Editing rules under a running daemon: good edits apply within 2 s, bad ones are reported and change nothing."""

from __future__ import annotations

import json
import time
from collections import Counter
from datetime import timedelta
from pathlib import Path

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from receivers import HttpReceiver
from runtimes import open_runtime
from sqlmodel import Session, select
from waiting import wait_until

from monitor import db, pipeline
from monitor.daemon import apply_reload
from monitor.models import Event, Item, Match, utcnow
from monitor.reload import Reloader

TROOPS = It("Troops gather at the border", "Ukraine says troops are massing.", link="https://n.example/1")
TALKS = It("Ceasefire talks open in Geneva", "Diplomats meet.", link="https://n.example/2")
QUIET = It("Weather: rain all week", "Nothing else.", link="https://n.example/3")
MORE_TROOPS = It("More troops arrive", "Second wave of troops in Ukraine.", link="https://n.example/4")
LAST_TROOPS = It("Troops withdraw", "Troops leave Ukraine.", link="https://n.example/5")
LAST_TALKS = It("Ceasefire signed", "The ceasefire holds.", link="https://n.example/6")

FEEDS = """\
feeds:
  - {{name: world, url: "{url}", every: 1s, backfill: true}}
"""
TROOPS_RULE = """\
  - name: troops
    match: troops AND Ukraine
    alert: [hook]
"""
TALKS_RULE = """\
  - name: talks
    match: ceasefire
    alert: [hook]
"""
CHANNELS = 'channels:\n  hook: {type: webhook, url: "${WEBHOOK_URL}"}\n'


def rules(url: str, *bodies: str) -> str:
    return FEEDS.format(url=url) + "rules:\n" + "".join(bodies)


def alerts(hook: HttpReceiver) -> Counter[tuple[str, str]]:
    """How many webhooks each (rule, item title) received."""
    return Counter((r.json()["rule"], r.json()["item"]["title"]) for r in hook.requests)


def alerted(hook: HttpReceiver, rule: str, item: It) -> bool:
    return (rule, item.title) in alerts(hook)


def applied_within(project: Project, marker: str, started: float, limit: float = 2.0) -> float:
    """Seconds from `started` until `marker` shows in the daemon's log (failing past `limit`)."""
    wait_until(lambda: marker in project.log(), timeout=limit + 1, every=0.02, message=marker)
    took = time.monotonic() - started
    assert took < limit, f"{marker!r} took {took:.2f} s"
    return took


@pytest.mark.slow
def test_rules_edited_under_a_running_daemon(project: Project) -> None:
    with FeedServer() as feeds, HttpReceiver() as hook:
        url = feeds.url("/world.xml")
        feeds.feed("/world.xml", rss(TROOPS, TALKS, QUIET))
        project.write("rules/watch.yaml", rules(url, TROOPS_RULE))
        project.write("alerts/channels.yaml", CHANNELS)
        project.env["WEBHOOK_URL"] = hook.url + "/hook"
        daemon = project.start()
        wait_until(lambda: alerted(hook, "troops", TROOPS), timeout=30, message="first alert")
        assert not alerted(hook, "talks", TALKS)

        # A good edit: a new rule applies without a restart and catches the story stored before it existed.
        start = time.monotonic()
        project.write("rules/watch.yaml", rules(url, TROOPS_RULE, TALKS_RULE))
        applied_within(project, "rules: added talks", start)
        wait_until(lambda: alerted(hook, "talks", TALKS), timeout=10, message="lookback alert")

        # A broken edit: reported with file and line, the running rules keep alerting.
        start = time.monotonic()
        project.write(
            "rules/watch.yaml", rules(url, TROOPS_RULE, TALKS_RULE.replace("ceasefire", "(ceasefire"))
        )
        applied_within(project, "keeping the last good rules", start)
        failed = project.cli("events", "--kind", "reload_failed", "--json")
        (event,) = [json.loads(line) for line in failed.stdout.splitlines()]
        assert event["data"]["file"].endswith("rules/watch.yaml") and event["data"]["line"] == 8
        assert "rules/watch.yaml:8:" in event["message"]
        feeds.feed("/world.xml", rss(MORE_TROOPS, TROOPS, TALKS, QUIET))
        wait_until(lambda: alerted(hook, "troops", MORE_TROOPS), timeout=10, message="alert on the old rules")

        # Removing a rule stops its alerts (LAST_TALKS alerting proves the poll that carried LAST_TROOPS ran).
        start = time.monotonic()
        project.write("rules/watch.yaml", rules(url, TALKS_RULE))
        applied_within(project, "rules: removed troops", start)
        feeds.feed("/world.xml", rss(LAST_TROOPS, LAST_TALKS, MORE_TROOPS, TROOPS, TALKS, QUIET))
        wait_until(lambda: alerted(hook, "talks", LAST_TALKS), timeout=10, message="alert after removal")
        polls = len(feeds.requests("/world.xml"))
        wait_until(
            lambda: len(feeds.requests("/world.xml")) >= polls + 2, timeout=10, message="two more polls"
        )

        assert daemon.poll() is None and project.log().count("monitor running") == 1  # one process throughout
        assert project.stop(daemon) == 0
        assert alerts(hook) == {
            ("troops", TROOPS.title): 1,
            ("talks", TALKS.title): 1,
            ("troops", MORE_TROOPS.title): 1,
            ("talks", LAST_TALKS.title): 1,
        }


def test_lookback_runs_a_new_or_changed_rule_over_its_window_once(tmp_path: Path) -> None:
    rules_dir, channels = tmp_path / "rules", tmp_path / "channels.yaml"
    rules_dir.mkdir()
    channels.write_text("channels: {}\n")
    head = "feeds:\n  - {name: world, url: 'http://127.0.0.1:9/w.xml'}\nrules:\n  - {name: troops, match: troops}\n"
    (rules_dir / "watch.yaml").write_text(head)
    rt = open_runtime(f"sqlite:///{tmp_path / 'monitor.db'}", rules_dir, channels)
    engine = rt.engine
    pipeline.sync_feeds(engine, rt.config)
    pipeline.lookback(rt)
    now = utcnow()
    stories = {  # title: (first seen, published)
        "Ceasefire signed": (now - timedelta(hours=1), now - timedelta(hours=2)),
        "Ceasefire proposed": (now - timedelta(hours=30), None),
        "Ceasefire of 1990 remembered": (now - timedelta(hours=1), now - timedelta(days=3)),
    }
    with Session(engine) as session:
        db.insert_ignore(session, Item, [
            {"id": f"i{n}", "feed": "world", "title": title, "first_seen": seen, "published": published,
             "title_key": title, "categories": []}
            for n, (title, (seen, published)) in enumerate(stories.items())
        ])  # fmt: skip
        session.commit()
    reloader = Reloader(rt, rules_dir, channels)

    def matched(rule: str) -> list[str]:
        with Session(engine) as session:
            rows = session.exec(select(Match).where(Match.rule == rule))
            return sorted(session.get(Item, m.item_id).title for m in rows)  # type: ignore[union-attr]

    def edit(rules: str) -> None:
        (rules_dir / "watch.yaml").write_text(head + rules)
        apply_reload(rt, reloader)

    edit("  - {name: talks, match: ceasefire}\n  - {name: archive, match: ceasefire, lookback: 2d}\n")
    assert matched("talks") == ["Ceasefire signed"]  # first seen and published in the last 24 h
    assert matched("archive") == ["Ceasefire proposed", "Ceasefire signed"]  # its own 2-day window
    assert matched("troops") == []
    edit(
        "  - {name: talks, match: ceasefire OR truce}\n  - {name: archive, match: ceasefire, lookback: 2d}\n"
    )
    assert matched("talks") == ["Ceasefire signed"]  # a changed rule runs again, and alerts nothing twice
    with Session(engine) as session:
        assert len(list(session.exec(select(Match)))) == 3


def test_an_edit_of_only_a_rules_lookback_is_a_change_and_runs_the_wider_lookback(tmp_path: Path) -> None:
    rules_dir, channels = tmp_path / "rules", tmp_path / "channels.yaml"
    rules_dir.mkdir()
    channels.write_text("channels: {}\n")
    head = "feeds:\n  - {name: world, url: 'http://127.0.0.1:9/w.xml'}\nrules:\n"
    (rules_dir / "watch.yaml").write_text(head + "  - {name: talks, match: ceasefire}\n")
    rt = open_runtime(f"sqlite:///{tmp_path / 'monitor.db'}", rules_dir, channels)
    engine = rt.engine
    pipeline.sync_feeds(engine, rt.config)
    now = utcnow()
    with Session(engine) as session:
        db.insert_ignore(session, Item, [
            {"id": "old", "feed": "world", "title": "Ceasefire proposed", "first_seen": now - timedelta(hours=30),
             "published": None, "title_key": "old", "categories": []},
        ])  # fmt: skip
        session.commit()
    pipeline.lookback(rt)
    reloader = Reloader(rt, rules_dir, channels)
    with Session(engine) as session:
        assert list(session.exec(select(Match))) == []  # 30 h ago: outside the default 24 h
    (rules_dir / "watch.yaml").write_text(head + "  - {name: talks, match: ceasefire, lookback: 2d}\n")
    apply_reload(rt, reloader)
    with Session(engine) as session:
        (event,) = session.exec(select(Event).where(Event.kind == "reload"))
        assert event.data["rules_changed"] == ["talks"]
        assert [m.item_id for m in session.exec(select(Match))] == ["old"]  # the 2-day lookback ran
