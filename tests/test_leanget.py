"""The lean GET (monitor/leanget.py) sends and stores exactly what httpx's full client path does.

Each case runs the same fetch twice against a real loopback server, once with `leanget.LEAN` and once
without (httpx's `AsyncClient.stream`), and compares what the server received (every header, in
order, as sent) and what the fetch returned (a `Fetched` or a `FetchError`), over hypothesis-drawn
answers: 200 with a body, 304 with or without validators, redirects, error statuses with or without
Retry-After, cache lifetimes and cookies. Then the cases where the lean path must step aside: a URL
with a user name and password, cookies kept by a long-lived client, a proxy from the environment.
"""

from __future__ import annotations

import dataclasses
import itertools
from collections.abc import Iterator

import pytest
from feedserver import FeedServer
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from monitor import leanget
from monitor.errors import FetchError
from monitor.fetch import fetch_all
from monitor.fetchloop import FetchLoop
from monitor.records import Fetched, FetchRequest

_paths = itertools.count()
Sent = list[tuple[str, str]]


@pytest.fixture(scope="module")
def server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        yield server


def _capture(server: FeedServer, path: str, code: int, headers: dict[str, str], body: bytes) -> list[Sent]:
    """Answer `path` with `code`, and keep every request's headers as sent (names' case, order)."""
    sent: list[Sent] = []

    def handle(h: object) -> None:
        sent.append(list(h.headers.items()))  # type: ignore[attr-defined]
        h.reply(code, body, headers)  # type: ignore[attr-defined]

    server.route(path, handle)
    return sent


def _both(monkeypatch: pytest.MonkeyPatch, requests: list[FetchRequest]) -> tuple[list[object], list[object]]:
    """The same fetches through the lean path, then through httpx's client path."""
    out = []
    for lean in (True, False):
        monkeypatch.setattr(leanget, "LEAN", lean)
        out.append([_comparable(r) for r in fetch_all(requests, deadline=10)])
    return out[0], out[1]


def _comparable(result: Fetched | FetchError) -> object:
    if isinstance(result, FetchError):
        return ("error", result.url, result.reason, result.status, result.retry_after)
    return dataclasses.replace(result, elapsed=0.0)


answers = st.fixed_dictionaries(
    {
        "code": st.sampled_from([200, 304, 301, 302, 307, 404, 410, 429, 500, 503]),
        "etag": st.none() | st.sampled_from(['"v1"', 'W/"v2"', '"a-b"']),
        "modified": st.none() | st.just("Wed, 02 Dec 2026 10:00:00 GMT"),
        "cache": st.none() | st.sampled_from(["max-age=600", "no-cache", 'max-age="60", public']),
        "retry": st.none() | st.sampled_from(["120", "Thu, 03 Dec 2026 10:00:00 GMT", "soon"]),
        "cookie": st.booleans(),
        "body": st.sampled_from([b"", b"<rss><channel><title>t</title></channel></rss>"]),
    }
)
validators = st.tuples(
    st.none() | st.sampled_from(['"v1"', '"old"']), st.none() | st.just("Tue, 01 Dec 2026 09:00:00 GMT")
)


@settings(max_examples=60, deadline=None, suppress_health_check=[HealthCheck.function_scoped_fixture])
@given(answer=answers, sent=validators)
def test_a_poll_is_the_same_through_the_lean_path(
    server: FeedServer,
    monkeypatch: pytest.MonkeyPatch,
    answer: dict[str, object],
    sent: tuple[str | None, str | None],
) -> None:
    path, final = f"/lean/{next(_paths)}.xml", f"/lean/{next(_paths)}.xml"
    headers = {
        name: value
        for name, value in (
            ("ETag", answer["etag"]),
            ("Last-Modified", answer["modified"]),
            ("Cache-Control", answer["cache"]),
            ("Retry-After", answer["retry"]),
            ("Set-Cookie", "session=abc; Path=/" if answer["cookie"] else None),
        )
        if value is not None
    }
    code = int(answer["code"])  # type: ignore[call-overload]
    if code in (301, 302, 307):
        headers["Location"] = final
    body = answer["body"] if code not in (304,) else b""
    first = _capture(server, path, code, headers, body)  # type: ignore[arg-type]
    then = _capture(server, final, 200, {"ETag": '"end"'}, b"<rss/>")
    etag, modified = sent
    lean, full = _both(monkeypatch, [FetchRequest("f", server.url(path), etag=etag, last_modified=modified)])
    assert lean == full
    assert len(first) == 2 and first[0] == first[1]  # the same headers, in the same order, both times
    assert len(then) in (0, 2) and then[:1] == then[1:]  # a redirect's next hop too


def test_a_long_lived_client_sends_the_cookies_it_was_given_on_both_paths(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    seen = []
    for lean in (True, False):
        monkeypatch.setattr(leanget, "LEAN", lean)
        path = f"/cookie/{next(_paths)}.xml"
        sent = _capture(server, path, 304, {"Set-Cookie": "session=abc; Path=/", "ETag": '"v"'}, b"")
        loop = FetchLoop(deadline=10)
        try:
            for _ in range(2):
                [(_req, result)] = list(loop.fetch_iter([FetchRequest("f", server.url(path), etag='"v"')]))
                assert isinstance(result, Fetched) and result.status == 304
        finally:
            loop.close()
        assert ("Cookie", "session=abc") in sent[1] and not any(n == "Cookie" for n, _v in sent[0])
        seen.append(sent)
    assert seen[0] == seen[1]


def test_a_url_with_a_password_sends_the_same_basic_auth(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    path = f"/auth/{next(_paths)}.xml"
    sent = _capture(server, path, 304, {"ETag": '"v"'}, b"")
    url = server.url(path).replace("http://", "http://reader:s3cret@")
    lean, full = _both(monkeypatch, [FetchRequest("f", url, etag='"v"')])
    assert lean == full
    assert sent[0] == sent[1] and ("Authorization", "Basic cmVhZGVyOnMzY3JldA==") in sent[0]


def test_a_proxy_in_the_environment_serves_both_paths(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    """HTTP_PROXY names the loopback server: both paths send the poll to it (a proxy's request, the
    absolute URL of a host this machine cannot resolve), and both store its 304 alike; NO_PROXY then
    takes the host off the proxy again."""
    url = "http://feeds.invalid/proxied.xml"
    sent = _capture(server, url, 304, {"ETag": '"v"'}, b"")
    for name in ("NO_PROXY", "no_proxy", "ALL_PROXY", "all_proxy", "http_proxy"):
        monkeypatch.delenv(name, raising=False)
    monkeypatch.setenv("HTTP_PROXY", server.url(""))
    lean, full = _both(monkeypatch, [FetchRequest("f", url, etag='"v"')])
    assert lean == full and isinstance(full[0], Fetched) and full[0].status == 304
    assert len(sent) == 2 and sent[0] == sent[1]
    monkeypatch.setenv("NO_PROXY", "feeds.invalid")
    lean, full = _both(monkeypatch, [FetchRequest("f", url, etag='"v"')])
    assert lean == full and full[0][:3] == (
        "error",
        url,
        "cannot connect",
    )  # straight to a host that does not resolve
    assert len(sent) == 2
