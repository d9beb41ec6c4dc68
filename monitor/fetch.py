"""Fetch feeds over HTTP(S) or from local files: conditional GET, size and time caps, many in flight.

`fetch_all` runs its own asyncio loop, so a scheduler worker thread can call it; `fetch_iter` runs it
in a worker thread and yields each result as it completes. Requests are spread over
several httpx clients sharded by host (one client with hundreds of connections spends its time in pool
bookkeeping); a global semaphore and one per host bound what is in flight. Every failure is a
`FetchError` value in the result list, never an exception that stops the other feeds.
"""

from __future__ import annotations

import asyncio
import concurrent.futures
import contextlib
import importlib.util
import os
import queue
import socket
import ssl
import stat
import threading
import time
from collections import defaultdict
from collections.abc import Awaitable, Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass
from datetime import timedelta
from email.utils import formatdate
from functools import cache, lru_cache
from urllib.parse import unquote, urljoin, urlsplit, urlunsplit

import httpx

from monitor import USER_AGENT, leanget
from monitor.errors import FetchError
from monitor.inflate import Inflater, size_text
from monitor.pinning import PinnedTransport, non_global, pinned, resolve
from monitor.records import Fetched, FetchRequest
from monitor.retryafter import retry_after
from monitor.scrub import SECRET_PARAMS

MAX_REDIRECTS = 5
DRAIN_BYTES = 64 * 1024  # an unused body (error, redirect) this short is read to keep its connection
DRAIN_SECONDS = 1.0  # ... if it arrives this soon
MAX_SHARDS = 64  # httpx clients per batch: a pool with many connections is slow to manage
LOOP_SHARDS = 1024  # httpx clients of the daemon's fetch loop: one per host up to this many
KEEPALIVE = 5.0  # seconds an idle connection is kept (httpx's default): a batch's own reuse
MAX_KEEPALIVE = 300.0  # seconds: the longest the daemon keeps one (`keepalive_for`)
IDLE_CONNECTIONS = 4096  # idle connections kept at most over all shards (the daemon's long expiry)
REDIRECTS = frozenset({301, 302, 303, 307, 308})
PERMANENT_REDIRECTS = frozenset({301, 308})
ACCEPT = "application/rss+xml, application/atom+xml, application/xml;q=0.9, text/xml;q=0.9, */*;q=0.8"
ACCEPT_HTML = "text/html, application/xhtml+xml;q=0.9, */*;q=0.5"


@dataclass(frozen=True)
class FetchOptions:
    """The bounds of a batch of fetches, and the Accept header its requests send."""

    max_bytes: int
    deadline: float
    limit: int
    per_host: int
    accept: str = ACCEPT
    keepalive: float = KEEPALIVE  # seconds an idle connection is kept for the next request


def fetch_all(
    requests: Sequence[FetchRequest],
    *,
    max_bytes: int = 10 * 2**20,
    deadline: float = 30.0,
    limit: int = 200,
    per_host: int = 8,
    accept: str = ACCEPT,
) -> list[Fetched | FetchError]:
    """Fetch every request concurrently; results in request order, failures as `FetchError` values.

    `deadline` bounds each fetch from its start (connect, redirects and body), `max_bytes` bounds the
    body both as sent and after decompression, `limit` and `per_host` bound the requests in flight.
    """
    if not requests:
        return []
    opts = FetchOptions(max_bytes, deadline, max(1, limit), max(1, per_host), accept)
    try:
        asyncio.get_running_loop()
    except RuntimeError:
        return asyncio.run(_fetch_all(list(requests), opts))
    with concurrent.futures.ThreadPoolExecutor(1) as pool:  # called from inside a loop: run ours aside
        return pool.submit(asyncio.run, _fetch_all(list(requests), opts)).result()


def redact_url(url: str) -> str:
    """`url` fit for messages and logs: no user name or password, secret-looking query values masked."""
    try:
        parts = urlsplit(url)
    except ValueError:
        return "<invalid URL>"
    netloc = parts.netloc.rpartition("@")[2]
    query = "&".join(_redact_param(p) for p in parts.query.split("&")) if parts.query else ""
    return urlunsplit((parts.scheme, netloc, parts.path, query, parts.fragment))


