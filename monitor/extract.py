"""The main text of an article page, without the site around it (menus, banners, teasers, footers).

trafilatura (with `favor_precision`: when in doubt, leave a block out) finds the story's text; a kept
teaser saying "Thursday briefing" would make every page of a site match, so precision comes first.
Chosen over readability-lxml by `bench/fulltext.py` (the README has the figures): as complete, and it
keeps no boilerplate where readability keeps the whole page of a short story. Runs in a parse worker,
under its time and memory caps.
"""

from __future__ import annotations

import re

import trafilatura

from monitor.errors import ParseError
from monitor.htmltext import TEXT_MAX, collapse_text

HTML_TYPES = ("text/html", "application/xhtml+xml")
_LOOKS_HTML = re.compile(
    rb"\A(?:\xef\xbb\xbf)?\s*(?:<!--.*?-->\s*)*<(?:!doctype\s+html|html|head|body)", re.I | re.S
)


def extract_article(body: bytes, url: str, content_type: str | None = None) -> str:
    """Plain text of the page's article; `ParseError` for a page that is not HTML or has no text."""
    kind = (content_type or "").split(";", 1)[0].strip().lower()
    if kind and kind not in HTML_TYPES:
        raise ParseError(url, f"not an HTML page ({kind})")
    if not kind and not _LOOKS_HTML.match(body[:4096]):
        raise ParseError(url, "not an HTML page")
    try:
        text = trafilatura.extract(body, url=url, favor_precision=True, include_comments=False)
    except Exception as exc:  # lxml and the date finders fail in their own ways on garbage
        raise ParseError(url, f"no article found ({type(exc).__name__})") from None
    text = collapse_text(text or "", TEXT_MAX)
    if not text:
        raise ParseError(url, "no article text found")
    return text
