"""POST a body for an HTTP channel and map the answer to success, RetryLater or Rejected."""

from __future__ import annotations

import httpx

from monitor import USER_AGENT, escaping
from monitor.errors import Rejected, RetryLater
from monitor.retryafter import retry_after

TRANSIENT = frozenset({408, 409, 425, 429})


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
    detail = _scrub(escaping.clean_line(response.text, 200), url)
    reason = f"{what}: HTTP {status}" + (f" {detail}" if detail else "")
    if status in TRANSIENT or status >= 500:
        raise RetryLater(reason, retry_after(response.headers.get("retry-after")))
    raise Rejected(reason)


def _scrub(text: str, url: str) -> str:
    """Remove the URL, and its path and query (where webhook tokens live), from a message."""
    parsed = httpx.URL(url)
    for secret in (url, str(parsed), parsed.raw_path.decode("ascii", "replace"), parsed.query.decode()):
        if len(secret) > 1:
            text = text.replace(secret, "<redacted>")
    return text
