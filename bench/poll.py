"""Polling benchmark: 1,000 feeds on a loopback server (another process) that answers after 100 ms.

    python bench/poll.py [--feeds 1000] [--items 20] [--hosts 25] [--sample 50] [--delay 0.1]

Measures, in one run: a cycle where every feed is new (fetch_iter; each body goes to parse_feed in a
worker process as soon as it arrives), a cycle where every feed is unchanged (304), and the naive
baseline, a sequential loop of feedparser.parse(url, etag=...) over a sample of the feeds,
extrapolated to all of them. Prints wall times, speedups, CPU per
unchanged feed and the peak RSS of this process (the server's process is not counted).
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import multiprocessing
import resource
import sys
import time
from collections.abc import Callable, Sequence
from email.utils import formatdate
from multiprocessing.connection import Connection
from pathlib import Path
from typing import Any
from xml.sax.saxutils import escape

import feedparser

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

from monitor.errors import FetchError, ParseError
from monitor.fetch import fetch_iter
from monitor.parsepool import submit, worker_pids
from monitor.records import Fetched, FetchRequest, Parsed

ARTICLES = Path(__file__).resolve().parents[2] / "shared/data/bbc-news/articles.csv"
Outcome = Fetched | Parsed | FetchError | ParseError


def poll_cycle(requests: Sequence[FetchRequest]) -> list[tuple[Fetched | FetchError, Outcome]]:
    """The measured step: fetch every feed, parse each changed body in a worker as soon as it arrives.

    One call, easy to swap for the full pipeline. Results in request order.
    """
    pending: dict[int, tuple[Fetched | FetchError, Callable[[], Outcome] | None]] = {}
    for request, fetched in fetch_iter(requests):
        wait = None
        if isinstance(fetched, Fetched) and fetched.body is not None:
            wait = submit(fetched.body, fetched.final_url, fetched.content_type)
        pending[int(request.feed)] = (fetched, wait)
    return [(f, wait() if wait else f) for f, wait in (pending[i] for i in range(len(requests)))]


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


def feed_body(index: int, items: int, rows: list[tuple[str, str]]) -> bytes:
    """An RSS 2.0 feed of `items` items built from article text, like a news site's section feed."""
    parts = [f"<title>Section {index}</title><link>https://news{index % 97}.example.org/</link><ttl>10</ttl>"]
    for k in range(items):
        text, category = rows[(index * items + k) % len(rows)]
        words = text.split()
        title, summary = " ".join(words[:9]), " ".join(words[9:70])
        stamp = formatdate(1_742_040_000 - (index * items + k) * 60, usegmt=True)
        link = f"https://news{index % 97}.example.org/{category}/{index}-{k}"
        parts.append(
            f"<item><title>{escape(title)}</title><link>{link}?utm_source=rss</link>"
            f'<guid isPermaLink="false">s{index}-{k}</guid><pubDate>{stamp}</pubDate>'
            f"<category>{escape(category)}</category><description>{escape(summary)}</description></item>"
        )
    return (
        '<?xml version="1.0" encoding="utf-8"?>\n<rss version="2.0"><channel>' + "".join(parts)
    ).encode() + (b"</channel></rss>")


def serve(feeds: int, items: int, hosts: int, delay: float, ready: Connection) -> None:
    """The server process: feed i on host 127.0.0.(1 + i % hosts), answers after `delay` seconds."""
    rows = articles()
    bodies = {f"/feed/{i}.xml": feed_body(i, items, rows) for i in range(feeds)}
    asyncio.run(_serve(bodies, hosts, delay, ready))


async def _serve(bodies: dict[str, bytes], hosts: int, delay: float, ready: Connection) -> None:
    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                head = (await reader.readuntil(b"\r\n\r\n")).decode("latin-1").split("\r\n")
                path = head[0].split(" ")[1]
                headers = {
                    k.strip().lower(): v.strip() for k, _, v in (h.partition(":") for h in head[1:] if h)
                }
                await asyncio.sleep(delay)
                writer.write(_response(bodies.get(path), path, headers.get("if-none-match")))
                await writer.drain()
                if headers.get("connection", "").lower() == "close":
                    break
        except (asyncio.IncompleteReadError, ConnectionError, IndexError):
            pass
        finally:
            writer.close()

    servers = [await asyncio.start_server(handle, f"127.0.0.{h + 1}", 0, backlog=1024) for h in range(hosts)]
    ready.send([s.sockets[0].getsockname()[:2] for s in servers])
    await asyncio.Event().wait()


