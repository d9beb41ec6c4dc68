"""`/healthz` and `/metrics` (Prometheus) on MONITOR_HTTP, served by waitress so clients cannot starve them.

/healthz answers 200 while the scheduler runs and the database takes writes, 503 otherwise.
/metrics joins this process's counters (events by kind, polls by outcome, reload status) with gauges
read from the database at scrape time (feeds by status, failures, last poll and success per feed,
deliveries by channel and status), so every instance reports the same truth.

Waitress multiplexes connections on one poll() loop and answers from THREADS threads: at most
CONNECTION_LIMIT connections are open at once (a new one closes the longest-idle one; waiting clients
sit in the kernel's listen backlog of BACKLOG, costing this process no descriptor), and a connection
idle for IDLE_TIMEOUT seconds is closed. So 1,000 idle clients hold at most CONNECTION_LIMIT
descriptors and no thread each, and a scrape still gets through.
"""

from __future__ import annotations

import errno
import logging
import socket
import threading
import time
from collections.abc import Callable, Iterable, Iterator
from typing import Any

import sqlalchemy as sa
from prometheus_client import CONTENT_TYPE_LATEST, CollectorRegistry, generate_latest
from prometheus_client.core import GaugeMetricFamily
from prometheus_client.registry import Collector
from sqlmodel import Session, select
from waitress import wasyncore
from waitress.adjustments import Adjustments
from waitress.server import TcpWSGIServer
from waitress.task import ThreadedTaskDispatcher

from monitor.dbhealth import DatabaseHealth
from monitor.errors import SettingError
from monitor.events import REGISTRY
from monitor.models import Delivery, FeedState

CONNECTION_LIMIT = 64
BACKLOG = 1024
IDLE_TIMEOUT = 10  # seconds a connection may stay open without a request in progress
THREADS = 2

logging.getLogger("waitress.queue").setLevel(logging.ERROR)  # "task queue depth" under a flood is expected

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


class HttpServer:
    """The endpoints' server running in a daemon thread; `shutdown()` stops it."""

    def __init__(self, server: Any) -> None:
        self._server = server
        self.server_address: tuple[str, int] = (server.effective_host, int(server.effective_port))
        self._thread = threading.Thread(target=server.run, name="http", daemon=True)
        self._thread.start()

    def shutdown(self) -> None:
        self._server.task_dispatcher.shutdown()
        wasyncore.close_all(self._server._map)
        self._thread.join(timeout=5)


def listen(address: tuple[str, int]) -> socket.socket:
    """Bind MONITOR_HTTP now, before anything else starts; SettingError (one line naming it) if it cannot."""
    host, port = address
    where = f"{host}:{port}"
    try:
        family, kind, proto, _, sockaddr = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)[0]
    except (socket.gaierror, UnicodeError):
        raise SettingError(f"MONITOR_HTTP {where}: unknown host (expected host:port, or 'off')") from None
    except OverflowError:
        raise SettingError(f"MONITOR_HTTP {where}: invalid port (expected 1 to 65535)") from None
    sock = socket.socket(family, kind, proto)
    try:
        sock.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        sock.bind(sockaddr)
    except OSError as exc:
        sock.close()
        raise SettingError(f"MONITOR_HTTP {where}: {_bind_problem(exc)}") from None
    return sock


def _bind_problem(exc: OSError) -> str:
    if exc.errno == errno.EADDRINUSE:
        return "the address is already in use (another program listens there); choose a free port, or 'off'"
    if exc.errno == errno.EADDRNOTAVAIL:
        return "not an address of this machine (use 127.0.0.1:PORT, 0.0.0.0:PORT or 'off')"
    if exc.errno == errno.EACCES:
        return "permission denied (ports under 1024 need privileges; choose a port over 1023)"
    return f"cannot listen there ({exc.strerror or exc})"


def serve(
    address: tuple[str, int] | socket.socket,
    engine: sa.Engine,
    is_running: Callable[[], bool],
    health: DatabaseHealth | None = None,
) -> HttpServer:
    """Start the HTTP server in a daemon thread on `address`, or on a socket `listen` bound; the caller shuts it down."""
    sock = address if isinstance(address, socket.socket) else listen(address)
    host, port = sock.getsockname()[:2]
    registry = CollectorRegistry()
    registry.register(DatabaseCollector(engine))
    database = health or DatabaseHealth(engine)

    def app(environ: dict[str, Any], start_response: Callable[..., Any]) -> Iterable[bytes]:
        path = environ.get("PATH_INFO", "")
        if path == "/healthz":
            ok = is_running() and database.probe() is None
            status, body = ("200 OK", b"ok\n") if ok else ("503 Service Unavailable", b"unhealthy\n")
            kind = "text/plain"
        elif path == "/metrics":
            status, kind = "200 OK", CONTENT_TYPE_LATEST
            body = generate_latest(REGISTRY) + generate_latest(registry)
        else:
            status, body, kind = "404 Not Found", b"not found\n", "text/plain"
        start_response(status, [("Content-Type", kind), ("Content-Length", str(len(body)))])
        return [body]

    adj = Adjustments(
        host=host,
        port=port,
        threads=THREADS,
        connection_limit=CONNECTION_LIMIT,
        backlog=BACKLOG,
        channel_timeout=IDLE_TIMEOUT,
        cleanup_interval=1,
        asyncore_use_poll=True,  # select() fails on descriptors over 1,024
        ident="monitor",
    )
    dispatcher = ThreadedTaskDispatcher()
    dispatcher.set_thread_count(THREADS)
    server = _EvictingServer(app, map={}, _sock=sock, bind_socket=False, dispatcher=dispatcher, adj=adj)
    return HttpServer(server)


class _EvictingServer(TcpWSGIServer):  # type: ignore[misc]
    """Waitress's server, but a new connection at the cap closes the longest-idle one.

    Waitress stops accepting at its connection limit, so idle clients holding every slot would make
    /healthz wait in the backlog until they time out. Here a connection is idle when no request of
    its is being served and nothing it sent waits to be read; at the cap the longest-idle one is
    closed for the newcomer. When none is idle (a flood of real requests) newcomers wait in the
    backlog, so descriptors stay bounded either way.
    """

    def readable(self) -> bool:
        now = time.time()
        if now >= self.next_channel_cleanup:  # type: ignore[has-type]
            self.next_channel_cleanup = now + self.adj.cleanup_interval
            self.maintenance(now)
        if not self.accepting:
            return False
        return len(self._map) < self.adj.connection_limit or bool(self._idle())

    def handle_accept(self) -> None:
        if len(self._map) >= self.adj.connection_limit:
            idle = self._idle()
            if idle:
                min(idle, key=lambda c: c.last_activity).handle_close()
        super().handle_accept()

    def _idle(self) -> list[Any]:
        return [c for c in self.active_channels.values() if _is_idle(c)]


def _is_idle(channel: Any) -> bool:
    if channel.requests or channel.will_close:
        return False
    try:
        return not channel.socket.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT)  # b"": the peer left
    except BlockingIOError:
        return True  # nothing sent, nothing being served
    except OSError:
        return True
