"""A loopback HTTP feed server for tests: routes set per test, and every fault a feed host can show.

    with FeedServer() as server:
        server.feed("/rss", body)                 # 200 with ETag/Last-Modified, 304 when they match
        server.status("/gone", 404)
        server.redirect("/old", "/rss", code=301)
        server.drip("/slow", body, interval=1.0)  # one byte per interval
        fetch_all([FetchRequest("f", server.url("/rss"))])
        server.requests("/rss")                   # the headers of every request seen on that path

`FeedServer(tls=context, host="feeds.test")` serves HTTPS with the context's certificate, and its URLs
name `host` (which the test's resolver must answer with 127.0.0.1). The server runs in threads of the
test process on 127.0.0.1 with a random port. Handlers that wait
(drip, slow, hang) wake up when the server closes, so no test waits on them.
"""

from __future__ import annotations

import gzip
import hashlib
import ssl
import threading
from collections.abc import Callable
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from types import TracebackType
from typing import Any

Handler = Callable[["_RequestHandler"], None]


class FeedServer:
    """A threaded HTTP/1.1 server on 127.0.0.1 whose routes a test sets and changes between polls."""

    def __init__(
        self, *, tls: ssl.SSLContext | None = None, host: str = "127.0.0.1", idle_close: float | None = None
    ) -> None:
        """`idle_close`: close a connection idle this many seconds (as servers do), without telling."""
        self.stopping = threading.Event()
        self.scheme, self.host = ("https" if tls else "http"), host
        self._routes: dict[str, Handler] = {}
        self._seen: dict[str, list[dict[str, str]]] = {}
        self._lock = threading.Lock()
        handler = (
            _RequestHandler
            if idle_close is None
            else type("Idle", (_RequestHandler,), {"timeout": idle_close})
        )
        self._httpd = _CountingServer(("127.0.0.1", 0), handler)
        self._httpd.daemon_threads = True
        if tls is not None:  # the handshake runs in each request's thread, never in the accept loop
            self._httpd.socket = tls.wrap_socket(
                self._httpd.socket, server_side=True, do_handshake_on_connect=False
            )
        self._httpd.feedserver = self  # type: ignore[attr-defined]
        self.port = self._httpd.server_address[1]
        self._thread = threading.Thread(target=self._httpd.serve_forever, args=(0.05,), daemon=True)
        self._thread.start()

    def __enter__(self) -> FeedServer:
        return self

    def __exit__(self, *exc: type[BaseException] | BaseException | TracebackType | None) -> None:
        self.close()

    def close(self) -> None:
        """Stop serving and wake every waiting handler."""
        self.stopping.set()
        self._httpd.shutdown()
        self._httpd.server_close()

    @property
    def connections(self) -> int:
        """How many TCP connections the server has accepted so far (keep-alive reuses one)."""
        return self._httpd.accepted

    @property
    def closed(self) -> int:
        """How many of them the server has closed."""
        return self._httpd.closed

    def url(self, path: str) -> str:
        """The absolute URL of `path` on this server."""
        return f"{self.scheme}://{self.host}:{self.port}{path}"

    def route(self, path: str, handler: Handler) -> None:
        """Serve `path` with a custom handler (it gets the request handler and writes the response)."""
        with self._lock:
            self._routes[path] = handler

    def requests(self, path: str) -> list[dict[str, str]]:
        """The headers (lower-case names) of every request made to `path` so far."""
        with self._lock:
            return list(self._seen.get(path, []))

    def feed(
        self,
        path: str,
        body: bytes,
        *,
        content_type: str = "application/rss+xml; charset=utf-8",
        headers: dict[str, str] | None = None,
        last_modified: str | None = None,
    ) -> None:
        """A feed body with an ETag (and Last-Modified if given), answered 304 when a validator matches."""
        etag = '"' + hashlib.sha1(body).hexdigest()[:16] + '"'
        extra = {"Content-Type": content_type, "ETag": etag, **(headers or {})}
        if last_modified:
            extra["Last-Modified"] = last_modified

        def handle(h: _RequestHandler) -> None:
            same_tag = h.headers.get("If-None-Match") == etag
            same_date = last_modified is not None and h.headers.get("If-Modified-Since") == last_modified
            if same_tag or same_date:
                h.reply(304, b"", {"ETag": etag})
            else:
                h.reply(200, body, extra)

        self.route(path, handle)

    def status(
        self, path: str, code: int, *, headers: dict[str, str] | None = None, body: bytes = b""
    ) -> None:
        """Answer `path` with a fixed status code, headers and body."""
        self.route(path, lambda h: h.reply(code, body, headers or {}))

    def redirect(self, path: str, to: str, *, code: int = 302) -> None:
        """Redirect `path` to `to` (a path on this server or a full URL)."""
        self.status(path, code, headers={"Location": to})

    def slow(self, path: str, body: bytes, delay: float) -> None:
        """Answer with `body` after `delay` seconds."""

        def handle(h: _RequestHandler) -> None:
            if not self.stopping.wait(delay):
                h.reply(200, body, {"Content-Type": "application/rss+xml"})

        self.route(path, handle)

    def drip(self, path: str, body: bytes, *, interval: float = 1.0) -> None:
        """Send the headers at once, then the body one byte per `interval` seconds."""

        def handle(h: _RequestHandler) -> None:
            h.head(200, {"Content-Type": "application/rss+xml", "Content-Length": str(len(body))})
            for i in range(len(body)):
                h.wfile.write(body[i : i + 1])
                h.wfile.flush()
                if self.stopping.wait(interval):
                    return

        self.route(path, handle)

    def hang(self, path: str) -> None:
        """Accept the request and never answer (until the server closes)."""
        self.route(path, lambda h: self.stopping.wait())

    def gzip_bomb(self, path: str, size: int) -> None:
        """A small gzip body (Content-Encoding: gzip) that inflates to `size` zero bytes."""
        bomb = gzip.compress(b"\0" * size, compresslevel=9)
        self.status(path, 200, body=bomb, headers={"Content-Encoding": "gzip", "Content-Type": "text/xml"})

    def huge(self, path: str, size: int, *, declare_length: bool = True) -> None:
        """A body of `size` bytes, streamed; without `declare_length` it has no Content-Length."""

        def handle(h: _RequestHandler) -> None:
            headers = {"Content-Type": "application/rss+xml"}
            if declare_length:
                headers["Content-Length"] = str(size)
            else:
                h.close_connection = True
            h.head(200, headers)
            chunk, sent = b"<!-- filler -->" * 4096, 0
            while sent < size and not self.stopping.is_set():
                piece = chunk[: size - sent]
                h.wfile.write(piece)
                sent += len(piece)

        self.route(path, handle)

    def _handler_for(self, path: str, headers: dict[str, str]) -> Handler | None:
        with self._lock:
            self._seen.setdefault(path, []).append(headers)
            return self._routes.get(path)


