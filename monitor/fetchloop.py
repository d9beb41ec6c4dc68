"""The daemon's fetch loop: one asyncio loop thread for the daemon's life, its connections kept.

`fetch.fetch_iter` builds a thread, an event loop and httpx clients for each batch and closes them
after: right for `run --once` and `monitor try`, wasteful for a daemon polling a few feeds every
second. A `FetchLoop` runs one loop in one thread; every batch of the poller runs on it, through the
same `Clients` (their keep-alive connection pools, idle connections kept for a poll interval) and
the same `Gates` (the bounds in flight hold across batches running together). `close()` at stop
closes the connections and ends the thread.

The fetches themselves are `fetch.fetch_batch`: the same code, redirect policy and DNS pinning
(pinning.py: the pins live in each fetch task's context, so sharing the clients is safe).
"""

from __future__ import annotations

import asyncio
import contextlib
import queue
import threading
from collections.abc import Iterator, Sequence

from monitor.errors import FetchError
from monitor.fetch import KEEPALIVE, Clients, FetchOptions, Gates, fetch_batch, until_stopped
from monitor.records import Fetched, FetchRequest

CLOSE_TIMEOUT = 10.0  # seconds close() waits for the connections to shut


class FetchLoop:
    """A long-lived asyncio loop thread, its httpx clients and its gates, shared by every batch."""

    def __init__(
        self,
        *,
        max_bytes: int = 10 * 2**20,
        deadline: float = 30.0,
        limit: int = 200,
        per_host: int = 8,
        keepalive: float = KEEPALIVE,
    ) -> None:
        """`keepalive`: seconds an idle connection is kept (the daemon's: `fetch.keepalive_for` its
        feeds' intervals, so a feed's next poll reuses its connection)."""
        self.opts = FetchOptions(max_bytes, deadline, max(1, limit), max(1, per_host), keepalive=keepalive)
        self._clients = Clients({}, self.opts, grow=True)
        self._gates = Gates(self.opts)  # asyncio primitives bind to the loop that first waits on them
        self._loop = asyncio.new_event_loop()
        self._thread = threading.Thread(target=self._loop.run_forever, name="fetch-loop", daemon=True)
        self._thread.start()
        self._closed = False

    def fetch_iter(
        self, requests: Sequence[FetchRequest], *, stop: threading.Event | None = None
    ) -> Iterator[tuple[FetchRequest, Fetched | FetchError]]:
        """`fetch.fetch_iter` on this loop: each (request, result) as it completes, in the caller's
        thread; setting `stop` abandons the fetches in flight (their requests yield nothing)."""
        if not requests:
            return
        if self._closed:
            raise RuntimeError("the fetch loop is closed")
        batch, done = list(requests), queue.SimpleQueue[object]()

        async def run() -> None:
            try:
                job = fetch_batch(
                    batch, self._clients, self._gates, self.opts, lambda i, r: done.put((batch[i], r))
                )
                await until_stopped(job, stop)
            finally:
                done.put(None)

        future = asyncio.run_coroutine_threadsafe(run(), self._loop)
        try:
            while (got := done.get()) is not None:
                yield got  # type: ignore[misc]
            future.result()
        finally:
            future.cancel()  # the caller gave up early (an exception): abandon what is left

    def close(self) -> None:
        """Close the connections and end the loop thread (at stop, after the last batch)."""
        if self._closed:
            return
        self._closed = True
        with contextlib.suppress(Exception):  # a connection that will not close must not hold up the stop
            asyncio.run_coroutine_threadsafe(self._clients.aclose(), self._loop).result(CLOSE_TIMEOUT)
        self._loop.call_soon_threadsafe(self._loop.stop)
        self._thread.join(CLOSE_TIMEOUT)
        if not self._thread.is_alive():
            self._loop.close()
