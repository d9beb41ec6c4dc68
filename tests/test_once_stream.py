"""`run --once` streams a large feed's entries from the parse worker and matches each chunk as it
arrives: the database ends exactly as the plain (whole) hand-over leaves it.

- `parsepool.submit(stream=True)`: the chunks are the entries, in order, the very objects of the
  `Parsed` it returns, which equals the plain parse's; a small feed or a failure comes in no chunk;
  the same for a large feed parsed in pieces, one per worker (`feedpieces`)
- the ingest of a streamed parse (`store.prematch`, then `store.store_feeds`) stores the same items, matches and events, in the same
  order, as of a plain one: on a first poll, a silent first poll (no backfill), a later poll with
  items already stored, and duplicate ids in one chunk and across chunks; whole or in pieces
"""

from __future__ import annotations

import contextlib
import os
import signal
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path
from typing import Any

import pytest
import sqlalchemy as sa
from feeds import It, rss
from runtimes import open_runtime
from sqlmodel import Session, col, select

from monitor import parsepool, pipeline
from monitor.errors import ParseError
from monitor.models import Event, Item, Match
from monitor.records import Fetched, Parsed
from monitor.runtime import Runtime

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


def project(root: Path, *, backfill: bool) -> Runtime:
    (root / "rules").mkdir(parents=True)
    (root / "alerts").mkdir()
    (root / "rules" / "r.yaml").write_text(
        "feeds:\n"
        f"  - {{name: big, url: https://example.org/feed, backfill: {str(backfill).lower()}}}\n"
        "rules:\n"
        "  - {name: peace, match: peace talks}\n"
        "  - {name: storm, match: 'storm OR football'}\n"
        "  - {name: vote, match: 'election -budget'}\n"
        "  - {name: phrase, match: '\"troops talks\"'}\n",
        encoding="utf-8",
    )
    (root / "alerts" / "channels.yaml").write_text("channels: {}\n", encoding="utf-8")
    return open_runtime(f"sqlite:///{root / 'monitor.db'}", root / "rules", root / "alerts" / "channels.yaml")


def ingest(rt: Runtime, body: bytes, *, stream: bool) -> pipeline.Parsing | None:
    feed = rt.config.feeds["big"]
    fetched = Fetched("big", feed.url, feed.url, 200, body)
    with Session(rt.engine) as session:
        state = session.get(pipeline.FeedState, "big")
        known = state.body_hash if state else None
    parsing = pipeline.start_parse(known, fetched, stream=stream)
    assert isinstance(parsing, parsepool.Streaming) == stream
    job = pipeline._parsed(rt, (feed, fetched, parsing))  # as `run --once` ingests: the batch path
    assert (job[4] is not None) == stream
    pipeline._ingest_jobs(rt, [job])
    return parsing


def contents(rt: Runtime) -> dict[str, list[Any]]:
    """Every stored item, match and event in insertion order, without the times of the run."""
    with Session(rt.engine) as session:
        stored = {
            "items": [
                (i.id, i.guid, i.title, i.summary, i.published, i.link_key, i.title_key)
                for i in session.exec(select(Item).order_by(sa.text("rowid")))
            ],
            "matches": [
                (m.id, m.rule, m.item_id, m.matched_terms, m.snippet, m.muted)
                for m in session.exec(select(Match).order_by(sa.text("rowid")))
            ],
            "events": [
                (e.kind, e.feed, e.rule, e.item_id, e.message, e.data)
                for e in session.exec(select(Event).order_by(col(Event.id)))
            ],
        }
    return stored


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


def test_a_large_feed_streamed_in_pieces_gives_the_entries_of_the_plain_parse_in_order() -> None:
    body = rss(*items(SIZE * 2, duplicates=True))
    plain = parsepool.submit(body, "https://example.org/feed")()
    streaming = parsepool.submit(body, "https://example.org/feed", stream=True, parts=2)
    assert isinstance(streaming, parsepool.Streaming)
    chunks = list(streaming.chunks())
    streamed = streaming()
    assert isinstance(plain, Parsed) and isinstance(streamed, Parsed)
    assert len(chunks) > 4  # each piece in chunks of its own
    assert all(a is b for a, b in zip([e for c in chunks for e in c], streamed.entries, strict=True))
    assert streamed == plain
    assert [e.analysis for e in streamed.entries] == [e.analysis for e in plain.entries]
    # not split (something between items): part 0 parses it whole, the same again
    unsplit = body.replace(b"</item>", b"</item><!-- x -->", 1)
    whole = parsepool.submit(unsplit, "https://example.org/feed", stream=True, parts=2)
    assert whole() == parsepool.submit(unsplit, "https://example.org/feed")()


def test_a_feed_whose_piece_fails_is_parsed_again_whole() -> None:
    # not RSS or Atom, and the second half's items are empty: that piece is no feed, the whole one is
    items = (
        "".join(f"<item><title>t{i}</title></item>" for i in range(60))
        + "<item><category>c</category></item>" * 60
    )
    body = f"<?xml version='1.0'?><foo><channel><title>x</title>{items}</channel></foo>".encode()
    streaming = parsepool.submit(body, "https://example.org/feed", stream=True, parts=2)
    assert isinstance(streaming, parsepool.Streaming)
    list(streaming.chunks())
    parsed = streaming()
    assert parsed == parsepool.submit(body, "https://example.org/feed")()
    assert isinstance(parsed, Parsed) and len(parsed.entries) == 60


@pytest.mark.parametrize("pieces", [False, True])
@pytest.mark.parametrize("backfill", [True, False])
def test_a_streamed_ingest_stores_what_the_plain_one_stores(
    tmp_path: Path, backfill: bool, pieces: bool, monkeypatch: pytest.MonkeyPatch
) -> None:
    if pieces:  # these feeds are small: parsed in pieces all the same, one per worker
        monkeypatch.setattr(parsepool, "SPLIT_BYTES", 0)
    first = rss(*items(SIZE, duplicates=True))
    # a later poll: most items stored already, some changed, a duplicate of a stored one
    later = rss(*items(SIZE + 40, seed=1, duplicates=True)[25:])
    runs = {}
    for stream in (False, True):
        rt = project(tmp_path / str(stream), backfill=backfill)
        parsing = ingest(rt, first, stream=stream)
        ingest(rt, later, stream=stream)
        runs[stream] = contents(rt)
        if stream and pieces:
            assert isinstance(parsing, parsepool.Streaming) and len(parsing._parts) == (os.cpu_count() or 1)
    plain, streamed = runs[False], runs[True]
    assert len(plain["items"]) > SIZE and len(plain["matches"]) > 50
    assert streamed == plain