class _CountingServer(ThreadingHTTPServer):
    """ThreadingHTTPServer that counts the connections it accepts."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.accepted, self.closed, self._count_lock = 0, 0, threading.Lock()

    def process_request(self, request: Any, client_address: Any) -> None:
        with self._count_lock:
            self.accepted += 1
        super().process_request(request, client_address)

    def shutdown_request(self, request: Any) -> None:
        super().shutdown_request(request)
        with self._count_lock:
            self.closed += 1


class _RequestHandler(BaseHTTPRequestHandler):
    """Dispatch each GET to the route set for its path; 404 for unknown paths."""

    protocol_version = "HTTP/1.1"
    server_version = "feedserver"

    def do_GET(self) -> None:
        server: FeedServer = self.server.feedserver  # type: ignore[attr-defined]
        headers = {k.lower(): v for k, v in self.headers.items()}
        handler = server._handler_for(self.path, headers)
        try:
            if handler is None:
                self.reply(404, b"no such route", {})
            else:
                handler(self)
        except (BrokenPipeError, ConnectionResetError):
            self.close_connection = True

    def head(self, code: int, headers: dict[str, str]) -> None:
        """Send the status line and headers."""
        self.send_response(code)
        for name, value in headers.items():
            self.send_header(name, value)
        self.end_headers()

    def reply(self, code: int, body: bytes, headers: dict[str, str]) -> None:
        """Send a complete response."""
        self.head(code, {**headers, "Content-Length": str(len(body))})
        self.wfile.write(body)

    def log_message(self, format: str, *args: object) -> None:
        """Keep test output quiet."""
