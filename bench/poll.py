"""Polling benchmark on the real pipeline: 1,000 feeds on a loopback server (another process), 100 ms answers.

    python bench/poll.py [--feeds 1000] [--items 20] [--hosts 500] [--sample 50] [--delay 0.1]

Measures, in one run, `pipeline.poll_due` as the daemon runs it (lease the due feeds, fetch them all,
parse each changed body in a worker process, store items, matches and events: the feeds with new
entries in batches of one transaction each, the others one transaction per feed) on a fresh SQLite
database, with the feeds and a handful of dry-run rules in a temporary rules folder: a cycle where
every feed is new, then one where every feed is unchanged (all 304). Then the fetch layer alone
(fetch_iter + parsepool.submit, nothing stored) and the naive baseline, a sequential loop of
feedparser.parse(url, etag=...) over a sample of the feeds, extrapolated to all of them. Prints wall
times, speedups, the new cycle's CPU (this process, the parse workers), CPU per unchanged feed and the
peak RSS of this process and of the parse workers (the server's process is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import ipaddress
import json
import logging
import multiprocessing
import os
import random
import sqlite3
import statistics
import sys
import tempfile
import time
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from email.utils import formatdate
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor import db, logs, parsepool, pipeline
from monitor.config import load_config
from monitor.errors import FetchError, ParseError
from monitor.fetch import fetch_iter
from monitor.parsepool import submit, worker_pids
from monitor.records import Fetched, FetchRequest, Parsed
from monitor.runtime import Active, Runtime

ARTICLES = Path(__file__).resolve().parents[2] / "shared/data/bbc-news/articles.csv"
Outcome = Fetched | Parsed | FetchError | ParseError
RULES = {  # realistic watch rules over BBC news text; none alerts (dry run)
    "economy": 'economy AND (growth OR inflation OR "interest rates")',
    "election": "(election OR vote*) AND (Labour OR Tory OR Conservative) -sport",
    "film-awards": "(film OR movie) AND (Oscar* OR award*)",
    "broadband": 'broadband OR "mobile phone*"',
    "doping": "(doping OR drug*) AND (athlete OR Olympic*)",
    "ceasefire": '"ceasefire Russia"~5',
}


@dataclass(frozen=True)
class Shape:
    """What the loopback server serves: feed i on loopback host `host_address(i % hosts)` (127.0.1.1 and
    up, so the feeds spread over many hosts as real feeds over many publishers), answering after `delay`.

    Each request has a `churn` chance to give its feed a new item on top (the oldest drops off);
    the initial items were published `age` seconds ago and earlier, a new one at the moment it appears.
    """

    feeds: int
    items: int
    hosts: int = 500
    delay: float = 0.1
    churn: float = 0.0
    age: float = 0.0
    ttl: bool = True


def articles() -> list[tuple[str, str]]:
    """(text, category) rows of the BBC sample, or generated filler when it is not there."""
    if ARTICLES.exists():
        with ARTICLES.open(newline="", encoding="utf-8") as file:
            return [(row["text"], row["category"]) for row in csv.DictReader(file)]
    words = [
        "government",
        "minister",
        "market",
        "election",
        "match",
        "player",
        "film",
        "music",
        "growth",
        "police",
    ]
    return [(" ".join(words[(i * j) % len(words)] for j in range(120)), "news") for i in range(500)]


class Feeds:
    """The server's feeds: item numbers top..top+items-1 of each, newest first, with their stamps."""

    def __init__(self, shape: Shape) -> None:
        self.shape, self.rows, self.start = shape, articles(), time.time()
        self.stamps: list[dict[int, float]] = [
            {k: self.start - shape.age - (shape.items - k) * 600 for k in range(shape.items)}
            for _ in range(shape.feeds)
        ]
        self.tops = [0] * shape.feeds
        self.bodies: dict[int, bytes] = {}
        self.requests = self.changes = 0

    def answer(self, path: str, if_none_match: str | None) -> bytes:
        """The raw HTTP response to a GET of `path` (a feed, or /stats)."""
        if path == "/stats":
            body = json.dumps({"requests": self.requests, "changes": self.changes}).encode()
            return b"HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s" % (len(body), body)
        self.requests += 1
        index = _feed_index(path, self.shape.feeds)
        if index is None:
            return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
        if random.random() < self.shape.churn:
            self._churn(index)
        etag = f'"v{self.tops[index]}-{index}"'
        if if_none_match == etag:
            return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode()
        body = self.bodies.get(index) or self.bodies.setdefault(index, self.body(index))
        head = f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\nETag: {etag}\r\n"
        return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body

    def _churn(self, index: int) -> None:
        stamps, top = self.stamps[index], self.tops[index]
        stamps.pop(top, None)
        stamps[top + self.shape.items] = time.time()
        self.tops[index], self.changes = top + 1, self.changes + 1
        self.bodies.pop(index, None)

    def body(self, index: int) -> bytes:
        """An RSS 2.0 feed built from article text, like a news site's section feed."""
        ttl = "<ttl>10</ttl>" if self.shape.ttl else ""
        host = f"https://news{index % 97}.example.org"
        parts = [f"<title>Section {index}</title><link>{host}/</link>{ttl}"]
        for k in sorted(self.stamps[index], reverse=True):
            text, category = self.rows[(index * 7919 + k) % len(self.rows)]
            words = text.split()
            title, summary = " ".join(words[:9]), " ".join(words[9:70])
            parts.append(
                f"<item><title>{escape(title)}</title><link>{host}/{category}/{index}-{k}?utm_source=rss</link>"
                f'<guid isPermaLink="false">s{index}-{k}</guid>'
                f"<pubDate>{formatdate(self.stamps[index][k], usegmt=True)}</pubDate>"
                f"<category>{escape(category)}</category><description>{escape(summary)}</description></item>"
            )
        xml = '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>' + "".join(parts)
        return (xml + "</channel></rss>").encode()


