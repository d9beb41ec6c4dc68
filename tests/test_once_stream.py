"""`parsepool.submit(stream=True)`: a large feed's analysed entries come back in chunks while the
worker analyses the rest (for an ingest that matches each chunk as it arrives).

- the chunks are the entries, in order, the very objects of the `Parsed` it returns, which equals
  the plain parse's; a small feed or a failure comes in no chunk
- a worker killed mid-stream: the feed is parsed again whole
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from datetime import timedelta

import pytest
from feeds import It, rss

from monitor import parsepool
from monitor.errors import ParseError
from monitor.records import Parsed

WORDS = ["ukraine", "troops", "talks", "peace", "markets", "election", "storm", "football", "budget"]
SIZE = parsepool.CHUNK * 2 + 57  # three chunks, the last one short


@pytest.fixture(autouse=True, scope="module")
def _workers() -> Iterator[None]:
    yield
    parsepool.shutdown()


def items(n: int, *, seed: int = 0, duplicates: bool = False) -> list[It]:
    """`n` items of a few words each; some published long ago; with `duplicates`, guids seen again
    in the same chunk and in a later one (the last entry of an id wins)."""
    out = []
    for i in range(n):
        words = " ".join(WORDS[(i * k + seed) % len(WORDS)] for k in (1, 3, 7))
        guid = f"g{i}"
        if duplicates and i % 97 == 5:
            guid = f"g{i - 3}"  # the same chunk
        if duplicates and i % 150 == 149:
            guid = f"g{i - parsepool.CHUNK - 10}"  # an earlier chunk
        age = timedelta(days=400) if i % 11 == 0 else timedelta(hours=i % 50)
        out.append(
            It(f"story {i} {words}", f"text of {i}: {words} {WORDS[(i + seed) % 9]}", guid=guid, age=age)
        )
    return out


def test_a_streamed_parse_gives_the_entries_of_the_plain_parse_in_chunks() -> None:
    body = rss(*items(SIZE, duplicates=True))
    plain = parsepool.submit(body, "https://example.org/feed")()
    streaming = parsepool.submit(body, "https://example.org/feed", stream=True)
    assert isinstance(streaming, parsepool.Streaming)
    chunks = list(streaming.chunks())
    streamed = streaming()
    assert isinstance(plain, Parsed) and isinstance(streamed, Parsed)
    assert [len(c) for c in chunks] == [parsepool.CHUNK, parsepool.CHUNK, 57]
    assert all(a is b for a, b in zip([e for c in chunks for e in c], streamed.entries, strict=True))
    assert streamed == plain
    assert [e.analysis for e in streamed.entries] == [e.analysis for e in plain.entries]
    assert streaming() is streamed  # waited for once


def test_a_small_feed_or_a_failure_comes_in_no_chunk() -> None:
    small = parsepool.submit(rss(*items(3)), "https://example.org/feed", stream=True)
    assert isinstance(small, parsepool.Streaming)
    assert list(small.chunks()) == []
    parsed = small()
    assert isinstance(parsed, Parsed) and len(parsed.entries) == 3
    assert parsed.entries[0].analysis is not None
    broken = parsepool.submit(
        b"<html><body>not a feed</body></html>", "https://example.org/feed", stream=True
    )
    assert isinstance(broken, parsepool.Streaming)
    assert list(broken.chunks()) == []
    assert isinstance(broken(), ParseError)


def test_chunks_not_taken_are_taken_when_the_outcome_is_asked() -> None:
    streaming = parsepool.submit(rss(*items(SIZE)), "https://example.org/feed", stream=True)
    assert isinstance(streaming, parsepool.Streaming)
    first = next(iter(streaming.chunks()))
    parsed = streaming()
    assert isinstance(parsed, Parsed) and len(parsed.entries) == SIZE
    assert parsed.entries[0] is first[0]


def test_a_worker_killed_while_it_streams_is_retried_whole() -> None:
    body = rss(*items(SIZE * 6))
    plain = parsepool.submit(body, "https://example.org/feed")()
    streaming = parsepool.submit(body, "https://example.org/feed", stream=True)
    assert isinstance(streaming, parsepool.Streaming)
    first = next(iter(streaming.chunks()))
    for pid in parsepool.worker_pids():
        with contextlib.suppress(ProcessLookupError):
            os.kill(pid, signal.SIGKILL)
    again = streaming()
    assert again == plain  # parsed again, unstreamed (or whole already, if the worker had finished)
    assert isinstance(again, Parsed) and len(again.entries) == SIZE * 6 and first[0] == again.entries[0]
