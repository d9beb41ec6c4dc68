"""Feed HTML to plain text: lexbor (selectolax, an HTML5 parser in C), bounded against hostile markup.

Every text field of a feed (and an article's extracted text) is reduced to plain text here: tags
dropped, entities decoded, whitespace collapsed, control characters removed, capped. Markup is never
evaluated, only dropped.
"""

from __future__ import annotations

import re

from selectolax.lexbor import LexborHTMLParser

TEXT_MAX = 100_000  # characters kept of a summary or content
HTML_INPUT_FACTOR = 4  # markup read per character of text kept
_RAW_NAMES = r"(script|style|template|noscript|iframe|noembed|noframes|xmp)"
_RAW_OPEN = re.compile(rf"<{_RAW_NAMES}(?=[\s/>])", re.IGNORECASE)
_RAW_CLOSE = re.compile(rf"</{_RAW_NAMES}", re.IGNORECASE)
_RAW_TAG_END = re.compile(r"""(?:[^>"']++|"[^"]*+"|'[^']*+')*+>""")
RAW_TAG_MAX = 2048  # characters searched for the end of a script/iframe start tag
NESTING_MAX = 1000  # element depth of feed HTML kept (past it, hostile: the rest is cut)
_ANY_TAG = re.compile(r"<(/?)([A-Za-z][\w:-]{0,60})")
# fmt: off
_NOT_NESTING = frozenset({
    "area", "base", "br", "col", "embed", "hr", "img", "input", "link", "meta", "param", "source", "track",
    "wbr", "p", "li", "dt", "dd", "tr", "td", "th", "option", "optgroup", "thead", "tbody", "tfoot",
    "colgroup", "caption", "rb", "rt", "rp",
})
# fmt: on
# Dropped with their content: code, styles, embedded frames. <object>, <svg> and <math> keep their
# text (fallback text, labels, formulas), as the HTML5 text of a page does.
_SKIP_CONTENT = frozenset({"script", "style", "template", "noscript", "iframe", "noembed", "noframes"})
# fmt: off
_BLOCK = frozenset({
    "p", "br", "div", "li", "ul", "ol", "tr", "td", "th", "h1", "h2", "h3", "h4", "h5", "h6", "hr", "dd", "dt",
    "blockquote", "pre", "section", "article", "header", "footer", "figure", "figcaption", "table",
})
# fmt: on
_CONTROL = re.compile(
    "[\x00-\x08\x0b\x0c\x0e-\x1f\x7f-\x9f\ud800-\udfff]"
)  # C0, C1 controls but tab, CR, LF; lone surrogates
_BOX = ("iframe", "object", "embed", "svg", "math", "img", "video", "audio", "canvas")  # words apart too
_BLOCK_NAMES = "|".join(sorted({*_BLOCK, *_BOX}, key=len, reverse=True))
_BLOCK_TAG_START = re.compile(rf"<(?=/?(?:{_BLOCK_NAMES})[\s/>])", re.IGNORECASE)


def html_to_text(markup: str, limit: int = TEXT_MAX) -> str:
    """Plain text of an HTML fragment: tags dropped, entities decoded, whitespace collapsed, capped.

    Parsed by lexbor (selectolax), an HTML5-conformant parser in C, linear in its input: attribute
    values are read as a browser reads them (`alt="growth > 5%"` stays inside the tag). Where HTML5
    would make a self-closed or never-closed `<iframe/>` or `<script src="x"/>` swallow the rest of
    the text as raw text, feeds mean XHTML: the element is closed right there and the text after it
    kept (`_close_raw_text`). Scripts, styles, iframes and templates are dropped with their content;
    block elements separate words. Markup is never evaluated, only dropped.
    """
    markup = markup[: limit * HTML_INPUT_FACTOR]
    if "<" not in markup and "&" not in markup:
        return collapse_text(markup, limit)
    markup = _close_raw_text(_cut_deep(markup))
    tree = LexborHTMLParser(_BLOCK_TAG_START.sub(" <", markup))  # a space before each block tag
    root = tree.root
    if root is None:
        return ""
    if _RAW_OPEN.search(markup):
        tree.strip_tags(list(_SKIP_CONTENT))
    return collapse_text(root.text(deep=True), limit)


def _close_raw_text(markup: str) -> str:
    """Close every raw-text element (script, iframe...) that is self-closed or never closed.

    One forward pass: the end of each such start tag is found honouring quoted attribute values
    (within RAW_TAG_MAX characters, else it is left to the parser), and a closing tag is inserted
    after it when the tag ends in "/>" or no closing tag of its name follows. Each character is
    searched at most once.
    """
    last_close: dict[str, int] = {}
    for found in _RAW_CLOSE.finditer(markup):
        last_close[found.group(1).lower()] = found.start()
    parts, copied, searched = [], 0, 0
    for found in _RAW_OPEN.finditer(markup):
        if found.start() < searched:
            continue
        reach = min(len(markup), found.end() + RAW_TAG_MAX)
        end = _RAW_TAG_END.match(markup, found.end(), reach)
        if end is None:
            searched = reach
            continue
        name, stop = found.group(1).lower(), end.end()
        searched = stop
        if markup[stop - 2] == "/" or last_close.get(name, -1) < stop:
            parts += [markup[copied:stop], f"</{name}>"]
            copied = stop
    return "".join(parts) + markup[copied:] if parts else markup


def _cut_deep(markup: str) -> str:
    """`markup` cut where its elements nest deeper than NESTING_MAX (lexbor is quadratic in depth).

    Depth is counted over start and end tags, leaving out void elements and those HTML5 closes by
    itself (p, li, td...), so real feed text is never cut; only hostile nesting is.
    """
    if markup.count("<") <= NESTING_MAX:  # too few tags to nest that deep
        return markup
    depth = 0
    for tag in _ANY_TAG.finditer(markup):
        name = tag.group(2).lower()
        if name in _NOT_NESTING:
            continue
        depth += -1 if tag.group(1) else 1
        if depth > NESTING_MAX:
            return markup[: tag.start()]
        depth = max(depth, 0)
    return markup


def collapse_text(text: str, limit: int) -> str:
    """`text` without control characters, with whitespace collapsed, cut to `limit` characters."""
    return " ".join(_CONTROL.sub("", text[: limit * HTML_INPUT_FACTOR]).split())[:limit].rstrip()
