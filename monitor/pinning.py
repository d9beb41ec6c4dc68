"""Resolve a host once, judge the addresses found, and connect only to those addresses.

    resolve(host)          the host's addresses (an address literal is itself; unresolvable: none)
    non_global(host, ...)  whether any of them is loopback, private, link-local or otherwise not global
    pinned(addresses)      while inside it, this task's connections to a host in `addresses` go to
                           those addresses only, never to a fresh DNS answer
    PinnedTransport        the httpx transport fetch clients are built with; its network backend
                           reads the running task's pins

The redirect policy (`fetch._get`) decides on the answer it resolved; without the pin httpx would
resolve the name again to connect, and a DNS answer that changes in between (rebinding: public at
the check, 127.0.0.1 at the connect) would reach the address that was refused. The pins live in a
context variable, so every fetch task has its own and a long-lived client is shared safely. A request
sent through a proxy (HTTP(S)_PROXY) is connected by the proxy, which resolves the name itself.
"""

from __future__ import annotations

import asyncio
import functools
import ipaddress
import os
import select
import socket
import ssl
import typing
from collections.abc import Iterable, Iterator, Mapping
from contextlib import contextmanager
from contextvars import ContextVar

import httpcore
import httpx

FIRST_TRIES = 5.0  # seconds an address may take to connect when another one is left to try

_PINS: ContextVar[Mapping[str, tuple[str, ...]] | None] = ContextVar("monitor_pins", default=None)


async def resolve(host: str) -> tuple[str, ...]:
    """The addresses `host` resolves to, in the resolver's order (an address literal is itself)."""
    if (literal := _literal(host)) is not None:
        return (literal,)
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, None, type=socket.SOCK_STREAM)
    except OSError:
        return ()  # the request itself fails and says so ("cannot resolve host name")
    return tuple(dict.fromkeys(str(info[4][0]) for info in infos))


def non_global(host: str, addresses: Iterable[str]) -> bool:
    """Whether any of `host`'s addresses is not globally routable (loopback, private, link-local...).

    MONITOR_TEST_PUBLIC_HOSTS (comma-separated host names, for tests only) names hosts to count as
    public, so the policy can be tested on loopback; it can only make the policy stricter.
    """
    public = {h.strip().lower() for h in os.environ.get("MONITOR_TEST_PUBLIC_HOSTS", "").split(",")}
    if host.lower() in public - {""}:
        return False
    return any(not _is_global(a) for a in addresses)


@functools.lru_cache(maxsize=4096)
def _literal(host: str) -> str | None:
    """`host` as an address literal, or None for a name (cached: the same feeds' hosts every poll)."""
    try:
        return str(ipaddress.ip_address(host))
    except ValueError:
        return None


@functools.lru_cache(maxsize=4096)
def _is_global(address: str) -> bool:
    return ipaddress.ip_address(address).is_global


@contextmanager
def pinned(addresses: Mapping[str, tuple[str, ...]]) -> Iterator[None]:
    """Connections this task opens inside the block to a host in `addresses` go to those addresses
    only (none: the connection fails as unresolvable). `addresses` may grow inside the block."""
    token = _PINS.set(addresses)
    try:
        yield
    finally:
        _PINS.reset(token)


class PinnedBackend(httpcore.AnyIOBackend):
    """httpcore's asyncio backend, connecting a pinned host to its checked addresses in turn."""

    async def connect_tcp(
        self,
        host: str,
        port: int,
        timeout: float | None = None,
        local_address: str | None = None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None = None,
    ) -> httpcore.AsyncNetworkStream:
        return KeptSocketStream(await self._connect(host, port, timeout, local_address, socket_options))

    async def _connect(
        self,
        host: str,
        port: int,
        timeout: float | None,
        local_address: str | None,
        socket_options: typing.Iterable[httpcore.SOCKET_OPTION] | None,
    ) -> httpcore.AsyncNetworkStream:
        pins = _PINS.get()
        if pins is None or host not in pins:
            return await super().connect_tcp(host, port, timeout, local_address, socket_options)
        addresses = pins[host]
        if not addresses:
            raise httpcore.ConnectError(f"cannot resolve {host}") from socket.gaierror(
                socket.EAI_NONAME, "no address"
            )
        loop = asyncio.get_running_loop()
        end = None if timeout is None else loop.time() + timeout
        for address in addresses[:-1]:
            left = FIRST_TRIES if end is None else max(0.0, min(end - loop.time(), FIRST_TRIES))
            try:
                return await super().connect_tcp(address, port, left, local_address, socket_options)
            except (httpcore.ConnectError, httpcore.ConnectTimeout):
                continue  # the next address; the last one's failure is the one reported
        rest = None if end is None else max(0.0, end - loop.time())
        return await super().connect_tcp(addresses[-1], port, rest, local_address, socket_options)


class KeptSocketStream(httpcore.AsyncNetworkStream):
    """A connection's stream that answers httpcore's "is_readable" from the socket it found once.

    httpcore asks it of every idle connection of a pool at each request and each response's end;
    anyio's answer rebuilds the stream's attribute table each time, a getpeername(2) included, which
    was a tenth of the daemon's steady CPU. The answer is the same poll(2) of the same socket.
    """

    def __init__(self, inner: httpcore.AsyncNetworkStream) -> None:
        self._inner = inner
        self._socket: socket.socket | None = inner.get_extra_info("socket")

    async def read(self, max_bytes: int, timeout: float | None = None) -> bytes:
        return await self._inner.read(max_bytes, timeout)

    async def write(self, buffer: bytes, timeout: float | None = None) -> None:
        await self._inner.write(buffer, timeout)

    async def aclose(self) -> None:
        await self._inner.aclose()

    async def start_tls(
        self, ssl_context: ssl.SSLContext, server_hostname: str | None = None, timeout: float | None = None
    ) -> httpcore.AsyncNetworkStream:
        return KeptSocketStream(await self._inner.start_tls(ssl_context, server_hostname, timeout))

    def get_extra_info(self, info: str) -> typing.Any:
        if info == "is_readable":
            return readable(self._socket)
        if info == "socket":
            return self._socket
        return self._inner.get_extra_info(info)


def readable(sock: socket.socket | None) -> bool:
    """httpcore's test of an idle connection: readable (or gone) means the server closed it."""
    if sock is None or (fd := sock.fileno()) < 0:
        return True
    if not hasattr(select, "poll"):  # Windows
        return bool(select.select([fd], [], [], 0)[0])
    poller = select.poll()
    poller.register(fd, select.POLLIN)
    return bool(poller.poll(0))


class PinnedTransport(httpx.AsyncHTTPTransport):
    """httpx's transport with `PinnedBackend` under its connection pool (same settings otherwise)."""

    def __init__(self, *, verify: ssl.SSLContext, http2: bool, limits: httpx.Limits) -> None:
        super().__init__(verify=verify, http2=http2, limits=limits)
        self._pool = httpcore.AsyncConnectionPool(
            ssl_context=verify,
            max_connections=limits.max_connections,
            max_keepalive_connections=limits.max_keepalive_connections,
            keepalive_expiry=limits.keepalive_expiry,
            http1=True,
            http2=http2,
            network_backend=PinnedBackend(),
        )
