"""Remove configured secrets from every message before it is logged, stored or printed.

Secrets are what the configuration holds: every `${VAR}` value in the channels file, every
SecretStr option of a channel (webhook URLs, SMTP URLs and passwords, whsec_ secrets, any option a
plugin channel marks secret), and the credentials of feed URLs (user:password, token-like query
values). A receiver may echo them back in any form, so each is known in every encoding it can take:
raw, URL-encoded, URL-decoded, JSON-escaped, base64 of `user:pass` (HTTP Basic) and of
`\\0user\\0pass` (SMTP AUTH PLAIN), and for a URL its path, query, userinfo and query values.

The secrets seen by this process are kept in one process-wide set (secrets from an older
configuration stay: a message about the old one may still be written). `scrub(text)` replaces
each occurrence, case-insensitively (percent-encoding may be in either case), with `<redacted>`.
"""

from __future__ import annotations

import base64
import re
import threading
from collections.abc import Iterable
from typing import Any
from urllib.parse import parse_qsl, quote, quote_plus, unquote, unquote_plus, urlsplit

from pydantic import BaseModel, SecretStr

REDACTED = "<redacted>"
MIN_SECRET = 4  # shorter values ("on", "1") would blank out ordinary words; they are not secrets
TOKEN_LIKE = 12  # a path segment or query value of a secret URL this long is removed on its own too
# Query parameter names whose value is a credential (a name containing one of these, case-insensitive).
SECRET_PARAMS = (
    "token",
    "key",
    "secret",
    "password",
    "passwd",
    "auth",
    "signature",
    "sig",
    "session",
    "credential",
)

_lock = threading.Lock()
_known: set[str] = set()
# One regex of every known form, and the same forms in lower case (a fast test before substituting),
# replaced together so a reader never sees one without the other.
_state: tuple[re.Pattern[str] | None, tuple[str, ...]] = (None, ())


def remember(values: Iterable[str]) -> None:
    """Add secrets (each in every encoding it can take) to those removed from messages."""
    global _state
    found = {v for value in values for v in variants(value) if len(v) >= MIN_SECRET}
    with _lock:
        if found <= _known:
            return
        _known.update(found)
        alternatives = sorted(_known, key=len, reverse=True)  # the longest form first
        pattern = re.compile("|".join(map(re.escape, alternatives)), re.IGNORECASE)
        _state = (pattern, tuple({a.lower() for a in alternatives}))


def scrub(text: str) -> str:
    """`text` with every known secret replaced by `<redacted>`."""
    pattern, lowered = _state
    if pattern is None or not text:
        return text
    low = text.lower()
    if not any(secret in low for secret in lowered):  # the usual case: one pass per secret, in C
        return text
    return pattern.sub(REDACTED, text)


def scrub_value(value: Any) -> Any:
    """Scrub the strings inside a JSON-like value (event data)."""
    if isinstance(value, str):
        return scrub(value)
    if isinstance(value, dict):
        return {k: scrub_value(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [scrub_value(v) for v in value]
    return value


def variants(secret: str) -> set[str]:
    """The forms a secret can take in a message."""
    forms = {secret, secret.strip()}
    if "://" in secret:
        forms |= _url_parts(secret)
    for form in list(forms):
        forms |= _encodings(form)
    return {f for f in forms if f}


def _encodings(text: str) -> set[str]:
    encoded = {quote(text, safe=""), quote(text), quote_plus(text), unquote(text), unquote_plus(text)}
    return encoded | {text.replace("/", "\\/")}  # JSON may escape slashes


def _url_parts(url: str) -> set[str]:
    """Where the secret of a URL lives: userinfo, password, path, query and its values."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return set()
    forms = {parts.netloc + parts.path, parts.query, *feed_url_secrets(url)}
    if len(parts.path.strip("/")) >= MIN_SECRET:  # a Slack or webhook token lives in the path
        forms.add(parts.path)
    forms |= {s for s in parts.path.split("/") if len(s) >= TOKEN_LIKE}  # a token alone, quoted back
    forms |= {value for _, value in parse_qsl(parts.query) if len(value) >= TOKEN_LIKE}
    return {f for f in forms if len(f) >= MIN_SECRET}


def basic_auth(user: str, password: str) -> set[str]:
    """base64 of `user:pass` (HTTP Basic) and of `\\0user\\0pass` (SMTP AUTH PLAIN)."""
    if not password:
        return set()
    return {
        base64.b64encode(f"{user}:{password}".encode()).decode(),
        base64.b64encode(f"\0{user}\0{password}".encode()).decode(),
    }


def feed_url_secrets(url: str) -> set[str]:
    """The credentials in a feed URL: its userinfo and password, and its token-like query values."""
    try:
        parts = urlsplit(url)
        password = parts.password
        user = parts.username
    except ValueError:
        return set()
    found = set()
    userinfo = parts.netloc.rpartition("@")[0]
    if userinfo:
        found |= {userinfo, *basic_auth(unquote(user or ""), unquote(password or ""))}
        if password:
            found.add(password)
    for name, value in parse_qsl(parts.query):
        if any(s in name.lower() for s in SECRET_PARAMS) and value:
            found.add(value)
    return found


def option_secrets(options: BaseModel) -> set[str]:
    """Every SecretStr inside a channel's validated options (nested models, lists and dicts too)."""
    found: set[str] = set()
    _collect(options, found, 0)
    return found


def _collect(value: Any, found: set[str], depth: int) -> None:
    if depth > 20:
        return
    if isinstance(value, SecretStr):
        found.add(value.get_secret_value())
    elif isinstance(value, BaseModel):
        for name in type(value).model_fields:
            _collect(getattr(value, name), found, depth + 1)
    elif isinstance(value, dict):
        for item in value.values():
            _collect(item, found, depth + 1)
    elif isinstance(value, list | tuple | set | frozenset):
        for item in value:
            _collect(item, found, depth + 1)