def host_address(host: int) -> str:
    """The loopback address of the `host`-th server: 127.0.1.1, 127.0.1.2, ... (all of 127.0.0.0/8 is loopback)."""
    return str(ipaddress.IPv4Address("127.0.1.1") + host)


def _feed_index(path: str, feeds: int) -> int | None:
    name = path.removeprefix("/feed/").removesuffix(".xml")
    return int(name) if name.isdigit() and int(name) < feeds and path == f"/feed/{name}.xml" else None


def serve(shape: Shape, ready: Connection) -> None:
    """The server process: answers every request after `shape.delay` seconds, keeps connections alive."""
    asyncio.run(_serve(Feeds(shape), ready))


async def _serve(feeds: Feeds, ready: Connection) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                path = head[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)
                }
                await asyncio.sleep(feeds.shape.delay)
                writer.write(feeds.answer(path, headers.get("if-none-match")))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    hosts = feeds.shape.hosts
    servers = [await asyncio.start_server(handle, host_address(h), 0, backlog=1024) for h in range(hosts)]
    ready.send([s.sockets[0].getsockname()[:2] for s in servers])
    await asyncio.Event().wait()


@contextmanager
def feed_server(shape: Shape) -> Iterator[list[str]]:
    """Run the loopback server in another process; yields every feed's URL, stops the server on exit."""
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(target=serve, args=(shape, send), daemon=True)
    server.start()
    try:
        if not receive.poll(120):
            raise RuntimeError("the loopback feed server did not start within 120 s")
        addresses = receive.recv()
        yield [
            f"http://{h}:{p}/feed/{i}.xml"
            for i in range(shape.feeds)
            for h, p in [addresses[i % shape.hosts]]
        ]
    finally:
        server.terminate()
        server.join(10)
        if server.is_alive():
            server.kill()
            server.join()


def write_project(root: Path, urls: Sequence[str], every: str, rules: str, channels: str) -> None:
    """A rules folder with one feed per URL plus `rules` (YAML list entries), and a channels file."""
    (root / "rules").mkdir(parents=True)
    (root / "alerts").mkdir(parents=True)
    feeds = "".join(f"  - {{name: f{i:05d}, url: '{u}', every: {every}}}\n" for i, u in enumerate(urls))
    (root / "rules" / "bench.yaml").write_text(f"feeds:\n{feeds}rules:\n{rules}", encoding="utf-8")
    (root / "alerts" / "channels.yaml").write_text(f"channels:\n{channels}", encoding="utf-8")


