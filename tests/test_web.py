"""/healthz and /metrics over real HTTP: in-process against a database, and on a running daemon."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from prometheus_client.parser import text_string_to_metric_families
from receivers import HttpReceiver
from sqlmodel import Session
from waiting import wait_until
from webserve import Web, free_port, migrated_engine, serving

from monitor.models import Delivery, FeedState, utcnow


def samples(text: str) -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
    """Every sample of a Prometheus text page, by (name, sorted labels)."""
    return {
        (s.name, tuple(sorted(s.labels.items()))): s.value
        for family in text_string_to_metric_families(text)
        for s in family.samples
    }


@pytest.fixture
def engine(tmp_path: Path) -> sa.Engine:
    return migrated_engine(tmp_path / "monitor.db")


@pytest.fixture
def web(engine: sa.Engine) -> Iterator[Web]:
    with serving(engine) as web:
        yield web


def test_healthz_is_200_while_the_scheduler_runs_and_503_when_it_stops(web: Web) -> None:
    ok = web.get("/healthz")
    assert (ok.status_code, ok.text) == (200, "ok\n")
    web.running = False
    assert web.get("/healthz").status_code == 503
    assert web.get("/nothing").status_code == 404


def test_healthz_is_503_and_metrics_still_answer_when_the_database_does_not(tmp_path: Path) -> None:
    web = Web(sa.create_engine(f"sqlite:///{tmp_path / 'no' / 'such' / 'dir.db'}"))
    try:
        assert web.get("/healthz").status_code == 503
        page = web.get("/metrics")
        assert page.status_code == 200 and samples(page.text)[("monitor_database_up", ())] == 0
    finally:
        web.server.shutdown()


def test_metrics_read_feed_health_and_deliveries_from_the_database(engine: sa.Engine, web: Web) -> None:
    now = utcnow()
    with Session(engine) as session:
        session.add(FeedState(name="ok", url="u", status="ok", items=12, last_ok_at=now, last_poll_at=now))
        session.add(FeedState(name="down", url="u", status="failing", failures=4, last_poll_at=now))
        for n, status in enumerate(["sent", "sent", "failed", "pending"]):
            session.add(
                Delivery(id=f"d{n}", match_id=f"m{n}", rule="r", channel="hook", status=status,
                         next_attempt_at=now, created_at=now - timedelta(minutes=n))
            )  # fmt: skip
        session.commit()
    page = web.get("/metrics")
    assert page.headers["content-type"].startswith("text/plain")
    got = samples(page.text)
    assert got[("monitor_database_up", ())] == 1
    assert got[("monitor_feeds", (("status", "ok"),))] == 1
    assert got[("monitor_feeds", (("status", "failing"),))] == 1
    assert got[("monitor_feed_failures", (("feed", "down"),))] == 4
    assert got[("monitor_feed_items", (("feed", "ok"),))] == 12
    assert got[("monitor_feed_last_success_timestamp_seconds", (("feed", "ok"),))] == pytest.approx(
        now.timestamp()
    )
    assert ("monitor_feed_last_success_timestamp_seconds", (("feed", "down"),)) not in got
    assert got[("monitor_deliveries", (("channel", "hook"), ("status", "sent")))] == 2
    assert got[("monitor_deliveries", (("channel", "hook"), ("status", "pending")))] == 1


@pytest.mark.slow
def test_a_running_daemon_serves_health_and_metrics(project: Project) -> None:
    port = free_port()
    base = f"http://127.0.0.1:{port}"
    with FeedServer() as feeds, HttpReceiver() as hook:
        feeds.feed("/world.xml", rss(It("Troops in Ukraine", link="https://n.example/1")))
        feeds.status("/down.xml", 500)
        project.write(
            "rules/watch.yaml",
            f"""\
            feeds:
              - {{name: world, url: "{feeds.url("/world.xml")}", every: 1s, backfill: true}}
              - {{name: down, url: "{feeds.url("/down.xml")}", every: 1s}}
            rules:
              - {{name: troops, match: troops, alert: [hook]}}
            """,
        )
        project.write("alerts/channels.yaml", 'channels:\n  hook: {type: webhook, url: "${WEBHOOK_URL}"}\n')
        project.env |= {"WEBHOOK_URL": hook.url, "MONITOR_HTTP": f"127.0.0.1:{port}"}
        daemon = project.start()

        def scrape() -> dict[tuple[str, tuple[tuple[str, str], ...]], float]:
            try:
                return samples(httpx.get(base + "/metrics", timeout=5).text)
            except httpx.TransportError:
                return {}

        def ready() -> dict[tuple[str, tuple[tuple[str, str], ...]], float] | None:
            got = scrape()
            done = got.get(("monitor_deliveries", (("channel", "hook"), ("status", "sent"))))
            return got if done and got.get(("monitor_feed_failures", (("feed", "down"),))) else None

        got = wait_until(ready, timeout=30, every=0.2, message="a poll, a failure and a delivery in /metrics")
        assert httpx.get(base + "/healthz", timeout=5).status_code == 200
        assert got[("monitor_polls_total", (("outcome", "ok"),))] >= 1
        assert got[("monitor_polls_total", (("outcome", "failed"),))] >= 1
        assert got[("monitor_events_total", (("kind", "match"),))] == 1
        assert got[("monitor_events_total", (("kind", "fetch_failed"),))] == 1
        assert got[("monitor_feeds", (("status", "failing"),))] == 1
        assert ("monitor_feed_last_success_timestamp_seconds", (("feed", "world"),)) in got
        assert got[("monitor_reload_ok", ())] == 1

        project.write("rules/watch.yaml", "rules: [")
        wait_until(lambda: scrape().get(("monitor_reload_ok", ())) == 0, timeout=5, message="reload failure")
        assert scrape()[("monitor_reload_timestamp_seconds", ())] > 0
        assert project.stop(daemon) == 0
        with pytest.raises(httpx.TransportError):
            httpx.get(base + "/healthz", timeout=2)


def test_every_known_label_value_has_a_series_at_zero_before_it_first_occurs(
    engine: sa.Engine, web: Web
) -> None:
    """An alert on `monitor_feeds{status="failing"} > 0` reads 0, not "no data", before any failure."""
    now = utcnow()
    with Session(engine) as session:
        session.add(FeedState(name="ok", url="u", status="ok", last_poll_at=now))
        session.add(
            Delivery(
                id="d",
                match_id="m",
                rule="r",
                channel="hook",
                status="sent",
                next_attempt_at=now,
                created_at=now,
            )
        )
        session.commit()
    text = web.get("/metrics").text
    got = samples(text)
    for status in ("new", "degraded", "failing"):
        assert got[("monitor_feeds", (("status", status),))] == 0
    assert got[("monitor_deliveries", (("channel", "hook"), ("status", "failed")))] == 0
    assert got[("monitor_deliveries", (("channel", "hook"), ("status", "pending")))] == 0


def test_process_counters_start_at_zero_without_created_series() -> None:
    from prometheus_client import generate_latest

    from monitor import metrics
    from monitor.events import REGISTRY

    got = samples(generate_latest(REGISTRY).decode())
    assert ("monitor_events_total", (("kind", "fetch_failed"),)) in got
    for outcome in metrics.POLL_OUTCOMES:
        assert ("monitor_polls_total", (("outcome", outcome),)) in got
    assert not [name for name, _ in got if name.endswith("_created")]
