"""Article pages as news sites serve them: the story inside navigation, a cookie banner, a "most read"
box, a footer, scripts and styles. Used by the full-text tests and by bench/fulltext.py.

    page = article_page("Headline", paragraphs)        # bytes of one HTML page
    BOILERPLATE_SENTENCES                               # every sentence of the site chrome, to check none is kept
    bbc_articles(csv_path)                              # (headline, paragraphs) from the BBC data set

The chrome is built to trap a matcher: its navigation and teasers say "Thursday briefing", "UK",
"military" and "meeting", so an extractor that keeps any of it makes the sample rule match a page
that does not say it.
"""

from __future__ import annotations

import contextlib
import csv
import html
import re
import threading
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

from feeds import It, rss
from feedserver import FeedServer

REPO = Path(__file__).resolve().parents[1]

NAV = ("Home", "UK politics", "Military and defence", "Thursday briefing", "World", "Business", "Sport")
COOKIE = (
    "We use cookies to give you the best online experience on Thursday and every other day.",
    "Please let us know if you agree to all of these cookies from the UK meeting of our partners.",
)
MOST_READ = (
    "UK military chiefs hold emergency meeting on Thursday over defence cuts.",
    "Thursday briefing: what the British army meeting means for you.",
    "Weather warning for Thursday across the United Kingdom.",
    "Military parade meeting point moved in central London.",
    "Five things to know before Thursday's cabinet meeting in the UK.",
)
FOOTER = (
    "Copyright 2025 Example News Group, registered in the UK.",
    "Terms of use, privacy policy and cookies: read about our approach to military-grade security.",
    "Sign up for the Thursday briefing newsletter and never miss a meeting.",
)
RELATED = (
    "Related: Army meeting with UK ministers set for Thursday.",
    "Analysis: the military budget row behind Thursday's vote.",
)
SHARE = "Share this story on Thursday with your UK friends"
SCRIPT_TEXT = "Thursday UK military meeting tracker loaded"
BOILERPLATE_SENTENCES: tuple[str, ...] = (*NAV, *COOKIE, *MOST_READ, *FOOTER, *RELATED, SHARE, SCRIPT_TEXT)


def article_page(title: str, paragraphs: Sequence[str]) -> bytes:
    """A full HTML page with the article in a realistic site layout."""
    e = html.escape
    nav = "".join(f'<li><a href="/section/{i}">{e(n)}</a></li>' for i, n in enumerate(NAV))
    paras = [f"<p>{e(p)}</p>" for p in paragraphs]
    related = "".join(f'<li><a href="/related/{i}">{e(r)}</a></li>' for i, r in enumerate(RELATED))
    paras.insert(min(2, len(paras)), f'<div class="related-links"><ul>{related}</ul></div>')
    body = "".join(paras)
    most = "".join(f'<li><a href="/story/{i}">{e(m)}</a></li>' for i, m in enumerate(MOST_READ))
    foot = "".join(f"<p>{e(f)}</p>" for f in FOOTER)
    return (
        "<!DOCTYPE html><html lang='en'><head><meta charset='utf-8'>"
        f"<title>{e(title)} - Example News</title>"
        "<style>body{font-family:sans-serif} .cookie{position:fixed} nav li{display:inline}</style>"
        f"<script>window.dataLayer=[];console.log('{SCRIPT_TEXT}');</script></head><body>"
        f'<div class="cookie-banner" id="cookie-consent"><p>{e(COOKIE[0])}</p><p>{e(COOKIE[1])}</p>'
        "<button>Accept all</button><button>Reject</button></div>"
        f'<header><a href="/">Example News</a><nav class="main-nav"><ul>{nav}</ul></nav></header>'
        f'<main><article><h1>{e(title)}</h1><p class="byline">By a staff reporter</p>'
        f'<div class="share-tools"><a href="#share">{e(SHARE)}</a></div>{body}</article>'
        f'<aside class="most-read"><h2>Most read</h2><ol>{most}</ol></aside></main>'
        f"<footer>{foot}</footer>"
        "<script>(function(){var t='Thursday briefing';document.title+=t;})();</script>"
        "</body></html>"
    ).encode()


def sentences(text: str) -> list[str]:
    """Sentences of plain text (a full stop, question or exclamation mark and a space end one)."""
    return [s.strip() for s in re.split(r"(?<=[.!?])\s+(?=[A-Z\"'])", text) if len(s.strip()) > 20]


def paragraphs_of(text: str, per: int = 3) -> list[str]:
    """Plain text cut into paragraphs of `per` sentences."""
    parts = sentences(text)
    return [" ".join(parts[i : i + per]) for i in range(0, len(parts), per)]


def bbc_articles(path: Path, limit: int | None = None) -> Iterator[tuple[str, list[str]]]:
    """(headline, paragraphs) of the BBC data set; its headline runs into the body, so the first
    six words stand for it."""
    with path.open(newline="", encoding="utf-8") as file:
        for i, row in enumerate(csv.DictReader(file)):
            if limit is not None and i >= limit:
                return
            text = row["text"]
            yield " ".join(text.split()[:6]), paragraphs_of(text)


def text_article(path: Path) -> tuple[str, list[str]]:
    """A plain-text story (its first line the title, then one paragraph a line), like the seed."""
    title, *lines = [line.strip() for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
    return title, lines


class Counting:
    """Counts the requests a site answers at once, per test (the highest count is `peak`)."""

    def __init__(self) -> None:
        self.now = 0
        self.peak = 0
        self._lock = threading.Lock()

    def __enter__(self) -> None:
        with self._lock:
            self.now += 1
            self.peak = max(self.peak, self.now)

    def __exit__(self, *exc: object) -> None:
        with self._lock:
            self.now -= 1


def serve_article(
    server: FeedServer, path: str, page: bytes, *, delay: float = 0.0, counting: Counting | None = None
) -> None:
    """Serve an HTML page at `path` (after `delay` seconds), counted by `counting` while it is answered."""

    def handle(h: Any) -> None:
        with counting or contextlib.nullcontext():
            if delay and server.stopping.wait(delay):
                return
            h.reply(200, page, {"Content-Type": "text/html; charset=utf-8"})

    server.route(path, handle)


def summary_feed(server: FeedServer, stories: Sequence[tuple[str, str, Sequence[str]]]) -> bytes:
    """An RSS feed whose items (title, page path, paragraphs) hold only their first sentence."""
    items = [
        It(title, text=sentences(paras[0])[0] if sentences(paras[0]) else paras[0], link=server.url(path))
        for title, path, paras in stories
    ]
    return rss(*items, title="headlines")
