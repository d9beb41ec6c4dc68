"""parse_feed on real and hostile feed bytes: clean text, safe links, dates, bounded work, clear errors."""

from __future__ import annotations

import resource
import time
from datetime import UTC, datetime
from pathlib import Path

import pytest
from feedserver import FeedServer

from monitor.errors import ParseError
from monitor.fetch import fetch_all
from monitor.htmltext import TEXT_MAX, html_to_text
from monitor.parse import ENTRIES_MAX, TITLE_MAX, parse_feed
from monitor.records import Fetched, FetchRequest

SAMPLE = Path(__file__).resolve().parents[1] / "examples" / "feeds" / "sample.xml"
URL = "https://news.example.org/feeds/world.xml"


def rss(items: str, *, head: str = '<?xml version="1.0" encoding="utf-8"?>', channel: str = "") -> bytes:
    return f'{head}<rss version="2.0"><channel><title>News</title>{channel}{items}</channel></rss>'.encode()


def item(**fields: str) -> str:
    return "<item>" + "".join(f"<{k}>{v}</{k}>" for k, v in fields.items()) + "</item>"


def test_sample_feed_becomes_clean_entries() -> None:
    parsed = parse_feed(SAMPLE.read_bytes(), SAMPLE.as_uri())
    assert parsed.title == "monitor sample news" and parsed.degraded is None
    first = parsed.entries[0]
    assert first.guid == "sample-seed-coalition"
    assert first.link == "https://news.example.org/world/uk-coalition-of-the-willing"
    assert first.published == datetime(2025, 3, 15, 12, 0, tzinfo=UTC)
    assert first.categories == ("world",)
    assert "Our militaries will meet this Thursday in the UK" in first.content
    assert "<p>" not in first.content and "&#x27;" not in parsed.entries[1].summary


def test_markup_becomes_plain_text() -> None:
    summary = "<![CDATA[<p>Fish &amp; <b>chips</b>&nbsp;today</p><script>alert(1)</script><style>p{}</style>\n\n<br/>end]]>"
    entry = parse_feed(rss(item(title="A &lt;b&gt; title", description=summary)), URL).entries[0]
    assert entry.summary == "Fish & chips today end"
    assert entry.title == "A <b> title"  # a plain-text title keeps its (escaped) angle brackets as text
    assert html_to_text("a < b and <i>c</i> &lt;tag&gt; <!-- hidden -->d") == "a < b and c <tag> d"


@pytest.mark.parametrize(
    ("link", "expected"),
    [
        ("https://example.org/a", "https://example.org/a"),
        ("/world/story?id=1", "https://news.example.org/world/story?id=1"),
        ("story.html", "https://news.example.org/feeds/story.html"),
        ("//cdn.example.org/x", "https://cdn.example.org/x"),
        ("javascript:alert(1)", None),
        ("JaVaScRiPt:alert(1)", None),
        ("java\tscript:alert(1)", None),
        ("data:text/html,<script>alert(1)</script>", None),
        ("vbscript:msgbox", None),
        ("mailto:a@example.org", None),
        ("file:///etc/passwd", None),
        ("http://", None),
    ],
)
def test_only_http_links_survive(link: str, expected: str | None) -> None:
    escaped = link.replace("&", "&amp;").replace("<", "&lt;")
    entry = parse_feed(rss(item(title="t", link=escaped)), URL).entries[0]
    assert entry.link == expected


def test_relative_links_of_a_local_file_are_dropped() -> None:
    assert parse_feed(rss(item(title="t", link="/x")), "file:///srv/feed.xml").entries[0].link is None


def test_malformed_xml_keeps_items_and_says_why() -> None:
    body = rss("\n" + item(title="one", link="https://a.org/1") + "\n<item><title>two</b></title></item>")
    parsed = parse_feed(body, URL)
    assert parsed.degraded == "not well-formed XML (line 3): mismatched tag"
    assert [e.title for e in parsed.entries][:1] == ["one"] and len(parsed.entries) == 2


