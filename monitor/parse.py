"""Parse fetched feed bytes into clean `Entry` records with feedparser, bounded against hostile input.

feedparser only ever sees the bytes (wrapped in a stream: given a bytes path it would open the file).
Before it does, `_defuse` removes what makes it blow up: internal entity declarations (its loose
fallback parser expands them without limit) and overlong author-like fields (its e-mail regex is
quadratic); `_bound` caps items and elements, and what a not well-formed document hands to the slow
loose parser. Measured worst cases stay under about 5 s and 150 MB for a 10 MB body; `parsepool`
adds hard caps. Its HTML sanitizer and relative-URI rewriting are off (up to two thirds of its time on
HTML-rich feeds): every text field is reduced to plain text by `htmltext` (lexbor, an HTML5 parser in C that
drops markup and never evaluates it), and links are resolved and checked here.
"""

from __future__ import annotations

import codecs
import io
import itertools
import os
import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple, cast
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit
from xml.parsers import expat

import charset_normalizer
import feedparser

from monitor.errors import ParseError
from monitor.escaping import is_web_url
from monitor.htmltext import TEXT_MAX, collapse_text, html_to_text
from monitor.records import Entry, Parsed

TITLE_MAX = 1024
AUTHOR_MAX = 256
GUID_MAX = 1024
LINK_MAX = 2048
CATEGORY_MAX = 128
CATEGORIES_MAX = 32
ENTRIES_MAX = 10_000  # an archive feed can hold thousands; ELEMENTS_MAX bounds the work anyway
ELEMENTS_MAX = 100_000  # feedparser spends about 20 µs per element
LOOSE_MAX = 512 * 1024  # bytes of a not well-formed document given to feedparser's loose parser
ITEM_LOOSE_MAX = LOOSE_MAX // 8  # bytes of one item kept when a not well-formed document is cut
DETECT_BYTES = 64 * 1024  # bytes charset-normalizer reads to guess an undeclared encoding
SHORT_FIELD_BYTES = 1024  # author-like elements are cut to this before parsing
EARLIEST = datetime(1990, 1, 1, tzinfo=UTC)
ENCODING_NOTICES = ("CharacterEncodingOverride", "NonXMLContentType", "CharacterEncodingUnknown")

_ROOT = re.compile(rb"<\w")
_ENTITY = re.compile(rb"<!\s*ENTITY", re.IGNORECASE)
_QNAME = re.compile(rb"[^\s/>]+")
_XML_DECL = re.compile(rb"\A(?:\xef\xbb\xbf)?\s*<\?xml[^<>]{0,300}\?>")
_SHORT_FIELD = re.compile(
    rb"(<(?:[\w.-]{1,40}:)?(?:author|creator|name|email|managingEditor|webMaster|publisher|contributor"
    rb"|owner|uri)\b[^<>]{0,500}>(?:\s*<!\[CDATA\[)?)([^<\]]{%d,})" % (SHORT_FIELD_BYTES + 1),
    re.IGNORECASE,
)
_UNSAFE = re.compile("[\x00-\x20\x7f-\x9f\ud800-\udfff]")  # never in a link: controls, spaces, surrogates
_TZ_OFFSET = re.compile(r"(?:\d|\s)([+-])(\d\d):?(\d\d)\s*\Z")
_ITEM_OPEN = re.compile(rb"<(?:[\w.-]{1,40}:)?(?:item|entry)[\s>]", re.IGNORECASE)
_ITEM_CLOSE = re.compile(rb"</(?:[\w.-]{1,40}:)?(?:item|entry)\s*>", re.IGNORECASE)
_PROLOG_MARK = re.compile(rb"<!--|<\?|<!|<[A-Za-z_:\x80-\xff]")  # what the prolog holds, or the root
_DECLARATION_MARK = re.compile(rb"""["'\[>]""")  # in <!DOCTYPE ...>, outside its [subset]
_SUBSET_MARK = re.compile(rb"""["']|<!--|<\?|\]""")  # inside the [subset]
_CLOSERS = {b"<!--": b"-->", b"<?": b"?>", b'"': b'"', b"'": b"'"}  # what is skipped whole, to what
_OPEN_OR_CLOSE = re.compile(rb"<(/?)([A-Za-z_][\w:.-]{0,60})[^<>]*?(/?)>")
# in an item, these end feedparser's item (or start a context of the feed's own): no spans then
_FEED_LEVEL = frozenset(("item", "entry", "channel", "feed", "rss", "rdf", "image", "textinput", "source"))
_CHARREF = re.compile(rb"&#(?:[xX]([0-9a-fA-F]{1,8})|([0-9]{1,10}));")


