"""Feed text as feedparser's corpus showed it should read (issue 13); every feed here is written for the test.

Each case names the file of feedparser's test corpus (tests/ in the feedparser repository) that showed
the difference; none of those files is copied.
"""

from __future__ import annotations

import html
import time

import pytest

from monitor.htmltext import html_to_text
from monitor.parse import parse_feed

URL = "https://news.example.org/feeds/world.xml"


def rss_with(description_html: str) -> bytes:
    """An RSS feed whose one item has `description_html` as its (escaped) HTML description."""
    escaped = html.escape(description_html, quote=False)
    return (
        '<?xml version="1.0" encoding="utf-8"?><rss version="2.0"><channel><title>News</title>'
        f"<item><title>Minister</title><description>{escaped}</description></item></channel></rss>"
    ).encode()


@pytest.mark.parametrize(
    ("markup", "expected"),
    [
        # sanitize/item_description_iframe.xml (and the other self-closed embeds of sanitize/)
        ('Intro<iframe src="x"/><p>After the video, the minister resigned.</p>',
         "Intro After the video, the minister resigned."),
        # sanitize/item_description_object.xml
        ('Intro<object data="x.swf"/><p>After the video, the minister resigned.</p>',
         "Intro After the video, the minister resigned."),
        # sanitize/item_description_script_src.xml
        ('Intro<script src="x.js"/><p>After the script, the minister resigned.</p>',
         "Intro After the script, the minister resigned."),
        # sanitize/item_description_svg.xml
        ('Intro<svg width="10" height="10"/><p>After the drawing, the minister resigned.</p>',
         "Intro After the drawing, the minister resigned."),
        # unclosed: the text after a never-closed iframe is kept
        ('Intro<iframe src="x"><p>After the video, the minister resigned.</p>',
         "Intro After the video, the minister resigned."),
        # atom10/tag_in_attr.xml: a '>' inside a quoted attribute value stays in the tag
        ('<img alt="growth > 5%" src="x.png">Growth is up', "Growth is up"),
        ("<a title='a > b' href='/x'>the link</a> text", "the link text"),
        # closed scripts, styles and iframes still lose their content, even with markup inside
        ('a<script>var s = "</p><b>x</b>";</script> b', "a b"),
        ("a<style>p > b { color: red }</style> b", "a b"),
        ('a<iframe src="x">fallback</iframe> b', "a b"),
        ("<p>one</p><p>two</p>three<b>four</b>", "one two threefour"),
        ("AT&amp;T &lt;b&gt; &eacute;", "AT&T <b> é"),
    ],
)  # fmt: skip
def test_html_text_reads_as_an_html5_parser_reads_it(markup: str, expected: str) -> None:
    assert html_to_text(markup) == expected
    (entry,) = parse_feed(rss_with(markup), URL).entries
    assert entry.summary == expected


def test_hostile_markup_stays_bounded() -> None:
    """Deep nesting, endless unclosed tags and quotes: linear time, never a crash."""
    for markup in (
        "<div>" * 100_000 + "deep",
        "<script src='" * 50_000,
        '<iframe a="' * 50_000 + "text",
        "</" * 200_000,
        "<p title='" + "x" * 400_000,
    ):
        start = time.perf_counter()
        html_to_text(markup)
        assert time.perf_counter() - start < 2


def test_utf32be_without_byte_order_mark_reads_as_feedparser_reads_it() -> None:
    # encoding/utf-32be.xml
    body = (
        '<?xml version="1.0" encoding="utf-32be"?><rss version="2.0"><channel><title>Grüße</title>'
        "<item><title>Grüße aus Köln</title></item></channel></rss>"
    ).encode("utf-32-be")
    assert not body.startswith(b"\0\0\xfe\xff")
    parsed = parse_feed(body, URL)
    assert parsed.entries[0].title == "Grüße aus Köln"
    little = body.decode("utf-32-be").encode("utf-32-le")
    assert parse_feed(little, URL).entries[0].title == "Grüße aus Köln"


LEGACY = {
    # encoding/ files without an encoding declared, in KOI8-R, Shift-JIS and EUC-KR
    "koi8-r": "Министр финансов подал в отставку после заседания правительства о новых мерах",
    "shift_jis": "東京で首相が記者会見を開き、新しい経済対策を発表しました。大臣は辞任しました。",
    "euc-kr": "서울에서 대통령이 기자회견을 열고 새로운 경제 대책을 발표했습니다. 장관이 사임했습니다.",
}


@pytest.mark.parametrize("encoding", list(LEGACY))
def test_an_undeclared_legacy_encoding_is_detected_and_the_feed_marked_degraded(encoding: str) -> None:
    text = LEGACY[encoding]
    body = (
        '<?xml version="1.0"?><rss version="2.0"><channel><title>News</title>'
        f"<item><title>{text[:30]}</title><description>{text}</description></item></channel></rss>"
    ).encode(encoding)
    parsed = parse_feed(body, URL, "application/rss+xml")
    assert parsed.entries[0].summary == text
    assert parsed.degraded is not None and "encoding not declared" in parsed.degraded


def test_a_declared_legacy_encoding_is_trusted_and_not_degraded() -> None:
    text = LEGACY["koi8-r"]
    body = (
        '<?xml version="1.0" encoding="koi8-r"?><rss version="2.0"><channel><title>News</title>'
        f"<item><title>{text}</title></item></channel></rss>"
    ).encode("koi8-r")
    parsed = parse_feed(body, URL)
    assert parsed.entries[0].title == text and parsed.degraded is None