def dry_rules() -> str:
    """The RULES as rules-file entries, without `alert` (matches are logged, nothing is sent)."""
    return "".join(f"  - {{name: {name}, match: {json.dumps(query)}}}\n" for name, query in RULES.items())


def runtime(root: Path) -> Runtime:
    """A Runtime built as `monitor run` builds it (parse workers warming up), on a fresh SQLite file in `root`."""
    parsepool.warm_up()
    config = load_config(root / "rules", root / "alerts" / "channels.yaml")
    engine = db.make_engine(f"sqlite:///{root / 'monitor.db'}")
    db.upgrade(engine)
    rt = Runtime(engine, Active.build(config))
    pipeline.sync_feeds(engine, config)
    return rt


def counts(path: Path) -> dict[str, int]:
    """Rows per table of interest in a monitor SQLite file (read-only, safe while a daemon writes)."""
    with sqlite3.connect(f"file:{path}?mode=ro", uri=True, timeout=30) as conn:
        one = lambda sql: int(conn.execute(sql).fetchone()[0])  # noqa: E731
        return {
            "items": one("SELECT count(*) FROM item"),
            "matches": one("SELECT count(*) FROM match"),
            "deliveries": one("SELECT count(*) FROM delivery"),
            "events": one("SELECT count(*) FROM event"),
            "polls": one("SELECT count(*) FROM event WHERE kind IN ('fetch', 'fetch_failed')"),
            "failing": one("SELECT count(*) FROM feedstate WHERE status = 'failing'"),
        }


def poll_cycle(requests: Sequence[FetchRequest]) -> list[tuple[Fetched | FetchError, Outcome]]:
    """The fetch layer alone: fetch every feed, parse each changed body in a worker; nothing stored."""
    pending: dict[int, tuple[Fetched | FetchError, Callable[[], Outcome] | None]] = {}
    for request, fetched in fetch_iter(requests):
        wait = None
        if isinstance(fetched, Fetched) and fetched.body is not None:
            wait = submit(fetched.body, fetched.final_url, fetched.content_type)
        pending[int(request.feed)] = (fetched, wait)
    return [(f, wait() if wait else f) for f, wait in (pending[i] for i in range(len(requests)))]


def timed(step: Callable[[], Any]) -> tuple[Any, float, float]:
    """(result, wall seconds, CPU seconds of this process) of one call."""
    wall, cpu = time.perf_counter(), time.process_time()
    result = step()
    return result, time.perf_counter() - wall, time.process_time() - cpu


def naive(urls: list[str], etags: list[str | None]) -> list[Any]:
    """The baseline: feedparser fetching and parsing each feed itself, one after another."""
    return [feedparser.parse(url, etag=etag) for url, etag in zip(urls, etags, strict=True)]


def check(results: list[tuple[Fetched | FetchError, Outcome]], expect: type) -> str:
    bad = [o for _, o in results if not isinstance(o, expect)]
    return "all ok" if not bad else f"{len(bad)} unexpected, e.g. {bad[0]!r}"


def stat_fields(pid: int) -> list[str] | None:
    """The fields of /proc/<pid>/stat after the command name (state, ppid, ..., utime at [11]); None
    when the process is gone."""
    try:
        with open(f"/proc/{pid}/stat") as stat:
            return stat.read().rsplit(")", 1)[1].split()
    except (OSError, IndexError):
        return None


def cpu_seconds(pid: int) -> float:
    """User and system CPU a process has used so far; 0 when it is gone."""
    fields = stat_fields(pid)
    return (int(fields[11]) + int(fields[12])) / os.sysconf("SC_CLK_TCK") if fields else 0.0


def peak_rss_kb(pid: int, field: str = "VmHWM") -> int:
    """A process's peak (VmHWM) or current (VmRSS) resident size in kB; 0 when it is gone."""
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith(field + ":"))
    except (OSError, StopIteration, ValueError):
        return 0