def parse_feed(body: bytes, url: str, content_type: str | None = None) -> Parsed:
    """Parse feed bytes fetched from `url`; `ParseError` when they are not a feed (HTML, empty, binary).

    `Parsed.degraded` says why a feed that is not well-formed (or had to be defused) still parsed.
    Text fields are plain text and capped (title 1 KB, summary and content 100 KB), links are
    absolute http(s) or None, dates timezone-aware UTC or None.
    """
    ready = prepare(body, url, content_type)
    result, entries, notes = read_feed(ready.body, url, ready.content_type)
    return assemble(result, entries, [*ready.reasons, ready.bounded or bozo_reason(result)], notes)


class Prepared(NamedTuple):
    """Feed bytes made safe for feedparser (`parse_feed`'s first half), and what that took."""

    body: bytes
    content_type: str | None
    reasons: tuple[str | None, ...]  # an encoding guessed, characters replaced, declarations removed
    bounded: str | None  # why the document was cut or is not well-formed; None: whole and well-formed
    items: tuple[tuple[int, int], ...]  # byte spans of the top-level items of a well-formed document


def prepare(body: bytes, url: str, content_type: str | None = None) -> Prepared:
    """The bytes feedparser is given for `body` (see `parse_feed`); `ParseError` for an empty document."""
    if not body.strip():
        raise ParseError(url, "empty document")
    body, content_type = _widen_to_utf8(body, content_type)
    body, content_type, guessed = _undeclared_encoding(body, content_type)
    body, poisoned = _unpoison(body)
    body, defused = _defuse(body)
    body, bounded, items = _bound(body)
    return Prepared(body, content_type, (guessed, poisoned, defused), bounded, items)


def read_feed(body: bytes, url: str, content_type: str | None) -> tuple[Any, tuple[Entry, ...], list[str]]:
    """feedparser's result for prepared bytes, its clean entries, and the notes they took;
    `ParseError` when the bytes hold no entry and are no feed."""
    result = _feedparser(body, url, content_type)
    notes: list[str] = []
    entries = tuple(_entries(result.entries[:ENTRIES_MAX], url, notes))
    if not entries and not result.get("version"):
        raise ParseError(url, _not_a_feed(body, result))
    return result, entries, notes


def assemble(
    result: Any, entries: tuple[Entry, ...], reasons: Iterable[str | None], notes: list[str]
) -> Parsed:
    """The `Parsed` of feedparser's `result` (its feed fields), `entries`, and why it is degraded."""
    found = [r for r in (*reasons, *dict.fromkeys(notes)) if r]
    feed = result.feed
    return Parsed(
        title=_field_text(feed.get("title_detail"), TITLE_MAX),
        entries=entries,
        ttl_minutes=_ttl(feed.get("ttl")),
        degraded="; ".join(found) or None,
    )


def _widen_to_utf8(body: bytes, content_type: str | None) -> tuple[bytes, str | None]:
    """Re-encode UTF-16/32 input as UTF-8 (the defusing below works on ASCII-compatible bytes)."""
    for boms, codec in (
        ((codecs.BOM_UTF32_LE, codecs.BOM_UTF32_BE), "utf-32"),
        ((b"\0\0\0<",), "utf-32-be"),  # no byte-order mark: the order of "<" says (XML 1.0 appendix F)
        ((b"<\0\0\0",), "utf-32-le"),
        ((codecs.BOM_UTF16_LE, codecs.BOM_UTF16_BE), "utf-16"),
        ((b"\0<\0?", b"\0<\0r", b"\0<\0f"), "utf-16-be"),
        ((b"<\0?\0", b"<\0r\0", b"<\0f\0"), "utf-16-le"),
    ):
        if body.startswith(boms):
            text = body.decode(codec, errors="replace").lstrip("\ufeff")
            text = re.sub(r"\A\s*<\?xml[^<>]{0,300}\?>", "", text)
            plain_type = content_type.split(";")[0] if content_type else None
            return text.encode("utf-8"), plain_type
    return body, content_type


