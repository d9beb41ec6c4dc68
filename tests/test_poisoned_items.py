"""One poisoned item costs at most that item: NUL, lone surrogates, huge items, impossible offsets, credentials."""

from __future__ import annotations

from collections.abc import Iterator

import pytest
from conftest import Project
from feedserver import FeedServer
from pg import fresh_database
from test_feed_health import Feeds

from monitor.parse import parse_feed

URL = "https://news.example.org/feed.xml"


def rss(items: str, *, head: str = '<?xml version="1.0" encoding="utf-8"?>') -> bytes:
    return f'{head}<rss version="2.0"><channel><title>News</title>{items}</channel></rss>'.encode()


def item(title: str, link: str = "", extra: str = "") -> str:
    return f"<item><title>{title}</title><link>{link or 'https://h.example/' + title}</link>{extra}</item>"


GOOD = "".join(item(f"good{n}") for n in range(5))


def test_a_lone_surrogate_in_one_title_costs_no_item() -> None:
    parsed = parse_feed(rss(item("bad &#xD800; title") + GOOD), URL)
    assert [e.title for e in parsed.entries] == ["bad \ufffd title", *(f"good{n}" for n in range(5))]
    assert parsed.degraded and "invalid characters" in parsed.degraded


@pytest.mark.parametrize("link", ["https://h.example/a&#0;b", "https://h.example/a\0b"])
def test_a_nul_in_a_link_never_reaches_an_entry(link: str) -> None:
    parsed = parse_feed(rss(item("bad", link) + GOOD), URL)
    assert len(parsed.entries) == 6
    assert all("\0" not in (e.link or "") + e.title for e in parsed.entries)
    assert parsed.degraded and "invalid characters" in parsed.degraded


def test_one_huge_item_in_a_broken_feed_hides_no_later_item() -> None:
    huge = item("huge", extra="<description>" + "word &amp; " * 100_000 + "</description>")
    parsed = parse_feed(rss(item("first") + huge + GOOD + "<item><title>broken</b></title></item>"), URL)
    titles = [e.title for e in parsed.entries]
    assert titles[:2] == ["first", "huge"] and all(f"good{n}" in titles for n in range(5))
    assert parsed.degraded and "1 item over 64 KB cut" in parsed.degraded


@pytest.mark.parametrize("date", ["Mon, 01 Jan 2024 10:00:00 +9999", "2024-01-01T10:00:00+99:99"])
def test_an_impossible_time_zone_offset_is_refused_not_applied(date: str) -> None:
    parsed = parse_feed(rss(item("dated", extra=f"<pubDate>{date}</pubDate>")), URL)
    assert parsed.entries[0].published is None
    assert parsed.degraded and "impossible time zone offset ignored (+99:99)" in parsed.degraded


def test_a_possible_offset_still_applies() -> None:
    parsed = parse_feed(rss(item("dated", extra="<pubDate>Mon, 01 Jan 2024 10:00:00 +0130</pubDate>")), URL)
    assert parsed.entries[0].published is not None and parsed.entries[0].published.hour == 8
    assert parsed.degraded is None


def test_credentials_in_an_item_link_are_dropped() -> None:
    parsed = parse_feed(rss(item("creds", "http://user:pass@h.example/x?y=1")), URL)
    assert parsed.entries[0].link == "http://h.example/x?y=1"


@pytest.mark.parametrize(
    "prolog",
    [
        b"<!-- <a -->",
        b"<?pi <a ?>",
        b'<?xml-stylesheet href="x.xsl?a=<b>"?>',
        b"<!-- '\" -->",
    ],
    ids=["comment", "processing-instruction", "stylesheet", "quotes-in-comment"],
)
@pytest.mark.parametrize(
    "subset",
    [
        b'<!ENTITY e "EXPANDED-INTERNAL-ENTITY">',
        b'<?pi <a ?><!ENTITY e "EXPANDED-INTERNAL-ENTITY">',
        b'<!ENTITY q "<a>"><!-- <b --><!ENTITY e "EXPANDED-INTERNAL-ENTITY">',
        b"<!ENTITY q ']>'><!ENTITY e 'EXPANDED-INTERNAL-ENTITY'>",
    ],
    ids=["plain", "pi-inside", "markup-in-a-literal", "brackets-in-a-literal"],
)
def test_entity_declarations_hidden_anywhere_in_the_prolog_are_removed(prolog: bytes, subset: bytes) -> None:
    body = (
        b'<?xml version="1.0"?>' + prolog + b"<!DOCTYPE rss [" + subset + b"]>"
        b'<rss version="2.0"><channel><title>t</title><item><title>A &e; B</title></item></channel></rss>'
    )
    parsed = parse_feed(body, URL)
    assert "EXPANDED" not in parsed.entries[0].title
    assert parsed.degraded and "entity declarations removed" in parsed.degraded


def test_a_feed_without_a_prolog_keeps_its_root_and_is_not_degraded() -> None:
    body = (
        b'<rss version="2.0"><channel><title>t</title><item><title>A &amp; B</title></item></channel></rss>'
    )
    parsed = parse_feed(b'<?xml version="1.0"?>\n<?xml-stylesheet href="s.xsl"?>\n<!-- c -->\n' + body, URL)
    assert parsed.entries[0].title == "A & B" and parsed.degraded is None


@pytest.fixture
def pg_project(project: Project) -> Iterator[Project]:
    with fresh_database() as url:
        project.env["MONITOR_DB"] = url
        yield project


def test_a_nul_in_one_link_costs_no_item_on_postgresql(pg_project: Project) -> None:
    with FeedServer() as server:
        feeds = Feeds(pg_project, server, {"poisoned": "/p.xml 60s"})
        body = rss(
            item("troops bad", "https://h.example/a&#0;b") + item("troops raw", "https://h.example/c\0d")
        )
        server.status("/p.xml", 200, body=body + b"", headers={"Content-Type": "application/rss+xml"})
        feeds.poll()
        state = feeds.state("poisoned")
        assert (state.status, state.items) == ("degraded", 2)
        assert "invalid characters" in (state.reason or "")
