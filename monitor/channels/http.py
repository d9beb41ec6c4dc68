"""POST a body for an HTTP channel and map the answer to success, RetryLater or Rejected.

`HttpPoster` is a channel's one HTTP client: made at the first send, shared by the channel's concurrent
sends (an `httpx.Client` is safe across threads), closed when the channel is closed. Making a client
builds an SSL context (about 20 ms), so a client per message capped a channel near 12 alerts/s.
"""

from __future__ import annotations

import threading
from typing import Any

import httpx

from monitor import USER_AGENT, escaping
from monitor.channels import base
from monitor.errors import Rejected, RetryLater
from monitor.retryafter import retry_after
from monitor.scrub import scrub, variants

TRANSIENT = frozenset({408, 409, 425, 429})
MAX_READ = 20_000  # characters of a receiver's answer searched for secrets
EXCERPT = 200  # characters of it kept in the error, cut after the secrets are removed


class HttpPoster:
    """One channel's HTTP client, reused across sends, with `connections` kept alive at most.

    `close()` frees the client once no send is in flight; a send after `close()` (a worker still holding
    a channel a reload replaced) opens a client again, used for that send only and closed after it.
    """

    def __init__(self, timeout: float, connections: int = 1) -> None:
        self.timeout, self.connections = timeout, connections
        self._lock = threading.Lock()
        self._client: httpx.Client | None = None
        self._in_flight = 0
        self._closed = False
        self.opened = 0  # clients made so far (tests and the benchmark read it)

    def post(self, url: str, body: bytes, headers: dict[str, str], what: str) -> None:
        """POST `body` to `url`; raise RetryLater or Rejected naming `what`, never the URL (a secret)."""
        client = self._acquire()
        try:
            response = client.post(
                url, content=body, headers={"user-agent": USER_AGENT, **headers}, extensions=TRACE
            )
        except httpx.TimeoutException:
            raise RetryLater(f"{what}: timed out after {self.timeout:g} s") from None
        except httpx.HTTPError as exc:
            raise RetryLater(f"{what}: {type(exc).__name__}: {_scrub(str(exc), url)}") from None
        finally:
            self._release()
        check(response, url, what)

    def close(self) -> None:
        """Close the client now, or when the last send in flight ends."""
        with self._lock:
            self._closed = True
            client = self._client if self._in_flight == 0 else None
            if client is not None:
                self._client = None
        if client is not None:
            client.close()

    def _acquire(self) -> httpx.Client:
        with self._lock:
            if self._client is None:
                self._client = new_client(self.timeout, self.connections)
                self.opened += 1
            self._in_flight += 1
            return self._client

    def _release(self) -> None:
        with self._lock:
            self._in_flight -= 1
            client = self._client if self._closed and self._in_flight == 0 else None
            if client is not None:
                self._client = None
        if client is not None:
            client.close()


def _trace(event: str, _info: dict[str, Any]) -> None:
    """httpcore's trace hook: once the request body is written, the sender waits, so `base.waiting()`."""
    if event.endswith(".send_request_body.complete"):
        base.waiting()


TRACE = {"trace": _trace}


def new_client(timeout: float, connections: int = 1) -> httpx.Client:
    """An HTTP client for channel sends: no redirects, `connections` kept alive."""
    limits = httpx.Limits(max_connections=connections, max_keepalive_connections=connections)
    return httpx.Client(timeout=timeout, follow_redirects=False, limits=limits)


def post(url: str, body: bytes, headers: dict[str, str], timeout: float, what: str) -> None:
    """POST once with a client of its own (closed after): for one-off sends such as `alerts test`."""
    poster = HttpPoster(timeout)
    try:
        poster.post(url, body, headers, what)
    finally:
        poster.close()


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