def _unpoison(body: bytes) -> tuple[bytes, str | None]:
    """Remove NUL bytes and neutralize character references no text may hold (NUL, lone surrogates).

    Either would cost the whole feed: PostgreSQL refuses NUL in text (the poll's transaction fails),
    and feedparser's loose parser raises on a reference to a surrogate. Each becomes U+FFFD.
    """
    count = body.count(b"\0")
    body = body.replace(b"\0", b"")

    def neutralize(match: re.Match[bytes]) -> bytes:
        nonlocal count
        hex_digits, decimal = match.groups()
        code = int(hex_digits, 16) if hex_digits else int(decimal)
        if code == 0 or 0xD800 <= code <= 0xDFFF or code > 0x10FFFF:
            count += 1
            return b"&#xFFFD;"
        return match.group(0)

    if b"&#" in body:
        body = _CHARREF.sub(neutralize, body)
    return body, (f"{count} invalid characters (NUL, lone surrogates) replaced" if count else None)


def _root_start(body: bytes) -> int:
    """Where the root element starts: the first `<name` of the document outside its prolog.

    The prolog is read as XML defines it: comments, processing instructions and the document type
    declaration, whose internal subset holds quoted literals, comments and processing instructions of
    its own; a `<a` inside any of them (`<!-- <a -->`, `<?pi <a ?>`, `<!ENTITY q "<a>">`) is not the
    root. One forward pass over the bytes.
    """
    pos = 0
    while (found := _PROLOG_MARK.search(body, pos)) is not None:
        mark = found.group(0)
        if mark in _CLOSERS:
            pos = _past(body, _CLOSERS[mark], found.end())
        elif mark == b"<!":
            pos = _past_declaration(body, found.end())
        else:
            return found.start()
    return len(body)


def _past(body: bytes, closer: bytes, start: int) -> int:
    """The index just after the next `closer` from `start`; the end of `body` if there is none."""
    found = body.find(closer, start)
    return len(body) if found < 0 else found + len(closer)


def _past_declaration(body: bytes, pos: int) -> int:
    """The index just after a `<!...>` declaration whose body starts at `pos`, its `[...]` subset included.

    Quoted literals are skipped whole; inside the subset so are comments and processing instructions,
    and a `[` is text (XML has no nested brackets there). Each mark costs one search, in C.
    """
    in_subset = False
    while (found := (_SUBSET_MARK if in_subset else _DECLARATION_MARK).search(body, pos)) is not None:
        mark, pos = found.group(0), found.end()
        if mark in _CLOSERS:
            pos = _past(body, _CLOSERS[mark], pos)
        elif mark in (b"[", b"]"):
            in_subset = mark == b"["
        else:  # ">"
            return pos
    return len(body)


def _undeclared_encoding(body: bytes, content_type: str | None) -> tuple[bytes, str | None, str | None]:
    """Detect the encoding of a feed that declares none and is not UTF-8 (KOI8-R, Shift-JIS, EUC-KR...).

    feedparser would read such bytes as Windows-1252 and show mojibake. charset-normalizer guesses from
    the first DETECT_BYTES; the body is re-encoded as UTF-8 and the feed marked degraded with the
    guess (the publisher should declare it). No guess: left to feedparser, marked degraded too.
    """
    declaration = _XML_DECL.match(body)
    if (declaration and b"encoding" in declaration.group(0)) or "charset" in (content_type or "").lower():
        return body, content_type, None
    try:
        body.decode("utf-8")
    except UnicodeDecodeError:
        pass
    else:
        return body, content_type, None
    best = charset_normalizer.from_bytes(body[:DETECT_BYTES]).best()
    if best is None:
        return body, content_type, "encoding not declared and not UTF-8 (read as Windows-1252)"
    codec = codecs.lookup(best.encoding).name
    text = body.decode(codec, errors="replace")
    text = re.sub(r"\A\ufeff?\s*<\?xml[^<>]{0,300}\?>", "", text)
    plain_type = content_type.split(";")[0] if content_type else None
    return text.encode("utf-8"), plain_type, f"encoding not declared and not UTF-8 (read as {codec}, a guess)"


