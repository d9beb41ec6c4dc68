"""Item identity within a feed, and the story keys that recognise one story across feeds.

    item_id(feed, entry)   which row an entry is: the same item polled twice gets the same id
    story_keys(entry)      (link key, title key): a rule alerts once per story, whichever feed carries it

Keys are short hex digests (SHA-256, cut to 16 hex digits = 64 bits), stable across runs and machines.
"""

from __future__ import annotations

import hashlib
import re
from urllib.parse import parse_qsl, urlencode, urlsplit, urlunsplit

from monitor import textfold
from monitor.records import Entry

DIGITS = 16
# fmt: off
TRACKING_PARAMS = frozenset(
    {
        "fbclid", "gclid", "dclid", "gclsrc", "msclkid", "yclid", "igshid", "twclid", "ttclid", "li_fat_id",
        "mc_cid", "mc_eid", "_ga", "_gl", "_hsenc", "_hsmi", "mkt_tok", "oly_anon_id", "oly_enc_id",
        "vero_id", "wt.mc_id", "cmpid", "cmp", "ocid", "ito", "at_medium", "at_campaign", "at_custom1",
        "ref", "ref_src", "ref_url", "referrer", "source", "src", "rss", "s_cid", "ncid", "sr_share",
        "smid", "spm", "xtor",
    }
)
# fmt: on
TRACKING_PREFIXES = ("utm_", "at_", "pk_", "mtm_", "hsa_")
DEFAULT_PORTS = {"http": 80, "https": 443}
_ASCII_NON_ALNUM = re.compile(r"[^a-z0-9]+")


def item_id(feed: str, entry: Entry) -> str:
    """The entry's stable id within `feed`: from its guid, else its normalized link, else its title.

    Scoped to the feed, so two feeds that reuse a guid never share a row.
    """
    if entry.guid and entry.guid.strip():
        identity = "guid:" + entry.guid.strip()
    elif (key := link_key(entry.link)) is not None:
        identity = "link:" + key
    else:
        identity = "title:" + _fold(entry.title)
    return _digest(feed + "\0" + identity)


def link_key(link: str | None) -> str | None:
    """A normalized link, equal for the same page however it was linked; None for no or non-http link.

    Lower-case host without `www.` and default port; http and https are one; no fragment, no
    tracking parameters (utm_*, fbclid, gclid, ...); other parameters sorted; no trailing slash.
    """
    if not link:
        return None
    try:
        parts = urlsplit(link.strip())
        port = parts.port
    except ValueError:
        return None
    scheme, host = parts.scheme.lower(), (parts.hostname or "").rstrip(".")
    if scheme not in DEFAULT_PORTS or not host:
        return None
    host = host.removeprefix("www.")
    if port and port != DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    query = sorted((k, v) for k, v in parse_qsl(parts.query, keep_blank_values=True) if not _tracking(k))
    path = parts.path.rstrip("/")
    return urlunsplit(("", host, path, urlencode(query), "")).removeprefix("//")


def title_key(title: str) -> str:
    """A digest of the title casefolded, without accents or punctuation, whitespace collapsed."""
    return _digest(_fold(title))


def story_keys(entry: Entry) -> tuple[str | None, str]:
    """(link key, title key) naming the entry's story across feeds.

    An entry whose title folds to nothing gets a title key from its link, guid or summary instead, so
    untitled items never collapse into one story.
    """
    link = link_key(entry.link)
    folded = _fold(entry.title)
    if not folded:
        return link, _digest("untitled\0" + (link or entry.guid or _fold(entry.summary[:500])))
    return link, _digest(folded)


def _fold(text: str) -> str:
    """Case, accents and punctuation folded away: words of letters and digits joined by one space."""
    if text.isascii():  # the same result, without the per-character loop
        return " ".join(_ASCII_NON_ALNUM.sub(" ", text.lower()).split())
    kept = (c if c.isalnum() else " " for c in textfold.fold(text))
    return " ".join("".join(kept).split())


def _tracking(name: str) -> bool:
    lowered = name.lower()
    return lowered in TRACKING_PARAMS or lowered.startswith(TRACKING_PREFIXES)


def _digest(text: str) -> str:
    return hashlib.sha256(text.encode("utf-8", "surrogatepass")).hexdigest()[:DIGITS]