def test_entity_bomb_is_defused_fast_and_reported() -> None:
    head = '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "' + "A" * 3000 + '">\n]>\n'
    body = rss(item(title="bomb", description="&big;" * 5000), head=head)  # 28 KB: 15 MB if expanded
    start, memory = time.monotonic(), resource.getrusage(resource.RUSAGE_SELF).ru_maxrss
    parsed = parse_feed(body, URL)
    assert time.monotonic() - start < 1
    assert resource.getrusage(resource.RUSAGE_SELF).ru_maxrss - memory < 50 * 1024  # KB
    assert "entity declarations removed" in parsed.degraded
    assert parsed.entries[0].title == "bomb" and "A" * 100 not in parsed.entries[0].summary


def test_pathological_author_field_is_cut_before_parsing() -> None:
    body = rss(item(title="t", author="a" * 1_000_000, **{"dc:creator": "b" * 100_000}))
    body = body.replace(b'version="2.0"', b'version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"')
    start = time.monotonic()
    parsed = parse_feed(body, URL)
    assert time.monotonic() - start < 1
    assert parsed.degraded == "overlong author fields cut"
    assert len(parsed.entries[0].author) <= 256


def test_iso_8859_1_declared_in_header_and_xml_decodes() -> None:
    body = rss(item(title="Café à Zürich"), head='<?xml version="1.0" encoding="ISO-8859-1"?>').decode()
    latin1 = body.encode("iso-8859-1")
    both = parse_feed(latin1, URL, "application/rss+xml; charset=ISO-8859-1")
    assert both.entries[0].title == "Café à Zürich" and both.degraded is None
    header_only = latin1.replace(b' encoding="ISO-8859-1"', b"")
    assert parse_feed(header_only, URL, "text/xml; charset=iso-8859-1").entries[0].title == "Café à Zürich"


def test_utf16_feed_decodes() -> None:
    body = rss(item(title="Grüße"), head='<?xml version="1.0" encoding="utf-16"?>').decode().encode("utf-16")
    assert parse_feed(body, URL).entries[0].title == "Grüße"


@pytest.mark.parametrize(
    ("body", "reason"),
    [
        (b"", "empty document"),
        (b"  \n ", "empty document"),
        (
            b"<!DOCTYPE html><html><head><title>Home</title></head><body><p>Hi</p></body></html>",
            "an HTML page",
        ),
        (b"\x89PNG\r\n\x1a\n\0\0\0\rIHDR" + bytes(range(256)) * 4, "binary data"),
        (b'<?xml version="1.0"?><config><a>1</a></config>', "not an RSS or Atom feed"),
    ],
)
def test_bytes_that_are_not_a_feed_raise_parse_error_naming_the_url(body: bytes, reason: str) -> None:
    with pytest.raises(ParseError) as caught:
        parse_feed(body, URL)
    assert caught.value.reason.startswith(reason) and URL in str(caught.value)


def test_a_body_that_is_a_file_path_is_never_opened(tmp_path: Path) -> None:
    local = tmp_path / "feed.xml"
    local.write_bytes(rss(item(title="secret")))
    with pytest.raises(ParseError):
        parse_feed(str(local).encode(), URL)


def test_fields_are_capped() -> None:
    body = rss(item(title="T" * 5000, description="word " * 60_000, category="c" * 1000))
    entry = parse_feed(body, URL).entries[0]
    assert len(entry.title) == TITLE_MAX and len(entry.summary) <= TEXT_MAX
    assert len(entry.categories[0]) == 128


def test_dates_are_utc_aware_or_none() -> None:
    items = [
        item(title="a", pubDate="Sat, 15 Mar 2025 14:00:00 +0200"),
        item(title="b"),
        item(title="c", pubDate="Mon, 01 Jan 1855 00:00:00 GMT"),
        item(title="d", pubDate="Fri, 01 Jan 2999 00:00:00 GMT"),
        item(title="e", pubDate="not a date"),
    ]
    dates = [e.published for e in parse_feed(rss("".join(items)), URL).entries]
    assert dates == [datetime(2025, 3, 15, 12, 0, tzinfo=UTC), None, None, None, None]


def test_ttl_is_read() -> None:
    assert parse_feed(rss(item(title="t"), channel="<ttl>60</ttl>"), URL).ttl_minutes == 60
    assert parse_feed(rss(item(title="t")), URL).ttl_minutes is None


