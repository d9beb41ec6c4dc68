"""fetch_all against a real loopback server: conditional GET, every fault a feed host can show, isolation."""

from __future__ import annotations

import asyncio
import gzip
import socket
import threading
import time
import zlib
from collections.abc import Iterator
from pathlib import Path

import pytest
from feedserver import FeedServer

from monitor import USER_AGENT
from monitor.errors import FetchError
from monitor.fetch import fetch_all, fetch_iter, redact_url
from monitor.records import Fetched, FetchRequest

FEED = b'<?xml version="1.0"?><rss version="2.0"><channel><title>t</title></channel></rss>'


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as srv:
        yield srv


def fetch(url: str, **kwargs: object) -> Fetched | FetchError:
    return fetch_all([FetchRequest("f", url)], **kwargs)[0]  # type: ignore[arg-type]


def ok(result: Fetched | FetchError) -> Fetched:
    assert isinstance(result, Fetched), result
    return result


def failed(result: Fetched | FetchError) -> FetchError:
    assert isinstance(result, FetchError), result
    return result


def test_first_fetch_sends_user_agent_and_returns_body_and_validators(server: FeedServer) -> None:
    server.feed(
        "/rss", FEED, last_modified="Sat, 15 Mar 2025 12:00:00 GMT", headers={"Cache-Control": "max-age=300"}
    )
    got = ok(fetch(server.url("/rss")))
    assert (got.status, got.body, got.final_url) == (200, FEED, server.url("/rss"))
    assert got.etag and got.last_modified == "Sat, 15 Mar 2025 12:00:00 GMT"
    assert got.max_age == 300 and got.content_type.startswith("application/rss+xml")
    sent = server.requests("/rss")[0]
    assert sent["user-agent"] == USER_AGENT and "gzip" in sent["accept-encoding"]


def test_unchanged_feed_is_304_with_no_body_and_a_change_is_fetched(server: FeedServer) -> None:
    server.feed("/rss", FEED)
    first = ok(fetch(server.url("/rss")))
    again = ok(fetch_all([FetchRequest("f", server.url("/rss"), etag=first.etag)])[0])
    assert again.status == 304 and again.body is None and again.not_modified and again.etag == first.etag
    server.feed("/rss", FEED.replace(b"<title>t", b"<title>new"))
    changed = ok(fetch_all([FetchRequest("f", server.url("/rss"), etag=first.etag)])[0])
    assert changed.status == 200 and b"new" in changed.body
    assert server.requests("/rss")[1]["if-none-match"] == first.etag


def test_if_modified_since_is_sent_and_honoured(server: FeedServer) -> None:
    stamp = "Sat, 15 Mar 2025 12:00:00 GMT"
    server.feed("/rss", FEED, last_modified=stamp)
    got = ok(fetch_all([FetchRequest("f", server.url("/rss"), last_modified=stamp)])[0])
    assert got.not_modified and got.last_modified == stamp


@pytest.mark.parametrize(
    ("code", "reason"), [(404, "HTTP 404 Not Found"), (500, "HTTP 500 Internal Server Error")]
)
def test_http_errors_are_values_with_status(server: FeedServer, code: int, reason: str) -> None:
    server.status("/x", code)
    err = failed(fetch(server.url("/x")))
    assert (err.status, err.reason, err.retry_after) == (code, reason, None)
    assert server.url("/x") in str(err)


def test_retry_after_in_seconds_and_as_http_date(server: FeedServer) -> None:
    server.status("/busy", 429, headers={"Retry-After": "120"})
    server.status("/down", 503, headers={"Retry-After": "Fri, 31 Dec 2100 23:59:59 GMT"})
    busy, down = fetch_all([FetchRequest("a", server.url("/busy")), FetchRequest("b", server.url("/down"))])
    assert failed(busy).retry_after == 120
    assert failed(down).retry_after == 86400  # a date 70 years out is capped at a day, as for channels