def _response(body: bytes | None, path: str, if_none_match: str | None) -> bytes:
    etag = f'"v1{path}"'
    if body is None:
        return b"HTTP/1.1 404 Not Found\r\nContent-Length: 0\r\n\r\n"
    if if_none_match == etag:
        return f"HTTP/1.1 304 Not Modified\r\nETag: {etag}\r\n\r\n".encode()
    head = f"HTTP/1.1 200 OK\r\nContent-Type: application/rss+xml; charset=utf-8\r\nETag: {etag}\r\n"
    return head.encode() + f"Content-Length: {len(body)}\r\n\r\n".encode() + body


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


def main() -> None:
    args = _arguments()
    receive, send = multiprocessing.Pipe(duplex=False)
    server = multiprocessing.Process(
        target=serve, args=(args.feeds, args.items, args.hosts, args.delay, send), daemon=True
    )
    server.start()
    try:
        addresses = receive.recv()
        urls = [
            f"http://{h}:{p}/feed/{i}.xml" for i in range(args.feeds) for h, p in [addresses[i % args.hosts]]
        ]
        _run(args, urls)
    finally:
        server.terminate()
        server.join()


def _run(args: argparse.Namespace, urls: list[str]) -> None:
    n, sample = len(urls), min(args.sample, len(urls))
    new, new_wall, _ = timed(lambda: poll_cycle([FetchRequest(str(i), u) for i, u in enumerate(urls)]))
    etags = [f.etag if isinstance(f, Fetched) else None for f, _ in new]
    again = [FetchRequest(str(i), u, etag=e) for i, (u, e) in enumerate(zip(urls, etags, strict=True))]
    same, same_wall, same_cpu = timed(lambda: poll_cycle(again))
    base_new = timed(lambda: naive(urls[:sample], [None] * sample))[1] * n / sample
    base_same = timed(lambda: naive(urls[:sample], etags[:sample]))[1] * n / sample
    entries = sum(len(o.entries) for _, o in new if isinstance(o, Parsed))
    peak_mb = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    workers_mb = [_peak_rss_kb(pid) / 1024 for pid in worker_pids()]
    report = [
        f"feeds: {n} on {args.hosts} loopback hosts, {args.items} items each, server delay {args.delay * 1000:.0f} ms",
        f"new cycle (fetch + parse in workers):{new_wall:7.2f} s  ({entries} entries; {check(new, Parsed)})",
        f"unchanged cycle (304):               {same_wall:7.2f} s  ({check(same, Fetched)})",
        f"naive loop, new:       {base_new:7.2f} s  (feedparser.parse(url) x {sample}, extrapolated to {n})",
        f"naive loop, unchanged: {base_same:7.2f} s  (feedparser.parse(url, etag=...) x {sample}, extrapolated)",
        f"speedup new:       {base_new / new_wall:6.1f}x  (target >= 10x)",
        f"speedup unchanged: {base_same / same_wall:6.1f}x  (target >= 20x)",
        f"CPU per unchanged feed: {same_cpu / n * 1000:.2f} ms  (target < 5 ms)",
        f"peak RSS of this process: {peak_mb:.0f} MB  (target < 200 MB)",
        f"peak RSS of each parse worker: {', '.join(f'{mb:.0f}' for mb in workers_mb)} MB",
    ]
    print("\n".join(report))


def _peak_rss_kb(pid: int) -> int:
    try:
        with open(f"/proc/{pid}/status") as status:
            return next(int(line.split()[1]) for line in status if line.startswith("VmHWM:"))
    except (OSError, StopIteration, ValueError):
        return 0


def _arguments() -> argparse.Namespace:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--feeds", type=int, default=1000)
    parser.add_argument("--items", type=int, default=20)
    parser.add_argument("--hosts", type=int, default=25, help="loopback addresses the feeds are spread over")
    parser.add_argument("--sample", type=int, default=50, help="feeds in the naive baseline loop")
    parser.add_argument("--delay", type=float, default=0.1, help="server answer delay, seconds")
    return parser.parse_args()


if __name__ == "__main__":
    main()