def _defuse(body: bytes) -> tuple[bytes, str | None]:
    """Drop entity declarations before the root element and cut overlong author-like fields."""
    reasons = []
    head_end = _root_start(body)
    if _ENTITY.search(body, 0, head_end):
        declaration = _XML_DECL.match(body, 0, head_end)
        body = (declaration.group(0) if declaration else b"") + body[head_end:]
        reasons.append("entity declarations removed")
    cut = _SHORT_FIELD.sub(_truncate_field, body)
    if len(cut) != len(body):
        reasons.append("overlong author fields cut")
    return cut, "; ".join(reasons) or None


class _Cut(Exception):
    """Raised from the survey's element handler where the document will be cut."""

    def __init__(self, at: int, closers: bytes, reason: str) -> None:
        self.at, self.closers, self.reason = at, closers, reason


def _bound(body: bytes) -> tuple[bytes, str | None, tuple[tuple[int, int], ...]]:
    """Bound feedparser's work: at most ENTRIES_MAX items and ELEMENTS_MAX elements, closed cleanly.

    A quick expat pass (names resolved as feedparser will, bytes read as Latin-1 so every ASCII-based
    encoding keeps its structure) finds where to cut and which elements to close there. A document
    that is not well-formed goes to feedparser's loose parser, far slower and hungrier (about 6 s and
    200 MB per MB of deeply nested tags), so only its first LOOSE_MAX bytes are kept,
    after any item over ITEM_LOOSE_MAX is cut to that size (one huge item hides no later item).
    A document kept whole comes with the byte spans of its top-level items (none if one is empty).
    """
    try:
        items = _survey(body)
    except _Cut as cut:
        return body[: cut.at] + cut.closers, cut.reason, ()
    except expat.ExpatError as err:
        reason = f"not well-formed XML (line {err.lineno}): {expat.ErrorString(err.code)}"
        if len(body) <= LOOSE_MAX:
            return body, reason, ()
        body, large = _cut_large_items(body)
        if large:
            reason += f"; {large} item{'s' * (large > 1)} over {ITEM_LOOSE_MAX // 1024} KB cut"
        if len(body) > LOOSE_MAX:
            return body[:LOOSE_MAX], f"{reason}; only the first {LOOSE_MAX // 1024} KB read", ()
        return body, reason, ()
    return body, None, items


def _cut_large_items(body: bytes) -> tuple[bytes, int]:
    """Cut every item longer than ITEM_LOOSE_MAX to that size and close it: one huge item no longer
    pushes the items after it out of the LOOSE_MAX bytes read. Returns the body and how many were cut."""
    parts, pos, cut = [], 0, 0
    while (opening := _ITEM_OPEN.search(body, pos)) is not None:
        closing = _ITEM_CLOSE.search(body, opening.end())
        end = closing.end() if closing else len(body)
        if end - opening.start() <= ITEM_LOOSE_MAX:
            parts.append(body[pos:end])
        else:
            kept = body[opening.end() : opening.start() + ITEM_LOOSE_MAX]
            kept = kept[: kept.rfind(b"<")] if kept.rfind(b"<") > kept.rfind(b">") else kept
            name = opening.group(0)[1:-1]
            parts += [body[pos : opening.end()], kept, _closers(kept), b"</" + name + b">"]
            cut += 1
        pos = end
    parts.append(body[pos:])
    return (b"".join(parts), cut) if cut else (body, 0)


def _closers(fragment: bytes) -> bytes:
    """End tags for the elements left open at the end of `fragment` (innermost first)."""
    stack: list[bytes] = []
    for tag in _OPEN_OR_CLOSE.finditer(fragment):
        closing, name, empty = tag.groups()
        if not closing and not empty:
            stack.append(name)
        elif closing and name in stack:
            del stack[len(stack) - 1 - stack[::-1].index(name) :]
    return b"".join(b"</" + name + b">" for name in reversed(stack))


