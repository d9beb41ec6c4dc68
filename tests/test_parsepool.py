"""parse_all in worker processes: same results as parse_feed, and hostile feeds capped in time and memory."""

from __future__ import annotations

import os
import threading
from collections.abc import Iterator

import pytest

from monitor.errors import ParseError
from monitor.parse import parse_feed
from monitor.parsepool import parse_all, parse_isolated, shutdown, worker_pids
from monitor.records import Parsed

HEAD = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title>'
NESTED = HEAD + b"<a>" * 170_000 + b"</channel></rss>"  # feedparser's loose parser: seconds and 100+ MB


def feed(n: int) -> bytes:
    return (
        HEAD
        + f"<item><title>story {n}</title><link>https://a.org/{n}</link></item>".encode()
        + b"</channel></rss>"
    )


@pytest.fixture(autouse=True, scope="module")
def workers() -> Iterator[None]:
    yield
    shutdown()


def test_results_match_parse_feed_in_order() -> None:
    jobs = [(feed(n), f"https://a.org/{n}.xml", "application/rss+xml") for n in range(20)]
    jobs.insert(5, (b"<html><body>hi</body></html>", "https://a.org/page", "text/html"))
    results = parse_all(jobs)
    assert results[:5] == [parse_feed(*job) for job in jobs[:5]]
    assert isinstance(results[5], ParseError) and results[5].reason == "an HTML page, not a feed"
    assert results[5].url == "https://a.org/page"
    assert [r.entries[0].title for r in results[6:] if isinstance(r, Parsed)] == [
        f"story {n}" for n in range(5, 20)
    ]


def test_a_slow_feed_is_stopped_at_the_timeout_and_the_others_parse() -> None:
    results = parse_all(
        [(NESTED, "https://slow.org/feed", None), (feed(1), "https://a.org/1", None)], timeout=0.3
    )
    assert isinstance(results[0], ParseError) and results[0].reason == "parsing took over 0.3 s"
    assert isinstance(results[1], Parsed)


def test_a_feed_over_the_memory_cap_fails_alone() -> None:
    results = parse_all(
        [(NESTED, "https://big.org/feed", None), (feed(2), "https://a.org/2", None)], memory=30 * 2**20
    )
    assert isinstance(results[0], ParseError) and results[0].reason == "parsing needs over 30 MB"
    assert isinstance(results[1], Parsed)


def test_callable_from_several_threads() -> None:
    found: dict[int, list[Parsed | ParseError]] = {}

    def run(k: int) -> None:
        found[k] = parse_all([(feed(k * 10 + i), f"https://a.org/{k}/{i}", None) for i in range(10)])

    threads = [threading.Thread(target=run, args=(k,)) for k in range(4)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=30)
    for k in range(4):
        assert [r.entries[0].title for r in found[k]] == [f"story {k * 10 + i}" for i in range(10)]


def test_parse_isolated_is_a_drop_in_for_parse_feed() -> None:
    assert parse_isolated(feed(7), "https://a.org/7") == parse_feed(feed(7), "https://a.org/7")
    with pytest.raises(ParseError, match=r"parsing took over 0\.2 s"):
        parse_isolated(NESTED, "https://slow.org/feed", timeout=0.2)


def test_worker_pids_are_the_live_workers_that_parsed() -> None:
    """The pids come from the workers themselves (not the executor's private table)."""
    shutdown()  # the pools of the tests before
    jobs = [(feed(n), f"https://a.org/{n}.xml", "application/rss+xml") for n in range(4)]
    parse_all(jobs, workers=2)
    pids = worker_pids()
    assert 1 <= len(pids) <= 2 and os.getpid() not in pids
    for pid in pids:
        os.kill(pid, 0)  # raises ProcessLookupError unless the worker is running
