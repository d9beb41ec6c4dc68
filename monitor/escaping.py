"""Feed text is untrusted: clean it once, then escape it for each output format (plain, HTML, Slack mrkdwn)."""

from __future__ import annotations

import re
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from markupsafe import Markup, escape

from monitor.records import Snippet

_ANSI = re.compile(r"\x1b(?:\[[0-?]*[ -/]*[@-~]|\][^\x07\x1b]*(?:\x07|\x1b\\)?|[@-Z\\-_])")
_CONTROL = re.compile(r"[\x00-\x08\x0b-\x1f\x7f-\x9f\u200e\u200f\u202a-\u202e\u2066-\u2069\ufeff]")
_SPACES = re.compile(r"\s+")
_MENTION = re.compile(r"@(?=\w)")
_MRKDWN = str.maketrans({"*": "∗", "_": "ˍ", "~": "∼", "`": "ˋ"})
_MARKDOWN = re.compile(r"([\\`*_~|\[\]<>#])")
_ZWSP, _ZWJ = "\u200b", "\u200d"


def clean_text(text: str) -> str:
    """Drop ANSI escapes, control and bidi-override characters; keep newlines and tabs."""
    return _CONTROL.sub("", _ANSI.sub("", text.replace("\r\n", "\n").replace("\r", "\n")))


def clean_line(text: str, limit: int = 1000) -> str:
    """Clean text for a one-line field: whitespace runs (newlines too) become one space; capped at `limit`."""
    return truncate(_SPACES.sub(" ", clean_text(text)).strip(), limit)


def truncate(text: str, limit: int) -> str:
    """Cut `text` to at most `limit` characters, ending with an ellipsis when cut."""
    return text if len(text) <= limit else text[: max(limit - 1, 0)].rstrip() + "…"


def safe_link(url: str | None) -> str | None:
    """The URL when it is an absolute http(s) URL with a host and no space or control character, else None."""
    if not url or _SPACES.search(url) or _CONTROL.search(url) or "\x1b" in url:
        return None
    return url if is_web_url(url) else None


def is_web_url(url: str) -> bool:
    """Whether `url` is an absolute http(s) URL with a host."""
    try:
        parts = urlsplit(url)
        return parts.scheme.lower() in ("http", "https") and bool(parts.hostname)
    except ValueError:
        return False


def clean_snippet(snippet: Snippet, limit: int = 2000) -> Snippet:
    """A cleaned snippet (one line, capped) whose spans still point at the highlighted terms."""
    chars: list[tuple[str, bool]] = []
    for part, hit in split_spans(snippet.text, snippet.spans):
        for char in clean_text(part):
            if char.isspace():
                if chars and chars[-1][0] != " ":
                    chars.append((" ", hit))
            else:
                chars.append((char, hit))
    while chars and chars[-1][0] == " ":
        chars.pop()
    if len(chars) > limit:
        chars = [*chars[: max(limit - 1, 0)], ("…", False)]
    flags = [hit and (c != " " or (chars[i - 1][1] and chars[i + 1][1])) for i, (c, hit) in enumerate(chars)]
    return Snippet("".join(c for c, _ in chars), _runs(flags))


def _runs(flags: Sequence[bool]) -> tuple[tuple[int, int], ...]:
    spans: list[tuple[int, int]] = []
    for index, flag in enumerate(flags):
        if flag and spans and spans[-1][1] == index:
            spans[-1] = (spans[-1][0], index + 1)
        elif flag:
            spans.append((index, index + 1))
    return tuple(spans)


def split_spans(text: str, spans: Sequence[tuple[int, int]]) -> list[tuple[str, bool]]:
    """Cut `text` into (piece, highlighted) runs; spans are clipped, sorted and merged when they overlap."""
    runs: list[tuple[str, bool]] = []
    pos = 0
    for start, end in _merged(spans, len(text)):
        if start > pos:
            runs.append((text[pos:start], False))
        runs.append((text[start:end], True))
        pos = end
    if pos < len(text):
        runs.append((text[pos:], False))
    return runs


def _merged(spans: Sequence[tuple[int, int]], size: int) -> list[tuple[int, int]]:
    merged: list[tuple[int, int]] = []
    for start, end in sorted((max(0, s), min(size, e)) for s, e in spans):
        if end <= start:
            continue
        if merged and start <= merged[-1][1]:
            merged[-1] = (merged[-1][0], max(end, merged[-1][1]))
        else:
            merged.append((start, end))
    return merged


def _highlight(snippet: Snippet, plain: Callable[[str], str], mark: Callable[[str], str]) -> str:
    return "".join(
        mark(part) if hit else plain(part) for part, hit in split_spans(snippet.text, snippet.spans)
    )


def highlight_text(snippet: Snippet) -> str:
    """Plain text with each matched term between « and »."""
    return _highlight(snippet, str, lambda part: f"«{part}»")


def highlight_html(snippet: Snippet, tag: str = "mark") -> Markup:
    """HTML with each matched term in <mark> (or `tag`: "b"), everything else escaped."""
    if tag not in ("mark", "b", "strong", "em"):
        raise ValueError(f"highlight tag must be mark, b, strong or em, not {tag!r}")
    return Markup(_highlight(snippet, lambda p: str(escape(p)), lambda p: f"<{tag}>{escape(p)}</{tag}>"))


def no_mentions(text: str) -> str:
    """Break @everyone, @here and @name so no chat service (Discord, Teams, Mattermost) pings anyone."""
    return _MENTION.sub("@" + _ZWJ, text)


def defuse_mentions(text: str) -> str:
    """`no_mentions` keeping the length (a full-width ＠), so highlight offsets stay valid."""
    return _MENTION.sub("\uff20", text)


def markdown(text: str) -> str:
    """Escape feed text for Markdown: no emphasis, code, links, headings or HTML, and no mentions."""
    return no_mentions(_MARKDOWN.sub(r"\\\1", text))


def highlight_markdown(snippet: Snippet) -> str:
    """Markdown with each matched term in **bold**, everything else escaped."""
    return _highlight(snippet, markdown, lambda p: f"**{markdown(p.strip())}**" if p.strip() else p)


def markdown_link(url: str | None, label: str) -> str:
    """A Markdown link `[label](url)` for an http(s) URL; just the escaped label otherwise."""
    link = safe_link(url)
    if link is None:
        return markdown(label)
    target = link.replace("(", "%28").replace(")", "%29").replace("<", "%3C").replace(">", "%3E")
    return f"[{markdown(label)}]({target})"


def highlight_mrkdwn(snippet: Snippet) -> str:
    """Slack mrkdwn with each matched term in *bold*, everything else escaped."""
    return _highlight(snippet, mrkdwn, lambda p: f"{_ZWSP}*{mrkdwn(p.strip())}*{_ZWSP}" if p.strip() else p)


def mrkdwn(text: str) -> str:
    """Escape feed text for Slack mrkdwn: no <, > or & control sequences, no mentions, no formatting marks."""
    text = text.replace("&", "&amp;").replace("<", "&lt;").replace(">", "&gt;")
    return no_mentions(text).translate(_MRKDWN)


def mrkdwn_link(url: str | None, label: str) -> str:
    """A Slack link `<url|label>` for an http(s) URL; just the escaped label otherwise."""
    link = safe_link(url)
    if link is None:
        return mrkdwn(label)
    target = link.replace("&", "&amp;").replace("<", "%3C").replace(">", "%3E").replace("|", "%7C")
    return f"<{target}|{mrkdwn(label)}>"