def _survey(body: bytes) -> tuple[tuple[int, int], ...]:
    """Cut the document where it is too large (`_Cut`); the byte spans of its top-level items."""
    parser = expat.ParserCreate("iso-8859-1", " ")
    parser.SetParamEntityParsing(expat.XML_PARAM_ENTITY_PARSING_NEVER)
    stack: list[bytes] = []
    counts = [0, 0]  # elements, items
    items: list[tuple[int, int]] = []
    opened: list[int] = []  # where the top-level item under way starts, and its depth
    spans = [True]  # False: an empty item (`<item/>`, no end tag to end its span), or one in an item

    def start(name: str, attrs: object) -> None:
        at = parser.CurrentByteIndex
        is_item = name.rpartition(" ")[2].lower() in ("item", "entry")
        counts[0] += 1
        counts[1] += is_item
        if counts[0] > ELEMENTS_MAX or counts[1] > ENTRIES_MAX:
            closers = b"".join(b"</" + q + b">" for q in reversed(stack))
            many = f"{ENTRIES_MAX} items" if counts[1] > ENTRIES_MAX else f"{ELEMENTS_MAX} elements"
            raise _Cut(at, closers, f"cut to the first {many}")
        qname = _QNAME.match(body, at + 1)
        stack.append(qname.group(0) if qname else b"x")
        if opened and name.rpartition(" ")[2].lower() in _FEED_LEVEL:
            spans[0] = False  # feedparser may take what follows it for the feed's (feedpieces)
        elif is_item and not opened:
            opened[:] = [at, len(stack)]

    def end(name: str) -> None:
        if opened and len(stack) == opened[1]:
            at = parser.CurrentByteIndex
            if not body.startswith(b"</", at):  # an empty element `<item/>`
                spans[0] = False
            else:
                items.append((opened[0], body.index(b">", at) + 1))
            opened.clear()
        stack.pop()

    parser.StartElementHandler = start
    parser.EndElementHandler = end
    parser.Parse(body, True)
    return tuple(items) if spans[0] else ()


def _truncate_field(match: re.Match[bytes]) -> bytes:
    text, end = match.group(2), SHORT_FIELD_BYTES
    while end > 0 and 0x80 <= text[end] < 0xC0:  # never split a UTF-8 sequence
        end -= 1
    return match.group(1) + text[:end]


def _feedparser(body: bytes, url: str, content_type: str | None) -> Any:
    headers = {"content-location": url}
    if content_type:
        headers["content-type"] = content_type
    return feedparser.parse(
        io.BytesIO(body), response_headers=headers, sanitize_html=False, resolve_relative_uris=False
    )


def _not_a_feed(body: bytes, result: Any) -> str:
    start = body[:2048].lstrip(b"\xef\xbb\xbf \t\r\n").lower()
    if start.startswith((b"<!doctype html", b"<html")) or b"<html" in start:
        return "an HTML page, not a feed"
    if b"\0" in start or sum(b < 9 or 13 < b < 32 for b in start) > len(start) // 20:
        return "binary data, not a feed"
    bozo = bozo_reason(result)
    return "not an RSS or Atom feed" + (f" ({bozo})" if bozo else "")


def bozo_reason(result: Any) -> str | None:
    exc = result.get("bozo_exception")
    if not result.get("bozo") or exc is None or type(exc).__name__ in ENCODING_NOTICES:
        return None
    if hasattr(exc, "getLineNumber"):
        return f"not well-formed XML (line {exc.getLineNumber()}): {exc.getMessage()}"[:200]
    return f"{type(exc).__name__}: {exc}"[:200]


def _entries(raws: Iterable[Mapping[str, Any]], base: str, notes: list[str]) -> Iterable[Entry]:
    for raw in raws:
        entry = _entry(raw, base, notes)
        if entry.title or entry.link or entry.guid or entry.summary or entry.content:
            yield entry


def _entry(raw: Mapping[str, Any], base: str, notes: list[str]) -> Entry:
    contents = raw.get("content") or []
    content = " ".join(_field_text(c, TEXT_MAX) for c in contents[:4])[:TEXT_MAX]
    guid = collapse_text(str(raw.get("id") or ""), GUID_MAX) or None
    return Entry(
        guid=guid,
        link=_item_link(raw.get("link"), base, notes),
        page=page_location(raw.get("link"), base),
        title=_field_text(raw.get("title_detail"), TITLE_MAX),
        summary=_field_text(raw.get("summary_detail"), TEXT_MAX),
        content=content,
        author=html_to_text(str(raw.get("author") or ""), AUTHOR_MAX),
        categories=_categories(raw.get("tags") or []),
        published=_item_date(raw, notes),
    )