def _redact_param(param: str) -> str:
    name, eq, _value = param.partition("=")
    if eq and any(s in name.lower() for s in SECRET_PARAMS):
        return f"{name}=***"
    return param


def fetch_iter(
    requests: Sequence[FetchRequest],
    *,
    max_bytes: int = 10 * 2**20,
    deadline: float = 30.0,
    limit: int = 200,
    stop: threading.Event | None = None,
) -> Iterator[tuple[FetchRequest, Fetched | FetchError]]:
    """Like `fetch_all`, but yield each (request, result) as soon as it completes (a slow feed delays no other).

    The fetches run on their own asyncio loop in a worker thread; the caller's thread gets the results.
    Setting `stop` (shutdown) abandons the fetches still in flight: their requests yield nothing.
    """
    if not requests:
        return
    opts, done = FetchOptions(max_bytes, deadline, max(1, limit), 8), queue.SimpleQueue[object]()

    def run() -> None:
        job = _fetch_all(list(requests), opts, lambda i, r: done.put((requests[i], r)))
        try:
            asyncio.run(until_stopped(job, stop))
        finally:
            done.put(None)

    worker = threading.Thread(target=run, name="fetch", daemon=True)
    worker.start()
    while (got := done.get()) is not None:
        yield got  # type: ignore[misc]
    worker.join()


async def until_stopped(job: Awaitable[object], stop: threading.Event | None) -> None:
    """Run `job`, cancelling it when `stop` is set (checked ten times a second)."""
    task = asyncio.ensure_future(job)
    while not task.done():
        if stop is not None and stop.is_set():
            task.cancel()
        await asyncio.wait({task}, timeout=0.1)
    if not task.cancelled():
        task.result()


async def _fetch_all(
    requests: list[FetchRequest],
    opts: FetchOptions,
    on_done: Callable[[int, Fetched | FetchError], None] | None = None,
) -> list[Fetched | FetchError]:
    gates = Gates(opts)
    hosts = dict.fromkeys(_host(r.url) for r in requests if not _is_local(r.url))
    clients = Clients({host: i % MAX_SHARDS for i, host in enumerate(hosts)}, opts)
    try:
        return await fetch_batch(requests, clients, gates, opts, on_done)
    finally:
        await clients.aclose()


async def fetch_batch(
    requests: list[FetchRequest],
    clients: Clients,
    gates: Gates,
    opts: FetchOptions,
    on_done: Callable[[int, Fetched | FetchError], None] | None = None,
) -> list[Fetched | FetchError]:
    """Fetch `requests` through `clients` under `gates` (both may outlive the batch: fetchloop.py)."""
    jobs = [fetch_one(req, clients, gates.all, gates.hosts, opts) for req in requests]
    if on_done is not None:
        jobs = [_report(i, job, on_done) for i, job in enumerate(jobs)]
    return list(await asyncio.gather(*jobs))


class Gates:
    """The bounds on requests in flight: `all` of them, and each host's (created on first use)."""

    def __init__(self, opts: FetchOptions) -> None:
        self.all = asyncio.Semaphore(opts.limit)
        per_host = opts.per_host
        self.hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))


async def _report(
    index: int,
    job: Awaitable[Fetched | FetchError],
    on_done: Callable[[int, Fetched | FetchError], None],
) -> Fetched | FetchError:
    result = await job
    on_done(index, result)
    return result


