"""Redirects from a public feed into a private network are refused; a feed on your own network may redirect.

Tests cannot reach a public address, so MONITOR_TEST_PUBLIC_HOSTS makes the loopback server's
`127.0.0.1` count as public; `localhost` (which resolves to loopback) stays private.
"""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from feeds import It, rss
from feedserver import FeedServer
from resolver import Dns

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


def test_a_dns_answer_that_changes_after_the_check_does_not_reach_loopback(
    server: FeedServer, dns: Dns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """DNS rebinding: the redirect target answers a global address when it is checked, then 127.0.0.1.

    The global address is a multicast one (ipaddress counts it global): TCP cannot connect to it, so
    the request connected to the address that was checked fails at once, on any machine.
    """
    monkeypatch.setenv("MONITOR_TEST_PUBLIC_HOSTS", "127.0.0.1")
    dns.answer("rebind.test", "224.0.0.77", "127.0.0.1")
    server.redirect("/feed.xml", f"http://rebind.test:{server.port}/secret.xml")
    [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))], deadline=10)
    assert not server.requests("/secret.xml")
    assert isinstance(result, FetchError), result
    assert dns.asked["rebind.test"] == 1  # resolved once: the check and the connection agree


def test_the_feed_host_is_resolved_once_and_connected_to_that_address(
    server: FeedServer, dns: Dns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A public feed whose name later answers 127.0.0.1 may not redirect into loopback either."""
    monkeypatch.setenv("MONITOR_TEST_PUBLIC_HOSTS", "feed.test")
    dns.answer("feed.test", "127.0.0.1", "127.0.0.2")
    server.redirect("/feed.xml", f"http://localhost:{server.port}/secret.xml")
    [result] = fetch_all([FetchRequest(feed="f", url=f"http://feed.test:{server.port}/feed.xml")])
    assert isinstance(result, FetchError), result
    assert "refused" in result.reason and not server.requests("/secret.xml")
    assert dns.asked["feed.test"] == 1


def test_a_redirect_to_another_public_host_is_followed(
    server: FeedServer, dns: Dns, monkeypatch: pytest.MonkeyPatch
) -> None:
    """The target's addresses are tried in the resolver's order: nothing listens on 127.0.0.2."""
    monkeypatch.setenv("MONITOR_TEST_PUBLIC_HOSTS", "127.0.0.1,mirror.test")
    dns.answer("mirror.test", "127.0.0.2 127.0.0.1", "127.0.0.2")
    server.redirect("/feed.xml", f"http://mirror.test:{server.port}/secret.xml")
    [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))])
    assert isinstance(result, Fetched) and b"internal page" in result.body, result
    assert result.final_url == f"http://mirror.test:{server.port}/secret.xml"
    assert server.requests("/secret.xml")[0]["host"] == f"mirror.test:{server.port}"
    assert dns.asked["mirror.test"] == 1


def test_a_refused_redirect_names_its_target_without_credentials(
    server: FeedServer, dns: Dns, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setenv("MONITOR_TEST_PUBLIC_HOSTS", "127.0.0.1")
    dns.answer("mapped.test", "::ffff:127.0.0.1")  # loopback written as an IPv6 address
    target = f"http://alice:hunter2@mapped.test:{server.port}/secret.xml?token=s3cr3t&page=2"
    server.redirect("/feed.xml", target)
    [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))])
    assert isinstance(result, FetchError), result
    assert f"refused (http://mapped.test:{server.port}/secret.xml?token=***&page=2)" in result.reason
    assert "hunter2" not in str(result) and "s3cr3t" not in str(result) and "alice" not in str(result)
    assert not server.requests("/secret.xml")
