"""Delivery benchmark: 1,000 alerts to a loopback webhook (another process) answering after 50 ms.

    python bench/deliver.py [--alerts 1000] [--delay 0.05]

Runs the real Deliverer (claim, group, render, sign-free webhook POST, mark) over a fresh SQLite
outbox of `--alerts` deliveries (200 rules x alerts/200 items, so no burst grouping: one message
each), until every one is sent. Measured in the same run: the baseline, the old path that builds a
new httpx.Client (and SSL context) for every message, at concurrency 1 and 4; the reused client at
concurrency 1 and 4; and the ideal, concurrency / delay.
"""

from __future__ import annotations

import argparse
import logging
import multiprocessing
import os
import sys
import tempfile
import time
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from sqlmodel import Session, select

from monitor import db, pipeline
from monitor.channels import http
from monitor.config import load_config
from monitor.deliver import Deliverer
from monitor.models import Delivery
from monitor.records import Fetched
from monitor.runtime import Active, Runtime

RULES = 200
FEED_URL = "https://news.example.org/world.xml"


def serve(delay: float, out: Connection) -> None:
    """The receiver: answer every POST with 204 after `delay` seconds (keep-alive, threaded)."""

    class Handler(BaseHTTPRequestHandler):
        protocol_version = "HTTP/1.1"

        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length") or 0))
            time.sleep(delay)
            self.send_response(204)
            self.send_header("content-length", "0")
            self.end_headers()

        def log_message(self, format: str, *args: Any) -> None:
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.daemon_threads = True
    out.send(server.server_address[1])
    server.serve_forever()


class OneShot:
    """The old path: a new client (and SSL context) for every message."""

    def __init__(self, timeout: float) -> None:
        self.timeout = timeout

    def post(self, url: str, body: bytes, headers: dict[str, str], what: str) -> None:
        http.post(url, body, headers, self.timeout, what)

    def close(self) -> None:
        pass


def rss(count: int) -> bytes:
    items = "".join(
        f"<item><title>Military story {n}</title><link>https://n.example.org/{n}</link>"
        f"<guid>s{n}</guid><description>military report {n}</description></item>"
        for n in range(count)
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>w</title>{items}</channel></rss>'.encode()
    )


def run(folder: Path, url: str, alerts: int, concurrency: int, baseline: bool) -> float:
    """Alerts per second of one run on a fresh outbox."""
    rules = "".join(f"  - {{name: r{n}, match: military, alert: [hook]}}\n" for n in range(RULES))
    (folder / "rules").mkdir(parents=True)
    (folder / "alerts").mkdir()
    (folder / "rules" / "watch.yaml").write_text(
        f"feeds:\n  - {{name: world, url: '{FEED_URL}', backfill: true}}\ntimezone: UTC\nrules:\n{rules}"
    )
    channel = f"channels:\n  hook: {{type: webhook, url: '{url}', concurrency: {concurrency}}}\n"
    (folder / "alerts" / "channels.yaml").write_text(channel)
    engine = db.make_engine(f"sqlite:///{folder / 'monitor.db'}")
    db.upgrade(engine)
    rt = Runtime(engine, Active.build(load_config(folder / "rules", folder / "alerts" / "channels.yaml", {})))
    pipeline.sync_feeds(engine, rt.config)
    result = Fetched("world", FEED_URL, FEED_URL, 200, rss(alerts // RULES))
    pipeline.ingest(rt, rt.config.feeds["world"], result)
    if baseline:
        rt.active.channels["hook"].http = OneShot(10.0)
    deliverer = Deliverer(rt)
    started = time.perf_counter()
    deliverer.run_until_idle()
    elapsed = time.perf_counter() - started
    deliverer.drain()
    with Session(engine) as session:
        statuses = [row.status for row in session.exec(select(Delivery))]
    engine.dispose()
    assert len(statuses) == alerts and set(statuses) == {"sent"}, (len(statuses), set(statuses))
    return alerts / elapsed


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--alerts", type=int, default=1000)
    parser.add_argument("--delay", type=float, default=0.05)
    args = parser.parse_args()
    logging.disable(logging.WARNING)
    here, there = multiprocessing.Pipe()
    server = multiprocessing.Process(target=serve, args=(args.delay, there), daemon=True)
    server.start()
    url = f"http://127.0.0.1:{here.recv()}/hook"
    print(
        f"{args.alerts} alerts, receiver answering after {args.delay * 1000:.0f} ms, load {os.getloadavg()[0]:.2f}"
    )
    print(f"{'concurrency':>11} {'new client per message':>23} {'reused client':>14} {'ideal':>7}")
    with tempfile.TemporaryDirectory() as tmp:
        for concurrency in (1, 4):
            old = run(Path(tmp) / f"old{concurrency}", url, args.alerts, concurrency, baseline=True)
            new = run(Path(tmp) / f"new{concurrency}", url, args.alerts, concurrency, baseline=False)
            ideal = concurrency / args.delay
            print(f"{concurrency:>11} {old:>17.1f} /s   {new:>8.1f} /s   {ideal:>5.0f} /s")
    print(f"load after: {os.getloadavg()[0]:.2f}")
    server.terminate()


if __name__ == "__main__":
    main()
