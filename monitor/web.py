"""`/healthz` and `/metrics` (Prometheus) on MONITOR_HTTP.

/healthz answers 200 while the scheduler runs and the database answers a query, 503 otherwise.
/metrics joins this process's counters (events by kind, polls by outcome, reload status) with gauges
read from the database at scrape time (feeds by status, failures, last poll and success per feed,
deliveries by channel and status), so every instance reports the same truth.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Iterator
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import Session, select

from monitor.events import REGISTRY
from monitor.models import Delivery, FeedState

FEED_STATUSES = ("new", "ok", "degraded", "failing")
DELIVERY_STATUSES = ("pending", "sent", "failed")


class DatabaseCollector(Collector):
    """Gauges read from the database at scrape time, so every instance reports the same truth.

    Every known label value has a series from the first scrape (0 when unused), so an alert such as
    `monitor_feeds{status="failing"} > 0` has a series to read before the first failure.
    """

    def __init__(self, engine: sa.Engine) -> None:
        self.engine = engine

    def collect(self) -> Iterator[GaugeMetricFamily]:
        """The gauges, plus monitor_database_up (0 and nothing else when the database does not answer)."""
        up = GaugeMetricFamily("monitor_database_up", "1 if the database answered this scrape")
        try:
            gauges = list(self._gauges())
        except sa.exc.SQLAlchemyError:
            up.add_metric([], 0)
            yield up
            return
        up.add_metric([], 1)
        yield from (up, *gauges)

    def _gauges(self) -> Iterator[GaugeMetricFamily]:
        feeds = GaugeMetricFamily("monitor_feeds", "Configured feeds by status", labels=["status"])
        failures = GaugeMetricFamily(
            "monitor_feed_failures", "Consecutive failures per feed", labels=["feed"]
        )
        last_ok = GaugeMetricFamily(
            "monitor_feed_last_success_timestamp_seconds", "Last good poll", labels=["feed"]
        )
        last_poll = GaugeMetricFamily(
            "monitor_feed_last_poll_timestamp_seconds", "Last poll, good or not", labels=["feed"]
        )
        items = GaugeMetricFamily(
            "monitor_feed_items", "Items stored per feed since it was added", labels=["feed"]
        )
        deliveries = GaugeMetricFamily(
            "monitor_deliveries", "Deliveries by channel and status", labels=["channel", "status"]
        )
        with Session(self.engine) as session:
            counts = dict.fromkeys(FEED_STATUSES, 0)  # every status has a series, at 0 when unused
            for state in session.exec(select(FeedState)):
                counts[state.status] = counts.get(state.status, 0) + 1
                failures.add_metric([state.name], state.failures)
                items.add_metric([state.name], state.items)
                if state.last_ok_at:
                    last_ok.add_metric([state.name], state.last_ok_at.timestamp())
                if state.last_poll_at:
                    last_poll.add_metric([state.name], state.last_poll_at.timestamp())
            for status, n in counts.items():
                feeds.add_metric([status], n)
            rows = session.exec(
                select(Delivery.channel, Delivery.status, sa.func.count()).group_by(
                    Delivery.channel, Delivery.status
                )
            )
            seen = {(channel, status): n for channel, status, n in rows}
            for channel in sorted({c for c, _ in seen}):  # a channel with deliveries: all its statuses
                for status in sorted({s for c, s in seen if c == channel} | set(DELIVERY_STATUSES)):
                    deliveries.add_metric([channel, status], seen.get((channel, status), 0))
        yield from (feeds, failures, last_ok, last_poll, items, deliveries)


def serve(address: tuple[str, int], engine: sa.Engine, is_running: Callable[[], bool]) -> ThreadingHTTPServer:
    """Start the HTTP server in a daemon thread; the caller shuts it down."""
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            if self.path == "/healthz":
                ok = is_running() and _database_answers(engine)
                self._reply(200 if ok else 503, b"ok\n" if ok else b"unhealthy\n", "text/plain")
            elif self.path == "/metrics":
                body = generate_latest(REGISTRY) + generate_latest(registry)
                self._reply(200, body, CONTENT_TYPE_LATEST)
            else:
                self._reply(404, b"not found\n", "text/plain")

        def _reply(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet: scrapes are not events
            return

    server = ThreadingHTTPServer(address, Handler)
    server.daemon_threads = True
    threading.Thread(target=server.serve_forever, name="http", daemon=True).start()
    return server


def _database_answers(engine: sa.Engine) -> bool:
    try:
        with engine.connect() as conn:
            conn.execute(sa.text("SELECT 1"))
        return True
    except sa.exc.SQLAlchemyError:
        return False