def test_connection_refused() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    assert failed(fetch(f"http://127.0.0.1:{port}/rss")).reason == "connection refused"


@pytest.mark.parametrize("fault", ["hang", "drip", "slow"])
def test_overall_deadline_bounds_a_hanging_dripping_or_slow_server(server: FeedServer, fault: str) -> None:
    if fault == "hang":
        server.hang("/x")
    elif fault == "drip":
        server.drip("/x", FEED * 10, interval=0.1)  # each read is quick: only the overall deadline stops it
    else:
        server.slow("/x", FEED, delay=30)
    start = time.monotonic()
    err = failed(fetch(server.url("/x"), deadline=0.5))
    assert err.reason == "timed out after 0.5 s"
    assert time.monotonic() - start < 1.5


def test_redirect_loop_and_too_many_redirects(server: FeedServer) -> None:
    server.redirect("/a", "/b")
    server.redirect("/b", "/a")
    for i in range(7):
        server.redirect(f"/r{i}", f"/r{i + 1}")
    server.feed("/r7", FEED)
    server.feed("/r6", FEED)  # /r1 -> ... -> /r6 is five redirects: allowed
    loop, too_many, five = fetch_all([FetchRequest("a", server.url(p)) for p in ("/a", "/r0", "/r1")])
    assert failed(loop).reason == "redirect loop"
    assert failed(too_many).reason == "more than 5 redirects"
    assert ok(five).final_url == server.url("/r6")


def test_permanent_redirect_is_reported_temporary_is_not(server: FeedServer) -> None:
    server.feed("/new", FEED)
    server.redirect("/moved", "/new", code=301)
    server.redirect("/moved308", server.url("/new"), code=308)
    server.redirect("/temp", "/new", code=302)
    server.redirect("/mixed", "/moved", code=307)
    moved, moved308, temp, mixed = fetch_all(
        [FetchRequest("f", server.url(p)) for p in ("/moved", "/moved308", "/temp", "/mixed")]
    )
    assert ok(moved).permanent_redirect == server.url("/new") == ok(moved308).permanent_redirect
    assert ok(temp).permanent_redirect is None and ok(temp).final_url == server.url("/new")
    assert ok(mixed).permanent_redirect is None


def test_redirect_to_a_local_file_is_refused(server: FeedServer) -> None:
    server.redirect("/x", "file:///etc/passwd")
    assert failed(fetch(server.url("/x"))).reason == "redirect to a non-HTTP URL"


@pytest.mark.parametrize("declare_length", [True, False])
def test_body_over_the_cap(server: FeedServer, declare_length: bool) -> None:
    server.huge("/big", 3 * 2**20, declare_length=declare_length)
    err = failed(fetch(server.url("/big"), max_bytes=2**20))
    assert err.reason == "response over 1 MB"


def test_gzip_bomb_is_stopped_at_the_decompressed_cap(server: FeedServer) -> None:
    server.gzip_bomb("/bomb", 64 * 2**20)
    start = time.monotonic()
    err = failed(fetch(server.url("/bomb"), max_bytes=2**20))
    assert err.reason == "gzip body inflates over 1 MB"
    assert time.monotonic() - start < 2


@pytest.mark.parametrize(
    ("encoding", "encode"),
    [("gzip", gzip.compress), ("deflate", zlib.compress), ("deflate", lambda b: zlib.compress(b, wbits=-15))],
)
def test_compressed_bodies_are_decoded(server: FeedServer, encoding: str, encode: object) -> None:
    server.status("/z", 200, body=encode(FEED), headers={"Content-Encoding": encoding})  # type: ignore[operator]
    assert ok(fetch(server.url("/z"))).body == FEED