def _item_link(link: object, base: str, notes: list[str]) -> str | None:
    if isinstance(link, str) and _UNSAFE.search(link.strip()):
        notes.append("links holding control characters dropped")
        return None
    return resolve_link(link, base)


def _item_date(raw: Mapping[str, Any], notes: list[str]) -> datetime | None:
    """The item's published (else updated) time; None when its time zone offset is impossible."""
    for key in ("published", "updated"):
        parsed = _plain_get(raw, f"{key}_parsed")
        if parsed:
            offset = _TZ_OFFSET.search(str(_plain_get(raw, key) or ""))
            if offset and (int(offset.group(2)) > 14 or int(offset.group(3)) > 59):
                shown = "{}{}:{}".format(*offset.groups())
                notes.append(f"dates with an impossible time zone offset ignored ({shown})")
                return None
            return _published(parsed)
    return None


def _field_text(detail: Mapping[str, Any] | None, limit: int) -> str:
    """A feedparser text construct as plain text: markup is stripped only when its type says HTML."""
    if not detail:
        return ""
    value, kind = str(detail.get("value") or ""), str(detail.get("type") or "")
    return html_to_text(value, limit) if "html" in kind else collapse_text(value, limit)


def resolve_link(link: object, base: str) -> str | None:
    """`link` resolved against `base`, or None unless it is an http(s) URL with a host."""
    if not isinstance(link, str) or not link.strip() or len(link) > LINK_MAX:
        return None
    try:
        absolute = urljoin(base, link.strip()) if base.startswith(("http://", "https://")) else link.strip()
    except ValueError:
        return None
    return _without_userinfo(absolute) if is_web_url(absolute) else None


def _without_userinfo(url: str) -> str:
    """`url` without `user:password@`: credentials in a feed's link must not reach alerts."""
    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return urlunsplit(parts._replace(netloc=parts.netloc.rpartition("@")[2]))


def page_location(link: object, base: str) -> str | None:
    """Where the item's page is, for `fulltext`: the link resolved against the feed's URL, any scheme.

    A relative link of a local feed is a path beside the feed file. Whether the page may be read at
    all (only a local feed may name local files) is decided when it is fetched.
    """
    if not isinstance(link, str) or not link.strip() or len(link) > LINK_MAX:
        return None
    link = link.strip()
    try:
        if base.startswith(("http://", "https://")):
            return urljoin(base, link)
        if "://" in link or link.startswith("/") or ":" in link.split("/", 1)[0]:
            return link
        folder = os.path.dirname(unquote(urlsplit(base).path) if base.startswith("file://") else base)
        return os.path.normpath(os.path.join(folder, link))
    except ValueError:
        return None


def _categories(tags: Iterable[Mapping[str, Any]]) -> tuple[str, ...]:
    firsts = itertools.islice(tags, CATEGORIES_MAX * 4)
    terms = (html_to_text(str(t.get("term") or t.get("label") or ""), CATEGORY_MAX) for t in firsts)
    unique = dict.fromkeys(t for t in terms if t)
    return tuple(unique)[:CATEGORIES_MAX]


def _plain_get(raw: Mapping[str, Any], key: str) -> Any:
    """The key itself, without FeedParserDict's aliasing of one date field to another."""
    return dict.get(cast(dict[str, Any], raw), key)


def _published(parsed: Any) -> datetime | None:
    """A feedparser UTC time tuple as an aware datetime; None when absent, invalid or absurd."""
    if not parsed:
        return None
    try:
        year, month, day, hour, minute, second = parsed[:6]
        when = datetime(year, month, day, hour, minute, second, tzinfo=UTC)
    except (TypeError, ValueError):
        return None
    return when if EARLIEST <= when <= datetime.now(UTC) + timedelta(days=1) else None


def _ttl(value: object) -> int | None:
    text = str(value or "").strip()
    return int(text) if text.isdigit() and 0 < int(text) <= 525_600 else None
