"""POST a body for an HTTP channel and map the answer to success, RetryLater or Rejected."""

from __future__ import annotations

import time
from email.utils import parsedate_to_datetime

import httpx

from monitor import escaping
from monitor.errors import Rejected, RetryLater
from monitor.scrub import scrub, variants

USER_AGENT = "monitor/0.1 (+alerts)"
TRANSIENT = frozenset({408, 409, 425, 429})
MAX_RETRY_AFTER = 86400.0  # a server asking for more than a day is capped at a day
MAX_READ = 20_000  # characters of a receiver's answer searched for secrets
EXCERPT = 200  # characters of it kept in the error, cut after the secrets are removed


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent or bad."""
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError):
        return None
    if moment.tzinfo is None:  # not an HTTP-date (those are GMT)
        return None
    wait = moment.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, wait), MAX_RETRY_AFTER)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, what: str) -> None:
    """POST `body` to `url`; raise RetryLater or Rejected naming `what`, never the URL (a secret)."""
    try:
        with httpx.Client(timeout=timeout, follow_redirects=False) as client:
            response = client.post(url, content=body, headers={"user-agent": USER_AGENT, **headers})
    except httpx.TimeoutException:
        raise RetryLater(f"{what}: timed out after {timeout:g} s") from None
    except httpx.HTTPError as exc:
        raise RetryLater(f"{what}: {type(exc).__name__}: {_scrub(str(exc), url)}") from None
    check(response, url, what)


def check(response: httpx.Response, url: str, what: str) -> None:
    """Return on 2xx; RetryLater on 408/409/425/429/5xx (with Retry-After); Rejected on any other status."""
    status = response.status_code
    if 200 <= status < 300:
        return
    detail = escaping.truncate(escaping.clean_line(_scrub(response.text[:MAX_READ], url), MAX_READ), EXCERPT)
    reason = f"{what}: HTTP {status}" + (f" {detail}" if detail else "")
    if status in TRANSIENT or status >= 500:
        raise RetryLater(reason, retry_after(response.headers.get("retry-after")))
    raise Rejected(reason)


def _scrub(text: str, url: str) -> str:
    """Remove the URL in each of its forms (path and query: where webhook tokens live), then every
    configured secret, from a message."""
    parsed = httpx.URL(url)
    for secret in sorted(variants(url) | variants(str(parsed)), key=len, reverse=True):
        if len(secret) > 3:
            text = text.replace(secret, "<redacted>")
    return scrub(text)
