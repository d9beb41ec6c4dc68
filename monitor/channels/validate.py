"""Validators shared by the channels' Options: URL schemes, addresses, header names and values."""

from __future__ import annotations

import base64
import binascii
import re
from urllib.parse import SplitResult, urlsplit

from pydantic import SecretStr

_TOKEN = re.compile(r"^[!#$%&'*+.^_`|~0-9A-Za-z-]+$")
_ADDRESS = re.compile(r"^[^\s<>@\"(),;:\\\[\]]+@[^\s<>@\"(),;:\\\[\]]+\.[^\s<>@\"(),;:\\\[\]]+$")


def parsed_url(secret: SecretStr | str, schemes: tuple[str, ...], what: str) -> SplitResult:
    """Split a secret URL, checking its scheme and host; the message never quotes the URL."""
    text = secret.get_secret_value() if isinstance(secret, SecretStr) else secret
    try:
        parts = urlsplit(text.strip())
        parts.port  # noqa: B018  (raises ValueError on a bad port)
    except ValueError:
        raise ValueError(f"{what} is not a valid URL") from None
    if parts.scheme.lower() not in schemes:
        expected = " or ".join(f"{s}://" for s in schemes)
        raise ValueError(f"{what} must start with {expected}")
    if not parts.hostname:
        raise ValueError(f"{what} has no host")
    return parts


def http_url(secret: SecretStr, what: str) -> SecretStr:
    """Check that a secret URL is http:// or https:// with a host."""
    parsed_url(secret, ("http", "https"), what)
    return secret


def address(value: str) -> str:
    """Check one plain email address (no display name, no CR/LF, one @)."""
    value = value.strip()
    if not _ADDRESS.match(value):
        raise ValueError(f"{value!r} is not a plain email address like name@example.org")
    return value


def whsec_key(secret: str) -> bytes:
    """The HMAC key of a `whsec_<base64>` secret (a bare base64 string is accepted too)."""
    encoded = secret.strip().removeprefix("whsec_")
    try:  # unpadded base64 is accepted too, as by the Standard Webhooks libraries
        key = base64.b64decode(encoded + "=" * (-len(encoded) % 4), validate=True)
    except (binascii.Error, ValueError):
        raise ValueError("secret must be whsec_ followed by base64") from None
    if len(key) < 16:
        raise ValueError("secret must be whsec_ followed by base64 of at least 16 bytes")
    return key


def header(name: str, value: str) -> None:
    """Check one extra HTTP header: a token name and a value with no CR, LF or NUL."""
    if not _TOKEN.match(name):
        raise ValueError(f"header name {name!r} is not a valid HTTP token")
    if any(c in value for c in "\r\n\0"):
        raise ValueError(f"header {name!r} has a line break in its value")