def main() -> None:
    args = _arguments()
    shape = Shape(args.feeds, args.items, args.hosts, args.delay)
    load = os.getloadavg()
    with tempfile.TemporaryDirectory(prefix="monitor-bench-") as tmp, feed_server(shape) as urls:
        etags = [
            f'"v0-{i}"' for i in range(len(urls))
        ]  # the server's: no churn, every feed at its first version
        runs = []
        for run in range(args.runs):  # taking turns, so a burst of load elsewhere falls on both sides
            root = Path(tmp) / f"run{run}"
            root.mkdir()
            with daemon_logging(root / "monitor.log", args.log):
                runs.append(_pipeline(root, urls, args))
            runs[-1].update(_baseline(urls, etags, args.sample))
        lines = _report(runs, args, load)
        layer, _ = _fetch_layer(urls)
    print("\n".join(lines[:3] + layer + lines[3:]))


@contextmanager
def daemon_logging(path: Path, level: str) -> Iterator[None]:
    """Log as `monitor run` does (text lines, every event at INFO), into `path` instead of stderr."""
    with path.open("w", encoding="utf-8") as file:
        logs.setup_logging("text", level)
        root = logging.getLogger()
        for handler in root.handlers:
            if isinstance(handler, logging.StreamHandler):
                handler.setStream(file)
        try:
            yield
        finally:
            root.handlers.clear()


def _pipeline(root: Path, urls: list[str], args: argparse.Namespace) -> dict[str, Any]:
    """Both cycles of poll_due on a fresh database in `root`: their wall and CPU times, and counts."""
    n = len(urls)
    write_project(root, urls, "10m", dry_rules(), "  console: {type: console}\n")
    rt = runtime(root)
    rt.owner = "bench"
    parse_before = sum(cpu_seconds(pid) for pid in worker_pids())
    _, new_wall, new_cpu = timed(lambda: pipeline.poll_due(rt, every_feed=True, limit=n))
    parse_cpu = sum(cpu_seconds(pid) for pid in worker_pids()) - parse_before
    stored = counts(root / "monitor.db")
    _, same_wall, same_cpu = timed(lambda: pipeline.poll_due(rt, every_feed=True, limit=n))
    after = counts(root / "monitor.db")
    rt.engine.dispose()
    return {
        "new_wall": new_wall,
        "new_cpu": new_cpu,
        "parse_cpu": parse_cpu,
        "new_total_cpu": new_cpu + parse_cpu,
        "same_wall": same_wall,
        "same_cpu": same_cpu,
        "stored": stored,
        "after": after,
        "log_lines": len((root / "monitor.log").read_bytes().splitlines()),
    }