def test_local_files_by_path_and_file_url(tmp_path: Path) -> None:
    path = tmp_path / "feed.xml"
    path.write_bytes(FEED)
    by_path, by_url, missing = fetch_all(
        [
            FetchRequest("a", str(path)),
            FetchRequest("b", path.as_uri()),
            FetchRequest("c", str(tmp_path / "no")),
        ]
    )
    assert ok(by_path).status == 0 and ok(by_path).body == FEED == ok(by_url).body
    assert "No such file" in failed(missing).reason
    unchanged = ok(fetch_all([FetchRequest("a", str(path), last_modified=ok(by_path).last_modified)])[0])
    assert unchanged.not_modified
    assert failed(fetch(str(path), max_bytes=10)).reason == "file over 10 bytes"


def test_relative_paths_and_other_schemes_are_refused() -> None:
    assert failed(fetch("examples/feeds/sample.xml")).reason == "not an http(s) URL or absolute path"
    assert failed(fetch("ftp://example.org/feed")).reason == "not an http(s) URL or absolute path"


def test_credentials_never_appear_in_messages(server: FeedServer) -> None:
    server.status("/private", 401)
    err = failed(fetch(server.url("/private").replace("http://", "http://alice:s3cret@") + "?token=abc&x=1"))
    assert "s3cret" not in str(err) and "abc" not in str(err) and "x=1" in str(err)
    assert server.requests("/private?token=abc&x=1")[0]["authorization"].startswith("Basic ")
    assert redact_url("https://u:p@h.org:8443/f?api_key=k") == "https://h.org:8443/f?api_key=***"


def test_hostile_feeds_do_not_delay_healthy_ones_in_the_same_batch(server: FeedServer) -> None:
    server.hang("/hang")
    server.drip("/drip", FEED * 100, interval=0.1)
    server.gzip_bomb("/bomb", 32 * 2**20)
    server.feed("/ok", FEED)
    paths = ["/hang", "/drip", "/bomb"] + ["/ok"] * 30
    start = time.monotonic()
    results = fetch_all(
        [FetchRequest(str(i), server.url(p)) for i, p in enumerate(paths)], deadline=2.0, max_bytes=2**20
    )
    assert time.monotonic() - start < 3.5
    assert [failed(r).reason for r in results[:2]] == ["timed out after 2 s"] * 2
    healthy = [ok(r) for r in results[3:]]
    assert [r.feed for r in healthy] == [str(i) for i in range(3, 33)]
    assert max(r.elapsed for r in healthy) < 2.0  # none waited for the hostile ones' deadline


def test_per_host_limit_bounds_concurrent_requests(server: FeedServer) -> None:
    """Exactly `per_host` requests are in flight at once: the first ones wait until that many arrive."""
    full, state = threading.Condition(), {"now": 0, "peak": 0}

    def counted(h: object) -> None:
        with full:
            state["now"] += 1
            state["peak"] = max(state["peak"], state["now"])
            full.notify_all()
            full.wait_for(lambda: state["peak"] >= 3 or server.stopping.is_set(), timeout=10)
        server.stopping.wait(0.05)  # a fetcher over the limit would start more meanwhile
        with full:
            state["now"] -= 1
        h.reply(200, FEED, {})  # type: ignore[attr-defined]

    server.route("/c", counted)
    results = fetch_all([FetchRequest(str(i), server.url("/c")) for i in range(12)], per_host=3)
    assert all(isinstance(r, Fetched) for r in results)
    assert state["peak"] == 3


def test_callable_from_inside_a_running_event_loop(server: FeedServer) -> None:
    server.feed("/rss", FEED)

    async def inside() -> Fetched | FetchError:
        return fetch(server.url("/rss"))

    assert ok(asyncio.run(inside())).body == FEED


def test_fetch_iter_yields_each_feed_as_it_completes(server: FeedServer) -> None:
    server.slow("/slow", FEED, delay=1.0)
    server.feed("/fast", FEED)
    requests = [FetchRequest("slow", server.url("/slow")), FetchRequest("fast", server.url("/fast"))]
    order = [(request.feed, type(result).__name__) for request, result in fetch_iter(requests)]
    assert order == [("fast", "Fetched"), ("slow", "Fetched")]
