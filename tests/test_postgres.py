"""Several instances on one PostgreSQL database: claims never overlap, races never double a row."""

from __future__ import annotations

import os
import random
import shutil
import signal
import subprocess
import threading
import time
from collections import Counter
from collections.abc import Callable, Iterator
from datetime import UTC, datetime, timedelta
from email.utils import format_datetime
from pathlib import Path
from typing import Any, TypeVar

import pytest
import sqlalchemy as sa
import yaml
from conftest import REPO, Project
from feedserver import FeedServer
from pg import fresh_database
from receivers import HttpReceiver
from sqlmodel import Session
from test_db import T0, add_feeds, delivery_row, insert, match_row
from waiting import wait_until

from monitor import db
from monitor.models import Delivery, FeedState, Match

pytestmark = pytest.mark.postgres
T = TypeVar("T")
WORKERS = 8


@pytest.fixture
def engine() -> Iterator[sa.Engine]:
    """A migrated, empty PostgreSQL database with a pool big enough for every worker."""
    with fresh_database() as url:
        engine = db.make_engine(url)
        db.upgrade(engine)
        yield engine
        engine.dispose()


def together(work: Callable[[int], T], workers: int = WORKERS) -> list[T]:
    """Run `work(n)` in `workers` threads released at the same instant; return their results."""
    barrier = threading.Barrier(workers)
    results: list[Any] = [None] * workers

    def run(n: int) -> None:
        barrier.wait()
        try:
            results[n] = work(n)
        except BaseException as exc:
            results[n] = exc

    threads = [threading.Thread(target=run, args=(n,)) for n in range(workers)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    errors = [r for r in results if isinstance(r, BaseException)]
    assert not errors, errors
    return results


def test_instances_claiming_at_once_never_get_the_same_feed(engine: sa.Engine) -> None:
    names = [f"feed-{n:03}" for n in range(300)]
    add_feeds(engine, names)

    def claim_until_none_left(n: int) -> list[str]:
        mine: list[str] = []
        with Session(engine) as session:
            while batch := db.claim_due_feeds(session, names, f"instance-{n}", T0, 7):
                mine.extend(batch)
        return mine

    claims = together(claim_until_none_left)

    counts = Counter(name for mine in claims for name in mine)
    assert sorted(counts) == names and set(counts.values()) == {1}
    assert sum(1 for mine in claims if mine) > 1  # the work was shared, not taken by one instance


def test_instances_claiming_at_once_never_get_the_same_delivery(engine: sa.Engine) -> None:
    insert(engine, Delivery, [delivery_row(n, channel) for n in range(150) for channel in ("hook", "mail")])

    def claim_until_none_left(n: int) -> list[str]:
        mine: list[str] = []
        with Session(engine) as session:
            while batch := db.claim_due_deliveries(session, ["hook", "mail"], f"instance-{n}", T0, 5):
                mine.extend(d.id for d in batch)
        return mine

    claims = together(claim_until_none_left)

    counts = Counter(d for mine in claims for d in mine)
    assert len(counts) == 300 and set(counts.values()) == {1}


def test_a_dead_instances_leases_are_taken_over_after_they_expire(engine: sa.Engine) -> None:
    names = [f"feed-{n}" for n in range(20)]
    add_feeds(engine, names)
    insert(engine, Delivery, [delivery_row(n) for n in range(20)])
    with Session(engine) as session:
        assert len(db.claim_due_feeds(session, names, "killed", T0, 100)) == 20
        assert len(db.claim_due_deliveries(session, ["hook"], "killed", T0, 100)) == 20
    before, after = T0 + db.LEASE - timedelta(seconds=1), T0 + db.LEASE + timedelta(seconds=1)

    def claim(n: int) -> tuple[list[str], list[str], list[str], list[str]]:
        with Session(engine) as session:
            early_feeds = db.claim_due_feeds(session, names, f"alive-{n}", before, 100)
            early = [d.id for d in db.claim_due_deliveries(session, ["hook"], f"alive-{n}", before, 100)]
            feeds = db.claim_due_feeds(session, names, f"alive-{n}", after, 100)
            deliveries = [d.id for d in db.claim_due_deliveries(session, ["hook"], f"alive-{n}", after, 100)]
        return early_feeds, early, feeds, deliveries

    results = together(claim, workers=4)

    assert all(not early_feeds and not early for early_feeds, early, _, _ in results)
    assert sorted(f for r in results for f in r[2]) == sorted(names)
    assert len({d for r in results for d in r[3]}) == sum(len(r[3]) for r in results) == 20


def test_racing_inserts_store_and_report_each_row_once(engine: sa.Engine) -> None:
    # Enough rows, each writer in its own order, that writers locking in their own order deadlock.
    rows = [match_row(n) for n in range(2000)]

    def insert_shuffled(n: int) -> set[Any]:
        mine = rows[:]
        random.Random(n).shuffle(mine)
        return insert(engine, Match, mine)

    reported = together(insert_shuffled)

    counts = Counter(key for keys in reported for key in keys)
    assert len(counts) == 2000 and set(counts.values()) == {1}
    with Session(engine) as session:
        assert session.execute(sa.select(sa.func.count()).select_from(Match)).scalar_one() == 2000


def test_the_same_story_from_several_feeds_at_once_matches_a_rule_once(engine: sa.Engine) -> None:
    def match_own_copy(n: int) -> set[Any]:
        copies = [
            match_row(1, id=f"feed{n}-a", item_id=f"feed{n}-a"),  # the same link in every feed
            match_row(2, id=f"feed{n}-b", item_id=f"feed{n}-b", link_key=f"elsewhere-{n}"),  # same title
        ]
        return insert(engine, Match, copies)

    reported = together(match_own_copy)

    assert sum(len(keys) for keys in reported) == 2
    with Session(engine) as session:
        stored = session.execute(sa.select(Match.link_key, Match.title_key)).all()
    assert len(stored) == 2


def test_a_lease_renewed_in_time_is_never_taken(engine: sa.Engine) -> None:
    insert(engine, Delivery, [delivery_row(n) for n in range(50)])
    with Session(engine) as session:
        ids = [d.id for d in db.claim_due_deliveries(session, ["hook"], "sender", T0, 100)]
    at_expiry = T0 + db.LEASE + timedelta(microseconds=1)

    def renew_or_steal(n: int) -> set[Any] | list[str]:
        with Session(engine) as session:
            if n == 0:
                return db.renew_leases(session, Delivery, ids, "sender", at_expiry)
            return [d.id for d in db.claim_due_deliveries(session, ["hook"], f"thief-{n}", at_expiry, 100)]

    renewed, *stolen = together(renew_or_steal, workers=4)

    taken = [d for s in stolen for d in s]
    assert len(taken) == len(set(taken))
    assert set(renewed).isdisjoint(taken) and set(renewed) | set(taken) == set(ids)


def test_the_compose_file_runs_two_instances_on_postgresql(tmp_path: Path) -> None:
    compose = shutil.which("docker-compose")
    if compose is None:
        pytest.skip("docker-compose is not installed (apt-get install docker-compose)")
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")  # the README's first step: cp .env.example .env
    done = subprocess.run([compose, "config"], cwd=tmp_path, capture_output=True, text=True, timeout=60)
    assert done.returncode == 0, done.stderr
    services = yaml.safe_load(done.stdout)["services"]

    monitors = [s for s in services.values() if s.get("build")]
    assert len(monitors) == 2
    for service in monitors:
        assert service["environment"]["MONITOR_DB"].startswith("postgresql://")
        assert service["depends_on"]["postgres"]["condition"] == "service_healthy"
        assert "/healthz" in " ".join(service["healthcheck"]["test"])
        assert {v.split(":")[1] for v in service["volumes"]} >= {"/srv/monitor/rules", "/srv/monitor/alerts"}
    assert "pg_isready" in " ".join(services["postgres"]["healthcheck"]["test"])


FEEDS = 60
EVERY = 2.0  # seconds between two polls of one feed (`every: 2s`), +-10% jitter
SHARED = {"shared-1": range(0, 10), "shared-2": range(10, 20)}  # one story in several feeds


def rss(items: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 feed of (title, link) items, all published now."""
    now = format_datetime(datetime.now(UTC), usegmt=True)
    body = "".join(
        f"<item><title>{title}</title><link>{link}</link><guid>{link}</guid><pubDate>{now}</pubDate></item>"
        for title, link in items
    )
    return f'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>{body}</channel></rss>'.encode()


def stories(feed: int, phase: int) -> list[tuple[str, str]]:
    """What a feed holds after `phase` (1, then 2): a matching story and a non-matching one per phase."""
    items = []
    for p in range(1, phase + 1):
        items += [
            (f"Ceasefire talks {feed} round {p}", link(feed, p)),
            (f"Weather {feed} {p}", f"{link(feed, p)}/w"),
        ]
        shared = f"shared-{p}"
        if feed in SHARED[shared]:
            items.append(("Ceasefire summit announced " + shared, f"https://example.org/{shared}"))
    return items


def link(feed: int | str, phase: int) -> str:
    return f"https://example.org/{feed}/{phase}"


def expected_links(phase: int) -> set[str]:
    links = {link(n, p) for n in range(FEEDS) for p in range(1, phase + 1)}
    links |= {link("slow", p) for p in range(1, phase + 1)}
    return links | {f"https://example.org/shared-{p}" for p in range(1, phase + 1)}


def write_config(project: Project, server: FeedServer, hook: HttpReceiver) -> None:
    feeds = "".join(
        f"  - {{name: feed-{n:02}, url: '{server.url(f'/feed/{n:02}')}', every: 2s}}\n" for n in range(FEEDS)
    )
    feeds += f"  - {{name: slow, url: '{server.url('/slow')}', every: 2s}}\n"
    project.write(
        "rules/watch.yaml",
        f"feeds:\n{feeds}rules:\n  - {{name: ceasefire, match: ceasefire, alert: [hook]}}\n",
    )
    project.write("alerts/channels.yaml", f"channels:\n  hook: {{type: webhook, url: '{hook.url}/hook'}}\n")


def publish(server: FeedServer, phase: int) -> None:
    for n in range(FEEDS):
        server.feed(f"/feed/{n:02}", rss(stories(n, phase)))
    # the slow feed keeps whichever instance polls it busy (and holding its lease) for 3 s
    server.slow(
        "/slow", rss([(f"Ceasefire slow round {p}", link("slow", p)) for p in range(1, phase + 1)]), 3.0
    )


def alerted_links(hook: HttpReceiver) -> Counter[str]:
    """How many distinct alerts (webhook-id) carried each story link (a burst carries several)."""
    by_id = {r.headers["webhook-id"]: [item["link"] for item in r.json()["items"]] for r in hook.requests}
    return Counter(link for links in by_id.values() for link in links)


def polls(server: FeedServer) -> list[int]:
    return [len(server.requests(f"/feed/{n:02}")) for n in range(FEEDS)]


def delivery_states(engine: sa.Engine) -> dict[str, int]:
    with Session(engine) as session:
        rows = session.execute(sa.select(Delivery.status, sa.func.count()).group_by(Delivery.status)).all()
    return {status: count for status, count in rows}


def lease_holder(engine: sa.Engine) -> int | None:
    """The pid of the instance holding the slow feed's lease, if one does."""
    with Session(engine) as session:
        state = session.get(FeedState, "slow")
        return int(state.lease_owner.split(":")[1]) if state and state.lease_owner else None


@pytest.mark.slow
def test_three_instances_share_the_work_and_survive_one_killed(project: Project) -> None:
    with fresh_database() as url, FeedServer() as server, HttpReceiver() as hook:
        engine = db.make_engine(url)
        project.env["MONITOR_DB"] = url
        write_config(project, server, hook)
        publish(server, 1)
        procs = [project.start() for _ in range(3)]

        wait_until(
            lambda: set(alerted_links(hook)) == expected_links(1), timeout=40, message="the first alerts"
        )
        victim = wait_until(
            lambda: lease_holder(engine), timeout=20, message="an instance polling the slow feed"
        )
        assert victim in {p.pid for p in procs}
        os.kill(victim, signal.SIGKILL)
        killed_at, before = time.monotonic(), polls(server)
        publish(server, 2)

        wait_until(
            lambda: set(alerted_links(hook)) == expected_links(2), timeout=90, message="the second alerts"
        )
        window = time.monotonic() - killed_at
        delta = [a - b for a, b in zip(polls(server), before, strict=True)]
        wait_until(lambda: delivery_states(engine) == {"sent": len(expected_links(2))}, timeout=30)

        counts = alerted_links(hook)
        ids = Counter(r.headers["webhook-id"] for r in hook.requests)
        assert set(counts) == expected_links(2) and set(counts.values()) == {1}, counts
        # a send in flight when its instance is killed may be repeated, with the same webhook-id
        assert sum(ids.values()) - len(ids) <= 1, [i for i, c in ids.items() if c > 1]
        # the slow feed's lease died with its instance: another took the feed over when it expired
        assert window < db.LEASE.total_seconds() + 15
        # each feed polled about once per interval by all instances together, not once per instance
        assert min(delta) >= 1 and max(delta) <= window / (EVERY * 0.9) + 2, (window, delta)
        for proc in procs:
            if proc.pid != victim:
                assert project.stop(proc) == 0
        engine.dispose()