def _report(runs: list[dict[str, Any]], args: argparse.Namespace, load: tuple[float, ...]) -> list[str]:
    """The figures of the runs: medians (and the spread of the new cycle's speedup), CPU beside wall."""
    n, first = args.feeds, runs[0]
    med = lambda key: statistics.median(r[key] for r in runs)  # noqa: E731
    new_wall, same_wall, base_new, base_same = (
        med("new_wall"),
        med("same_wall"),
        med("base_new"),
        med("base_same"),
    )
    pipe_cpu = med("new_total_cpu")
    ratios = sorted(r["base_new"] / r["new_wall"] for r in runs)
    stored, after = first["stored"], first["after"]
    main_mb = peak_rss_kb(os.getpid()) / 1024
    workers = [peak_rss_kb(pid) / 1024 for pid in worker_pids()]
    end = os.getloadavg()
    return [
        f"feeds: {n} on {args.hosts} loopback hosts, {args.items} items each, server delay {args.delay * 1000:.0f} ms; "
        f"{len(RULES)} dry-run rules, fresh SQLite, log level {args.log} to a file; median of {len(runs)} runs, "
        f"each pipeline run beside a naive one; load average {load[0]:.2f} at the start, {end[0]:.2f} at the end",
        f"pipeline, new cycle (poll_due: fetch, parse, store, match):  {new_wall:6.2f} s  "
        f"(CPU: main process {med('new_cpu'):.2f} s, parse workers {med('parse_cpu'):.2f} s, together {pipe_cpu:.2f} s; "
        f"{stored['items']} items stored, {stored['matches']} matches, {stored['failing']} feeds failing)",
        f"pipeline, unchanged cycle (poll_due, all 304):               {same_wall:6.2f} s  "
        f"({after['items'] - stored['items']} new items, {after['polls'] - stored['polls']} poll events (an unchanged poll records none), "
        f"{after['failing']} failing; {first['log_lines']} log lines in all)",
        f"CPU per unchanged feed, whole main process: {med('same_cpu') / n * 1000:.2f} ms  (target < 5 ms; no parsing)",
        f"peak RSS (VmHWM) of the main process after all runs: {main_mb:.0f} MB  (target < 200 MB)",
        f"peak RSS (VmHWM) of each parse worker: {', '.join(f'{mb:.0f}' for mb in workers)} MB",
        f"naive loop, new:       {base_new:7.2f} s  (feedparser.parse(url) x {args.sample}, extrapolated to {n}; "
        f"stores nothing; CPU {med('base_new_cpu'):.2f} s)",
        f"naive loop, unchanged: {base_same:7.2f} s  (feedparser.parse(url, etag=...) x {args.sample}, extrapolated to {n})",
        f"speedup new (pipeline vs naive):       {base_new / new_wall:6.1f}x  (target >= 10x; medians; the runs' own "
        f"ratios {ratios[0]:.1f}x-{ratios[-1]:.1f}x)",
        f"  CPU per new feed: pipeline {pipe_cpu / n * 1000:.2f} ms (parse, store, match), naive loop "
        f"{med('base_new_cpu') / n * 1000:.2f} ms (parse only); the new cycle is CPU-bound: its wall is about "
        f"its CPU over the cores it gets, so its speedup follows the machine's load",
        f"speedup unchanged (pipeline vs naive): {base_same / same_wall:6.1f}x  (target >= 20x; medians)",
    ]


def _fetch_layer(urls: list[str]) -> tuple[list[str], list[str | None]]:
    """The fetch layer alone (fetch_iter + parse in workers, nothing stored), both cycles."""
    new, new_wall, _ = timed(lambda: poll_cycle([FetchRequest(str(i), u) for i, u in enumerate(urls)]))
    etags = [f.etag if isinstance(f, Fetched) else None for f, _ in new]
    again = [FetchRequest(str(i), u, etag=e) for i, (u, e) in enumerate(zip(urls, etags, strict=True))]
    same, same_wall, _ = timed(lambda: poll_cycle(again))
    return [
        f"fetch layer only, new (fetch_iter + parse, nothing stored):   {new_wall:6.2f} s  ({check(new, Parsed)})",
        f"fetch layer only, unchanged (304):                            {same_wall:6.2f} s  ({check(same, Fetched)})",
    ], etags


def _baseline(urls: list[str], etags: list[str | None], sample_size: int) -> dict[str, float]:
    """The naive sequential loop over a sample, extrapolated: wall and CPU seconds, new and unchanged."""
    n, sample = len(urls), min(sample_size, len(urls))
    _, new_wall, new_cpu = timed(lambda: naive(urls[:sample], [None] * sample))
    _, same_wall, _ = timed(lambda: naive(urls[:sample], etags[:sample]))
    scale = n / sample
    return {"base_new": new_wall * scale, "base_new_cpu": new_cpu * scale, "base_same": same_wall * scale}


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=500, help="loopback addresses the feeds are spread over")
    parser.add_argument("--sample", type=int, default=50, help="feeds in the naive baseline loop")
    parser.add_argument("--delay", type=float, default=0.1, help="server answer delay, seconds")
    parser.add_argument("--log", default="INFO", help="the pipeline's log level, as MONITOR_LOG_LEVEL")
    parser.add_argument(
        "--runs", type=int, default=3, help="runs of each side, taking turns; medians reported"
    )
    return parser.parse_args()


if __name__ == "__main__":
    main()
