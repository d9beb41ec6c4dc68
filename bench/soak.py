"""Soak test: the real daemon (`python -m monitor run`) polling 1,000 loopback feeds for 30 minutes.

    python bench/soak.py [--minutes 30] [--feeds 1000] [--every 1m] [--churn 0.02] [--sample 60]

The feeds live on a loopback server in another process (bench/poll.py's, answering after 100 ms with
ETag/304); each request has a `churn` chance to give its feed a new item on top (the oldest drops
off), so most polls are unchanged. Two rules alert to a signed webhook channel pointing at a receiver
in this process; the others are dry runs. The daemon runs on SQLite in a temporary folder with the
default retention. After its first full cycle (every feed polled once) this samples, every `--sample`
seconds, the daemon's resident memory (VmRSS of its pid and of its children: the parse workers) and
the database size (with -wal), then prints the first and last samples side by side and whether the
memory grew. Stops everything by itself after `--minutes` and exits 0 (1 if the daemon failed).
"""

from __future__ import annotations

import argparse
import base64
import json
import os
import signal
import sqlite3
import subprocess
import sys
import tempfile
import threading
import time
import urllib.request
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any

from poll import RULES, Shape, counts, dry_rules, feed_server, peak_rss_kb, stat_fields, write_project

REPO = Path(__file__).resolve().parents[1]
ALERTING = {  # broad enough that a few new items an hour alert
    "government-watch": "government OR minister*",
    "tech-watch": "technology OR broadband OR mobile OR internet",
}


@dataclass(frozen=True)
class Sample:
    """One look at the running daemon and its database."""

    minute: float
    rss_mb: float
    tree_mb: float
    pss_mb: float
    processes: int
    db_mb: float
    rows: dict[str, int]
    alerts: int
    requests: int
    changes: int


class Receiver:
    """A loopback webhook receiver counting the alerts (and distinct webhook-ids) it gets."""

    def __init__(self) -> None:
        self.ids: list[str] = []
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            def do_POST(self) -> None:
                self.rfile.read(int(self.headers.get("content-length") or 0))
                receiver.ids.append(self.headers.get("webhook-id") or "")
                self.send_response(204)
                self.end_headers()

            def log_message(self, *args: Any) -> None:
                pass

        self.server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.thread = threading.Thread(target=self.server.serve_forever, daemon=True)

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.server.server_address[1]}/hook"

    def __enter__(self) -> Receiver:
        self.thread.start()
        return self

    def __exit__(self, *_exc: object) -> None:
        self.server.shutdown()
        self.server.server_close()


def descendants(pid: int) -> list[int]:
    """`pid` and every process below it (the forkserver and the parse workers), from /proc."""
    children: dict[int, list[int]] = {}
    for entry in os.listdir("/proc"):
        if entry.isdigit() and (fields := stat_fields(int(entry))) is not None:
            children.setdefault(int(fields[1]), []).append(int(entry))
    found, todo = [], [pid]
    while todo:
        found.append(current := todo.pop())
        todo += children.get(current, [])
    return found


def pss_kb(pid: int) -> int:
    """A process's proportional set size in kB (pages shared with its forkserver siblings split)."""
    try:
        with open(f"/proc/{pid}/smaps_rollup") as rollup:
            return next(int(line.split()[1]) for line in rollup if line.startswith("Pss:"))
    except (OSError, StopIteration, ValueError):
        return 0


def db_mb(path: Path) -> float:
    """The SQLite file with its -wal and -shm, in MB."""
    files = (path, path.with_name(path.name + "-wal"), path.with_name(path.name + "-shm"))
    return sum(f.stat().st_size for f in files if f.exists()) / 2**20


def server_stats(url: str) -> dict[str, int]:
    """Feed requests answered and feeds changed so far, from the feed server's /stats."""
    stats = url.split("/feed/")[0] + "/stats"
    with urllib.request.urlopen(stats, timeout=10) as response:
        return dict(json.load(response))


def take(daemon: subprocess.Popen[bytes], path: Path, receiver: Receiver, url: str, began: float) -> Sample:
    """A Sample of the daemon now."""
    tree = descendants(daemon.pid)
    stats = server_stats(url)
    return Sample(
        minute=(time.monotonic() - began) / 60,
        rss_mb=peak_rss_kb(daemon.pid, "VmRSS") / 1024,
        tree_mb=sum(peak_rss_kb(p, "VmRSS") for p in tree) / 1024,
        pss_mb=sum(pss_kb(p) for p in tree) / 1024,
        processes=len(tree),
        db_mb=db_mb(path),
        rows=counts(path),
        alerts=len(receiver.ids),
        requests=stats["requests"],
        changes=stats["changes"],
    )


