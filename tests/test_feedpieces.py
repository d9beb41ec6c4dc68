"""A large feed parsed in pieces (`feedpieces`, one per parse worker) gives exactly what `parse_feed`
gives for the whole document: the same entries in order, the same feed fields and degraded reasons.

- property: generated feeds (RSS and Atom, CDATA, comments and other elements between items, nested
  items, namespaces, `xml:base`, entities, non-ASCII text, declared encodings, content types, empty
  and link-less items): every part agrees on whether the feed is split; split, the joined pieces are
  `parse_feed`'s outcome (or a piece fails, and the caller parses it whole)
- the 2,125 BBC articles as one feed, in 2 and 3 pieces
- what is not split: too few items, not well-formed, something between items, a legacy encoding
"""

from __future__ import annotations

import csv
from pathlib import Path
from xml.sax.saxutils import escape

import pytest
from hypothesis import HealthCheck, event, given, settings
from hypothesis import strategies as st

from monitor import feedpieces
from monitor.errors import ParseError
from monitor.parse import parse_feed
from monitor.records import Parsed

URL = "https://example.org/feed"
ARTICLES = Path(__file__).resolve().parents[2] / "shared" / "data" / "bbc-news" / "articles.csv"
WORDS = [
    "peace",
    "talks",
    "Zürich",
    "naïve",
    "£3bn",
    "U.S.-led",
    "don't",
    "1,000",
    "中文",
    "x&y",
    "<b>",
    "]]>",
]


def split(body: bytes, parts: int, content_type: str | None = None, min_items: int = 1) -> Parsed | None:
    """The feed parsed in pieces and joined; None when it is not split (or a piece failed)."""
    try:
        pieces = [
            feedpieces.piece_of(body, URL, content_type, k, parts, min_items=min_items) for k in range(parts)
        ]
    except feedpieces.SplitFailed:
        event("a piece failed")
        return None
    assert all(p is None for p in pieces) or all(p is not None for p in pieces)  # every part agrees
    if pieces[0] is None:
        return None
    return feedpieces.join([p for p in pieces if p is not None])


def whole(body: bytes, content_type: str | None = None) -> Parsed | ParseError:
    try:
        return parse_feed(body, URL, content_type)
    except ParseError as err:
        return err


text = st.lists(st.sampled_from(WORDS), max_size=6).map(" ".join)


@st.composite
def rss_item(draw: st.DrawFn) -> str:
    parts = []
    if draw(st.booleans()):
        parts.append(f"<title>{escape(draw(text))}</title>")
    if draw(st.booleans()):
        parts.append(
            f"<description><![CDATA[{draw(text).replace(']]>', '')} </item> <p>x</p>]]></description>"
        )
    else:
        parts.append(f"<description>{escape(draw(text))}</description>")
    if draw(st.booleans()):
        parts.append(
            f"<link>{draw(st.sampled_from(['/a', 'b/c', 'https://x.org/1', 'javascript:x']))}</link>"
        )
    if draw(st.booleans()):
        parts.append(f"<guid>g{draw(st.integers(0, 5))}</guid>")
    if draw(st.booleans()):
        parts.append(
            f"<dc:creator>{escape(draw(text))}</dc:creator><category>{escape(draw(text))}</category>"
        )
    if draw(st.booleans()):
        parts.append("<pubDate>Mon, 06 Sep 2021 16:45:00 +0200</pubDate>")
    if draw(st.integers(0, 9)) == 0:
        parts.append("<pubDate>not a date</pubDate>")
    if draw(st.integers(0, 9)) == 0:
        parts.append(
            draw(
                st.sampled_from(
                    [
                        "<item><title>nested</title></item>",
                        "<channel><title>inner</title></channel>",
                        "<image><title>img</title><url>https://x.org/i.png</url></image>",
                        "<source url='https://x.org/s'>src</source>",
                        "<textInput><title>ti</title></textInput>",
                        "<entry><title>e</title></entry>",
                    ]
                )
            )
        )
    if draw(st.integers(0, 5)) == 0:
        parts.append("&amp; &#233; &lt;tag&gt;")
    if draw(st.integers(0, 40)) == 0:
        return "<item/>"
    return "<item>" + "".join(draw(st.permutations(parts))) + "</item>"


