"""A feed's GET sent straight to its client's transport, past httpx's client layer, when nothing needs it.

`fetch._get` sends each hop of a poll through `stream(client, url, headers)`. httpx's
`AsyncClient.stream` spends about as much CPU per request as the connection pool itself (merging the
URL, headers and cookies, the auth and redirect machinery, hooks, wrapping the response): on a
daemon whose polls are nearly all 304s, that is a large share of its steady CPU. `stream` builds the
request the client would build (the same URL, the same header list in the same order, the client's
timeouts) and hands it to the transport the client would use (`PinnedTransport`: the connection still
goes only to the addresses `fetch._get` checked); the response is the transport's, read by the same
code as before (status, redirects, size caps, validators are `fetch._get`'s and `fetch._finish`'s).

It takes the client's own path instead whenever the client would do more than that: a proxy from the
environment serves the URL, the URL carries a user name or password (basic auth), or the client holds
cookies. A response that sets a cookie is stored in the client's jar as the client would (the next
request to that client then takes the full path and sends it). What is skipped: httpx's INFO log line
per request (the daemon keeps httpx at WARNING) and the response's `elapsed` and `request` (unused).
`tests/test_leanget.py` checks, against a real loopback server, that both paths send the same bytes and
that a poll stores the same result either way.
"""

from __future__ import annotations

import contextlib
from collections.abc import AsyncIterator, Mapping
from functools import lru_cache

import httpx

LEAN = True  # tests switch it off to run the same fetches through httpx's full client path


@lru_cache(maxsize=4096)
def _url(url: str) -> httpx.URL:
    """The parsed URL (immutable, shared): a feed's URL is asked every poll."""
    return httpx.URL(url)


def _plain(client: httpx.AsyncClient, url: httpx.URL) -> bool:
    """Whether the client would send `url` as is through its own transport: no proxy, no auth, no cookies."""
    return (
        LEAN
        and not url.userinfo
        and not client.cookies.jar
        and client._transport_for_url(url) is client._transport  # a proxy mount for this URL: httpx's path
    )


@contextlib.asynccontextmanager
async def stream(
    client: httpx.AsyncClient, url: str, headers: Mapping[str, str]
) -> AsyncIterator[httpx.Response]:
    """`client.stream("GET", url, headers=headers)`, through the transport directly when that is the same."""
    parsed = _url(url)
    if not _plain(client, parsed):
        async with client.stream("GET", parsed, headers=headers) as resp:
            yield resp
        return
    merged = client.headers.copy()  # the client's merge: its own headers, then the request's
    merged.update(headers)
    request = httpx.Request("GET", parsed, headers=merged, extensions={"timeout": client.timeout.as_dict()})
    resp = await client._transport.handle_async_request(request)
    try:
        if "set-cookie" in resp.headers:  # kept as the client keeps them (the full path sends them next)
            resp.request = request
            client.cookies.extract_cookies(resp)
        yield resp
    finally:
        await resp.aclose()