def wait_for(check: Callable[[], bool], timeout: float, every: float, what: str) -> None:
    """Poll `check` until it holds; raise naming `what` after `timeout` seconds."""
    deadline = time.monotonic() + timeout
    while not check():
        if time.monotonic() > deadline:
            raise RuntimeError(f"timed out after {timeout:.0f} s waiting for {what}")
        time.sleep(every)


def polled_all(path: Path, feeds: int) -> bool:
    """Every feed polled at least once (its FeedState has a last poll)."""
    if not path.exists():
        return False
    try:
        with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=10) as conn:
            polled = conn.execute("SELECT count(*) FROM feedstate WHERE last_poll_at IS NOT NULL").fetchone()
    except sqlite3.OperationalError:  # the schema is not there yet
        return False
    return int(polled[0]) >= feeds


@contextmanager
def running_daemon(root: Path, code: Path = REPO) -> Iterator[subprocess.Popen[bytes]]:
    """`python -m monitor run` (from the checkout `code`) in `root` on SQLite, no HTTP endpoint;
    SIGTERM (then kill) on exit."""
    env = {k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")}
    env |= {
        "MONITOR_DB": f"sqlite:///{root / 'data' / 'monitor.db'}",
        "MONITOR_HTTP": "off",
        "MONITOR_RULES": str(root / "rules"),
        "MONITOR_CHANNELS": str(root / "alerts" / "channels.yaml"),
        "PYTHONPATH": str(code),
        "PYTHONUNBUFFERED": "1",
    }
    (root / "data").mkdir()
    with (root / "daemon.log").open("wb") as log:
        daemon = subprocess.Popen(
            [sys.executable, "-m", "monitor", "run"], cwd=root, env=env, stdout=log, stderr=subprocess.STDOUT
        )
    try:
        yield daemon
    finally:
        if daemon.poll() is None:
            daemon.send_signal(signal.SIGTERM)
            try:
                daemon.wait(60)
            except subprocess.TimeoutExpired:
                daemon.kill()
                daemon.wait()


def soak(args: argparse.Namespace, root: Path) -> tuple[list[Sample], int, str]:
    """Run the daemon for `args.minutes` after its first cycle: samples, its exit code, its log's errors."""
    shape = Shape(args.feeds, args.items, args.hosts, args.delay, args.churn, age=2 * 86400, ttl=False)
    secret = "whsec_" + base64.b64encode(os.urandom(24)).decode()
    with feed_server(shape) as urls, Receiver() as receiver:
        alerting = "".join(f'  - {{name: {n}, match: "{q}", alert: [hook]}}\n' for n, q in ALERTING.items())
        channels = f"  hook: {{type: webhook, url: '{receiver.url}', secret: '{secret}'}}\n"
        write_project(root, urls, args.every, alerting + dry_rules(), channels)
        path = root / "data" / "monitor.db"
        with running_daemon(root) as daemon:
            began = time.monotonic()
            alive = lambda: daemon.poll() is None  # noqa: E731
            wait_for(lambda: not alive() or polled_all(path, args.feeds), 600, 1, "the first full cycle")
            samples = [take(daemon, path, receiver, urls[0], began)]
            _progress(samples[-1])
            end = time.monotonic() + args.minutes * 60
            while alive() and time.monotonic() < end:
                due = min(end, _next(samples, began, args))
                wait_for(
                    lambda due=due: not alive() or time.monotonic() >= due,
                    args.sample + 60,
                    0.5,
                    "the next sample",
                )
                if alive():
                    samples.append(take(daemon, path, receiver, urls[0], began))
                    _progress(samples[-1])
            failed = not alive()
        code = daemon.returncode if not failed else (daemon.returncode or -1)
    log = (root / "daemon.log").read_text(errors="replace")
    errors = [line for line in log.splitlines() if "ERROR" in line or line.startswith("Traceback")]
    size = f"{len(log.encode()) / 2**20:.1f} MB, {len(log.splitlines())} lines, "
    return (
        samples,
        code,
        size + f"{len(errors)} error lines" + (f", first: {errors[0][:200]}" if errors else ""),
    )


def _next(samples: list[Sample], began: float, args: argparse.Namespace) -> float:
    return began + samples[-1].minute * 60 + args.sample


def _progress(s: Sample) -> None:
    print(
        f"[{s.minute:6.1f} min] daemon {s.rss_mb:5.0f} MB, with workers {s.tree_mb:5.0f} MB RSS, "
        f"{s.pss_mb:5.0f} MB PSS ({s.processes} processes), db {s.db_mb:6.1f} MB, items {s.rows['items']}, "
        f"events {s.rows['events']}, polls {s.requests}, changes {s.changes}, alerts {s.alerts}",
        flush=True,
    )


def table(first: Sample, last: Sample) -> list[str]:
    """The first and last samples side by side."""
    rows = [
        ("minutes since the daemon started", f"{first.minute:.1f}", f"{last.minute:.1f}"),
        ("daemon RSS (MB)", f"{first.rss_mb:.0f}", f"{last.rss_mb:.0f}"),
        ("daemon + parse workers RSS (MB)", f"{first.tree_mb:.0f}", f"{last.tree_mb:.0f}"),
        (
            "daemon + parse workers PSS (MB; shared pages counted once)",
            f"{first.pss_mb:.0f}",
            f"{last.pss_mb:.0f}",
        ),
        (
            "processes (daemon, resource tracker, forkserver, workers)",
            str(first.processes),
            str(last.processes),
        ),
        ("database + WAL (MB)", f"{first.db_mb:.1f}", f"{last.db_mb:.1f}"),
        ("items", str(first.rows["items"]), str(last.rows["items"])),
        ("matches", str(first.rows["matches"]), str(last.rows["matches"])),
        ("deliveries", str(first.rows["deliveries"]), str(last.rows["deliveries"])),
        ("events", str(first.rows["events"]), str(last.rows["events"])),
        ("polls done (feed requests served)", str(first.requests), str(last.requests)),
        ("feed changes made by the server", str(first.changes), str(last.changes)),
        ("alerts received by the webhook", str(first.alerts), str(last.alerts)),
        ("feeds failing", str(first.rows["failing"]), str(last.rows["failing"])),
    ]
    return ["| | start | end |", "|---|---:|---:|"] + [f"| {a} | {b} | {c} |" for a, b, c in rows]


def verdict(samples: list[Sample]) -> str:
    """Whether the daemon's memory grew: first vs last sample, and the slope over the second half."""
    first, last = samples[0], samples[-1]
    half = samples[len(samples) // 2 :]
    slope = "n/a (too few samples)"
    if len(half) >= 3 and half[-1].minute > half[0].minute:
        per_hour = (half[-1].tree_mb - half[0].tree_mb) / (half[-1].minute - half[0].minute) * 60
        slope = f"{per_hour:+.1f} MB/hour"
    grew = last.tree_mb - first.tree_mb
    word = "grew" if grew > 5.0 else "stayed flat (within 5 MB)"
    peak = max(s.tree_mb for s in samples)
    return (
        f"memory {word}: daemon + workers {first.tree_mb:.0f} -> {last.tree_mb:.0f} MB ({grew:+.0f} MB), "
        f"peak {peak:.0f} MB; PSS {first.pss_mb:.0f} -> {last.pss_mb:.0f} MB; slope over the second half {slope}"
    )


def main() -> int:
    args = _arguments()
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(1))  # run the clean-ups on SIGTERM too
    print(
        f"soak: {args.feeds} feeds every {args.every} on {args.hosts} loopback hosts, churn {args.churn} per poll, "
        f"{len(ALERTING)} alerting + {len(RULES)} dry-run rules, {args.minutes} min",
        flush=True,
    )
    with tempfile.TemporaryDirectory(prefix="monitor-soak-") as tmp:
        samples, code, errors = soak(args, Path(tmp))
    print(
        "\n".join(
            [*table(samples[0], samples[-1]), verdict(samples), f"daemon exit code {code}; log: {errors}"]
        )
    )
    return 0 if code == 0 else 1


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--minutes", type=float, default=30.0, help="how long to run after the first cycle")
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=25)
    parser.add_argument("--delay", type=float, default=0.1, help="feed server answer delay, seconds")
    parser.add_argument("--every", default="1m", help="every feed's poll interval")
    parser.add_argument("--churn", type=float, default=0.02, help="chance a poll finds a new item")
    parser.add_argument("--sample", type=float, default=60.0, help="seconds between samples")
    return parser.parse_args()


if __name__ == "__main__":
    sys.exit(main())
