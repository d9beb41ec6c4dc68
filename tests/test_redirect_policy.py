"""Redirects from a public feed into a private network are refused; a feed on your own network may redirect.

Tests cannot reach a public address, so MONITOR_TEST_PUBLIC_HOSTS makes the loopback server's
`127.0.0.1` count as public; `localhost` (which resolves to loopback) stays private.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from feeds import It, rss
from feedserver import FeedServer

from monitor.errors import FetchError
from monitor.fetch import fetch_all
from monitor.records import Fetched, FetchRequest


@pytest.fixture
def server() -> Iterator[FeedServer]:
    with FeedServer() as server:
        server.feed("/secret.xml", rss(It("internal page", link="https://n.example/internal")))
        yield server


def test_a_public_feed_redirecting_to_loopback_is_refused(
    server: FeedServer, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_TEST_PUBLIC_HOSTS", "127.0.0.1")
    server.redirect("/feed.xml", f"http://localhost:{server.port}/secret.xml")
    [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))])
    assert isinstance(result, FetchError), result
    assert "redirect from a public address to a private, loopback or link-local one refused" in result.reason
    assert not server.requests("/secret.xml")


def test_a_feed_on_your_own_network_may_redirect_within_it(server: FeedServer) -> None:
    server.redirect("/feed.xml", f"http://localhost:{server.port}/secret.xml")
    [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))])
    assert isinstance(result, Fetched) and b"internal page" in result.body