@st.composite
def feeds(draw: st.DrawFn) -> tuple[bytes, str | None]:
    atom = draw(st.booleans())
    items = draw(st.lists(rss_item(), min_size=1, max_size=12))
    if atom:
        items = [i.replace("<item", "<entry").replace("</item>", "</entry>") for i in items]
        items = [
            i.replace("description>", "summary>").replace("<link>", "<link href='").replace("</link>", "'/>")
            for i in items
        ]
    gaps = draw(
        st.lists(
            st.sampled_from(["", "\n ", "\n ", " ", "", "\t", "<!-- c -->", "<ttl>5</ttl>"]),
            min_size=len(items),
            max_size=len(items),
        )
    )
    if draw(st.integers(0, 3)):
        gaps = [g if g.strip() == "" else "" for g in gaps]
    middle = "".join(g + i for g, i in zip(gaps, items, strict=True))
    encoding = draw(
        st.sampled_from(
            [
                "",
                "",
                ' encoding="utf-8"',
                ' encoding="UTF-8"',
                ' encoding="ISO-8859-1"',
                ' encoding="windows-1252"',
            ]
        )
    )
    head = f'<?xml version="1.0"{encoding}?>'
    title = escape(draw(text))
    if atom:
        doc = (
            f'{head}<feed xmlns="http://www.w3.org/2005/Atom" xmlns:dc="http://purl.org/dc/elements/1.1/"'
            ' xml:base="https://example.org/base/">'
            f"<title>{title}</title>{middle}</feed>"
        )
    else:
        doc = (
            f'{head}<rss version="2.0" xmlns:dc="http://purl.org/dc/elements/1.1/"><channel>'
            f"<title>{title}</title><ttl>{draw(st.integers(0, 90))}</ttl>{middle}"
            f"{draw(st.sampled_from(['', '<description>after</description>']))}</channel></rss>"
        )
    if not atom and "dc:creator" not in doc:
        doc = doc.replace(
            ' xmlns:dc="http://purl.org/dc/elements/1.1/"',
            draw(st.sampled_from(["", ' xmlns:dc="http://purl.org/dc/elements/1.1/"'])),
        )
    codec = "utf-8" if "8859" not in encoding and "1252" not in encoding else "cp1252"
    body = doc.encode(codec, errors="xmlcharrefreplace")
    if draw(st.integers(0, 9)) == 0:
        body = body.replace(b"</channel>", b"")  # not well-formed
    content_type = draw(
        st.sampled_from(
            [
                None,
                "application/rss+xml",
                "text/xml",
                "text/xml; charset=utf-8",
                "application/xml; charset=iso-8859-1",
            ]
        )
    )
    return body, content_type


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(feeds(), st.integers(2, 4))
def test_a_feed_in_pieces_parses_as_the_whole_document(feed: tuple[bytes, str | None], parts: int) -> None:
    body, content_type = feed
    joined = split(body, parts, content_type)
    event("split" if joined is not None else "parsed whole")
    if joined is not None:
        assert joined == whole(body, content_type)


def bbc_feed(count: int) -> bytes:
    csv.field_size_limit(10**7)
    with ARTICLES.open(encoding="utf-8", newline="") as f:
        rows = [
            dict(zip(("title", "content"), r["text"].split(". ", 1), strict=False)) for r in csv.DictReader(f)
        ]
    items = "".join(
        f"<item><title>{escape(r['title'])}</title><guid>bbc-{i}</guid><link>https://bbc.example.org/{i}</link>"
        f"<description>{escape(r.get('content', ''))}</description></item>\n"
        for i, r in enumerate(rows[:count])
    )
    return (
        f'<?xml version="1.0"?><rss version="2.0"><channel><title>bbc</title>{items}</channel></rss>'.encode()
    )


@pytest.mark.parametrize("parts", [2, 3])
def test_the_bbc_articles_in_pieces_are_the_whole_feed(parts: int) -> None:
    body = bbc_feed(10_000)
    joined = split(body, parts, min_items=feedpieces.MIN_ITEMS)
    assert joined is not None, "the feed was not split"
    plain = parse_feed(body, URL)
    assert len(plain.entries) > 2000
    assert joined == plain


def test_what_is_not_split_is_parsed_whole() -> None:
    body = bbc_feed(300)
    assert split(body, 2, min_items=feedpieces.MIN_ITEMS) is not None
    assert split(bbc_feed(60), 2, min_items=feedpieces.MIN_ITEMS) is None  # too few items
    assert split(body.replace(b"</item>\n", b"</item><!-- x -->", 1), 2) is None  # between items
    assert split(body.replace(b"</channel>", b""), 2) is None  # not well-formed
    legacy = body.replace(b'<?xml version="1.0"?>', b'<?xml version="1.0" encoding="iso-8859-1"?>')
    assert split(legacy.replace(b"bbc</title>", "bbc £</title>".encode()), 2) is None
    assert not body.isascii() and split(body, 2, "text/xml; charset=windows-1252") is None
    ascii_only = body.decode().encode("ascii", "xmlcharrefreplace")
    assert split(ascii_only, 2, "text/xml; charset=windows-1252") is not None  # read alike in any case
