"""HTTPS feeds: the certificate is verified against the feed's host name, also while connections are
pinned to the addresses the redirect policy checked (pinning.py connects to an address, not a name).

A test CA (trustme) signs the loopback server's certificate; `SSL_CERT_FILE` makes the fetcher trust
it, as a user with a private CA would. The resolver answers `feeds.test` with 127.0.0.1.
"""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path

import pytest
import trustme
from feeds import It, rss
from feedserver import FeedServer
from resolver import Dns

from monitor import fetch
from monitor.errors import FetchError
from monitor.fetch import fetch_all
from monitor.records import Fetched, FetchRequest

FEED = rss(It("Ceasefire talks resume", link="https://feeds.test/a"))


@pytest.fixture
def ca() -> trustme.CA:
    return trustme.CA()


@pytest.fixture
def trusted(ca: trustme.CA, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Iterator[None]:
    """The fetcher trusts the test CA (and only it), as with `SSL_CERT_FILE=/etc/ssl/private-ca.pem`."""
    ca.cert_pem.write_to_path(str(tmp_path / "ca.pem"))
    monkeypatch.setenv("SSL_CERT_FILE", str(tmp_path / "ca.pem"))
    fetch._ssl_context.cache_clear()  # the context is built once per process: build it again
    yield
    fetch._ssl_context.cache_clear()


def https_server(ca: trustme.CA, certified: str, dns: Dns) -> FeedServer:
    """An HTTPS feed server reached as https://feeds.test, holding a certificate for `certified`."""
    dns.answer("feeds.test", "127.0.0.1")
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    ca.issue_cert(certified).configure_cert(context)
    server = FeedServer(tls=context, host="feeds.test")
    server.feed("/feed.xml", FEED)
    return server


def test_an_https_feed_is_fetched_through_the_pinned_address_with_its_certificate_checked(
    ca: trustme.CA, trusted: None, dns: Dns
) -> None:
    with https_server(ca, "feeds.test", dns) as server:
        [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))])
        assert isinstance(result, Fetched), result
        assert b"Ceasefire talks resume" in result.body
        assert server.requests("/feed.xml")[0]["host"] == f"feeds.test:{server.port}"


def test_a_certificate_for_another_name_is_refused_although_the_address_is_pinned(
    ca: trustme.CA, trusted: None, dns: Dns
) -> None:
    with https_server(ca, "other.test", dns) as server:
        [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))])
        assert isinstance(result, FetchError), result
        assert "certificate" in result.reason.lower() and "feeds.test" in result.reason, result.reason
        assert not server.requests("/feed.xml")


def test_a_certificate_from_an_untrusted_authority_is_refused(ca: trustme.CA, dns: Dns) -> None:
    fetch._ssl_context.cache_clear()  # the default trust store (certifi), without the test CA
    with https_server(ca, "feeds.test", dns) as server:
        [result] = fetch_all([FetchRequest(feed="f", url=server.url("/feed.xml"))])
        assert isinstance(result, FetchError), result
        assert "certificate" in result.reason.lower(), result.reason
        assert not server.requests("/feed.xml")