def test_atom_feed() -> None:
    body = b"""<?xml version="1.0" encoding="utf-8"?>
<feed xmlns="http://www.w3.org/2005/Atom"><title type="html">Atom &lt;i&gt;news&lt;/i&gt;</title>
<entry><id>urn:uuid:1</id><title>First</title><link rel="alternate" href="/a/1"/>
<updated>2025-03-15T12:00:00Z</updated><author><name>Jane Roe</name></author>
<summary type="html">&lt;p&gt;Hello &amp;amp; bye&lt;/p&gt;</summary>
<content type="xhtml"><div xmlns="http://www.w3.org/1999/xhtml"><p>Body <b>text</b></p></div></content>
<category term="world"/><category term="uk"/></entry></feed>"""
    parsed = parse_feed(body, "https://atom.example.org/feed")
    entry = parsed.entries[0]
    assert parsed.title == "Atom news"
    assert (entry.guid, entry.link, entry.author) == (
        "urn:uuid:1",
        "https://atom.example.org/a/1",
        "Jane Roe",
    )
    assert (entry.summary, entry.content, entry.categories) == ("Hello & bye", "Body text", ("world", "uk"))
    assert entry.published == datetime(2025, 3, 15, 12, 0, tzinfo=UTC)


def test_too_many_items_are_cut_cleanly() -> None:
    parsed = parse_feed(rss(item(title="x", guid="g") * (ENTRIES_MAX + 500)), URL)
    assert len(parsed.entries) == ENTRIES_MAX
    assert parsed.degraded == f"cut to the first {ENTRIES_MAX} items"


def test_large_malformed_feed_reads_only_its_start_in_bounded_time() -> None:
    body = rss(
        item(title="first") + "<item><title>x</title><description><p>word</description></item>" * 12_000
    )
    start = time.monotonic()
    parsed = parse_feed(body, URL)
    assert time.monotonic() - start < 10
    assert parsed.entries[0].title == "first"
    assert parsed.degraded.endswith("only the first 512 KB read")


BOMB_HEAD = '<?xml version="1.0"?>\n<!DOCTYPE rss [\n<!ENTITY big "' + "A" * 3000 + '">\n]>\n'
SERVED = {
    "/bomb": (
        rss(item(title="bomb", description="&big;" * 5000), head=BOMB_HEAD),
        "text/xml",
        "entity declarations",
    ),
    "/author": (
        rss(item(title="t", author="a" * 500_000)),
        "application/rss+xml",
        "overlong author fields cut",
    ),
    "/broken": (
        rss(item(title="one") + "\n<item><title>two</b></title></item>"),
        "text/xml",
        "not well-formed XML",
    ),
    "/latin1": (
        rss(item(title="Café"), head='<?xml version="1.0" encoding="ISO-8859-1"?>')
        .decode()
        .encode("latin-1"),
        "application/rss+xml; charset=ISO-8859-1",
        None,
    ),
}


@pytest.mark.parametrize("path", sorted(SERVED))
def test_hostile_feeds_fetched_from_a_server_parse_with_their_items(path: str) -> None:
    body, content_type, degraded = SERVED[path]
    with FeedServer() as server:
        server.feed(path, body, content_type=content_type)
        fetched = fetch_all([FetchRequest("f", server.url(path))])[0]
    assert isinstance(fetched, Fetched)
    start = time.monotonic()
    parsed = parse_feed(fetched.body, fetched.final_url, fetched.content_type)
    assert time.monotonic() - start < 1
    assert parsed.entries[0].title in ("bomb", "t", "one", "Café")
    assert parsed.degraded is None if degraded is None else degraded in parsed.degraded


def test_an_html_page_from_a_server_is_a_parse_error() -> None:
    with FeedServer() as server:
        server.feed("/", b"<!doctype html><html><body>Welcome</body></html>", content_type="text/html")
        fetched = fetch_all([FetchRequest("f", server.url("/"))])[0]
    assert isinstance(fetched, Fetched)
    with pytest.raises(ParseError, match="an HTML page, not a feed"):
        parse_feed(fetched.body, fetched.final_url, fetched.content_type)