class Clients:
    """httpx clients created on first use, one per shard of hosts (one per host up to MAX_SHARDS).

    A host missing from `shards` uses shard 0, or, with `grow` (a long-lived set: fetchloop.py), is
    given the next shard in turn the first time it is seen, up to LOOP_SHARDS: httpcore looks at
    every connection of a pool (a poll(2) of each idle one) at each request and each response's end,
    so with connections kept between polls, a pool per host keeps that to the host's own.
    """

    def __init__(self, shards: dict[str, int], opts: FetchOptions, *, grow: bool = False) -> None:
        self._clients: dict[int, httpx.AsyncClient] = {}
        self._shards, self._opts, self._grow = shards, opts, grow

    def for_host(self, host: str) -> httpx.AsyncClient:
        if self._grow and host not in self._shards:
            self._shards[host] = len(self._shards) % LOOP_SHARDS
        shard = self._shards.get(host, 0)
        if shard not in self._clients:
            idle = self._opts.limit  # a batch's own: closed with the batch
            if self._opts.keepalive > KEEPALIVE:  # kept across polls: bounded over every shard
                idle = min(idle, max(4, IDLE_CONNECTIONS // LOOP_SHARDS))
            limits = httpx.Limits(
                max_connections=self._opts.limit,
                max_keepalive_connections=idle,
                keepalive_expiry=self._opts.keepalive,
            )
            self._clients[shard] = httpx.AsyncClient(
                http2=_has_h2(),
                verify=_ssl_context(),
                timeout=httpx.Timeout(self._opts.deadline),
                limits=limits,
                # connects to the addresses _get checked (pinning.py); a proxied URL goes to its proxy
                transport=PinnedTransport(verify=_ssl_context(), http2=_has_h2(), limits=limits),
                mounts=proxy_mounts(limits),
                headers={
                    "User-Agent": USER_AGENT,
                    "Accept": self._opts.accept,
                    "Accept-Encoding": "gzip, deflate",
                },
                follow_redirects=False,
                trust_env=True,  # SSL_CERT_FILE and .netrc as httpx reads them
            )
        return self._clients[shard]

    async def aclose(self) -> None:
        await asyncio.gather(*(c.aclose() for c in self._clients.values()), return_exceptions=True)


def proxy_mounts(limits: httpx.Limits) -> dict[str, httpx.AsyncBaseTransport | None]:
    """HTTP_PROXY, HTTPS_PROXY, ALL_PROXY and NO_PROXY, read as httpx reads them, as the client's mounts.

    httpx mounts the environment's proxies only for a client without a transport of its own, and the
    fetch clients have one (`PinnedTransport`): without these mounts they would never reach the proxy.
    A NO_PROXY host's pattern maps to None: the client's own transport.
    """
    from httpx._utils import get_environment_proxies  # httpx's reading of them (pinned: httpx 0.28)

    return {
        pattern: None
        if url is None
        else httpx.AsyncHTTPTransport(proxy=url, verify=_ssl_context(), http2=_has_h2(), limits=limits)
        for pattern, url in get_environment_proxies().items()
    }


def keepalive_for(intervals: Iterable[timedelta]) -> float:
    """How long the daemon keeps an idle connection: the longest poll interval (+10% jitter) and a
    margin, so a feed's next poll finds its connection, at most MAX_KEEPALIVE. A server that closes
    it sooner costs nothing: httpcore finds the socket closed when it takes it, and opens a new one."""
    longest = max((every.total_seconds() for every in intervals), default=None)
    return KEEPALIVE if longest is None else min(max(KEEPALIVE, longest * 1.1 + 10), MAX_KEEPALIVE)


@cache
def _has_h2() -> bool:
    return importlib.util.find_spec("h2") is not None


@cache
def _ssl_context() -> ssl.SSLContext:
    return httpx.create_ssl_context()  # building one loads the CA bundle: share it between clients


async def fetch_one(
    req: FetchRequest,
    clients: Clients,
    gate: asyncio.Semaphore,
    host_gates: defaultdict[str, asyncio.Semaphore],
    opts: FetchOptions,
) -> Fetched | FetchError:
    """One bounded fetch (a local file, or GET under `gate` and the host's gate); failures as values."""
    shown = redact_url(req.url)
    try:
        if _is_local(req.url):
            return await asyncio.to_thread(_read_local, req, opts.max_bytes)
        host = _host(req.url)
        if not host or not req.url.lower().startswith(("http://", "https://")):
            return FetchError(shown, "not an http(s) URL or absolute path")
        async with gate, host_gates[host]:
            async with asyncio.timeout(opts.deadline):
                return await _get(clients.for_host(host), req, opts)
    except FetchError as err:
        return err
    except (TimeoutError, httpx.TimeoutException):
        return FetchError(shown, f"timed out after {opts.deadline:g} s")
    except Exception as exc:  # one broken feed must never stop the batch
        return FetchError(shown, _describe(exc))


def _describe(exc: BaseException) -> str:
    """A short reason for a transport failure, from the first telling exception in its chain."""
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ConnectionRefusedError):
            return "connection refused"
        if isinstance(seen, socket.gaierror):
            return "cannot resolve host name"
        if isinstance(seen, ssl.SSLCertVerificationError):  # OpenSSL's words: expired, wrong name...
            why = str(seen.verify_message or "").rstrip(".")
            return f"TLS certificate not trusted ({why})" if why else "TLS certificate not trusted"
        if isinstance(seen, ssl.SSLError):
            return "TLS handshake failed"
        seen = seen.__cause__ or seen.__context__
    for kind, reason in _TRANSPORT_REASONS:
        if isinstance(exc, kind):
            return reason
    return f"fetch failed ({type(exc).__name__})"


_TRANSPORT_REASONS: tuple[tuple[type[Exception], str], ...] = (
    (httpx.UnsupportedProtocol, "not an http(s) URL or absolute path"),
    (httpx.InvalidURL, "not an http(s) URL or absolute path"),
    (httpx.ConnectError, "cannot connect"),
    (httpx.RemoteProtocolError, "server broke the HTTP protocol"),
    (httpx.ReadError, "connection lost while reading"),
    (httpx.WriteError, "connection lost while sending"),
    (httpx.ProxyError, "proxy refused the request"),
    (httpx.DecodingError, "undecodable response"),
)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""


def _is_local(url: str) -> bool:
    return url.startswith("file://") or os.path.isabs(url)


def _read_local(req: FetchRequest, max_bytes: int) -> Fetched:
    """Read a local feed file (status 0); unchanged modification time means not modified."""
    start = time.monotonic()
    path = unquote(urlsplit(req.url).path) if req.url.startswith("file://") else req.url
    try:
        info = os.stat(path)
        if not stat.S_ISREG(info.st_mode):
            raise FetchError(req.url, "not a regular file")
        if info.st_size > max_bytes:
            raise FetchError(req.url, f"file over {size_text(max_bytes)}")
        modified = formatdate(info.st_mtime, usegmt=True)
        if req.last_modified == modified:
            return Fetched(req.feed, req.url, req.url, 0, None, last_modified=modified)
        with open(path, "rb") as file:
            body = file.read(max_bytes + 1)
    except OSError as exc:
        raise FetchError(req.url, exc.strerror or "cannot read file") from None
    if len(body) > max_bytes:
        raise FetchError(req.url, f"file over {size_text(max_bytes)}")
    elapsed = time.monotonic() - start
    return Fetched(req.feed, req.url, req.url, 0, body, last_modified=modified, elapsed=elapsed)


async def _get(client: httpx.AsyncClient, req: FetchRequest, opts: FetchOptions) -> Fetched:
    """GET with conditional headers, following at most MAX_REDIRECTS redirects by hand.

    Each host of the chain is resolved once, and connected to at the addresses found (`pinning`), so
    the redirect policy judges the very addresses the requests go to.
    """
    start = time.monotonic()
    headers = {}
    if req.etag:
        headers["If-None-Match"] = req.etag
    if req.last_modified:
        headers["If-Modified-Since"] = req.last_modified
    url, seen, permanent = req.url, {req.url}, True
    resolved: dict[str, tuple[str, ...]] = {}
    with pinned(resolved):
        origin_private = await _is_private_host(url, resolved)
        while True:
            async with leanget.stream(client, url, headers) as resp:
                if resp.status_code not in REDIRECTS or "location" not in resp.headers:
                    moved = url if permanent and url != req.url else None
                    return await _finish(req, url, resp, moved, opts, time.monotonic() - start)
                target = urljoin(url, resp.headers["location"])
                await _drain(resp)
            permanent = permanent and resp.status_code in PERMANENT_REDIRECTS
            if urlsplit(target).scheme not in ("http", "https"):
                raise FetchError(redact_url(req.url), "redirect to a non-HTTP URL")
            if await _leaves_public_network(origin_private, target, resolved):
                raise FetchError(
                    redact_url(req.url),
                    f"redirect from a public address to a private, loopback or link-local one refused "
                    f"({redact_url(target)})",
                )
            if target in seen:
                raise FetchError(redact_url(req.url), "redirect loop")
            if len(seen) > MAX_REDIRECTS:
                raise FetchError(redact_url(req.url), f"more than {MAX_REDIRECTS} redirects")
            seen.add(target)
            url = target


async def _leaves_public_network(
    origin_private: bool, target: str, resolved: dict[str, tuple[str, ...]]
) -> bool:
    """Whether a redirect moves from a feed on a public address to a private one (a feed on your own
    network may redirect within it)."""
    return not origin_private and await _is_private_host(target, resolved)


@lru_cache(maxsize=4096)
def _raw_host(url: str) -> str:
    """The host httpx connects to for `url` (IDNA-encoded); cached: a feed's URL is asked every poll."""
    return httpx.URL(url).raw_host.decode("ascii")


async def _is_private_host(url: str, resolved: dict[str, tuple[str, ...]]) -> bool:
    """Whether `url`'s host is, or resolves to, any address that is not globally routable.

    The host is resolved once per fetch, into `resolved`: the addresses the request is pinned to.
    """
    host = _raw_host(url)
    if host not in resolved:
        resolved[host] = await resolve(host)
    return non_global(host, resolved[host])


async def _finish(
    req: FetchRequest, url: str, resp: httpx.Response, moved: str | None, opts: FetchOptions, elapsed: float
) -> Fetched:
    """Turn the final response into a `Fetched`, or raise `FetchError` for an error status or size."""
    shown, code = redact_url(req.url), resp.status_code
    etag = resp.headers.get("etag")
    modified = resp.headers.get("last-modified")
    max_age = _max_age(resp.headers.get("cache-control"))
    if code == 304:
        await _drain(resp)  # no body: read to its end, so the connection goes back to the pool
        etag, modified = etag or req.etag, modified or req.last_modified
        return Fetched(
            req.feed, req.url, url, 304, None, None, etag, modified, moved, max_age, elapsed=elapsed
        )
    if not 200 <= code < 300:
        retry = retry_after(resp.headers.get("retry-after")) if code in (429, 503) else None
        reason = f"HTTP {code} {resp.reason_phrase}".rstrip()
        await _drain(resp)
        raise FetchError(shown, reason, status=code, retry_after=retry)
    length = resp.headers.get("content-length", "")
    if length.isdigit() and int(length) > opts.max_bytes:
        raise FetchError(shown, f"response over {size_text(opts.max_bytes)}", status=code)
    body = await _read_body(shown, resp, opts.max_bytes)
    ctype = resp.headers.get("content-type")
    return Fetched(req.feed, req.url, url, code, body, ctype, etag, modified, moved, max_age, elapsed=elapsed)


async def _drain(resp: httpx.Response) -> None:
    """Read a response we do not use (304, redirect, error) to its end, so its connection is kept
    alive for the next request: httpx closes a connection whose response was left unread. Only a
    short body, briefly: a long or slow one is abandoned with its connection, as before."""
    length = resp.headers.get("content-length", "")
    if resp.status_code != 304 and not (length.isdigit() and int(length) <= DRAIN_BYTES):
        return
    with contextlib.suppress(Exception):
        async with asyncio.timeout(DRAIN_SECONDS):
            async for _chunk in resp.aiter_raw():
                pass


async def _read_body(shown: str, resp: httpx.Response, max_bytes: int) -> bytes:
    """Stream the raw body and inflate it ourselves, so neither form can grow past `max_bytes`."""
    inflater = Inflater.for_encoding(shown, resp.headers.get("content-encoding", ""), max_bytes)
    raw_total, parts = 0, []
    async for chunk in resp.aiter_raw():
        raw_total += len(chunk)
        if raw_total > max_bytes:
            raise FetchError(shown, f"response over {size_text(max_bytes)}", status=resp.status_code)
        parts.append(inflater.feed(chunk) if inflater else chunk)
    if inflater:
        parts.append(inflater.flush())
    return b"".join(parts)


def _max_age(value: str | None) -> float | None:
    for directive in (value or "").split(","):
        name, _, arg = directive.strip().partition("=")
        if name.lower() == "max-age" and arg.strip().strip('"').isdigit():
            return float(arg.strip().strip('"'))
    return None
