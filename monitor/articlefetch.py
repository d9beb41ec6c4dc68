"""Read the article pages of `fulltext` items: polite fetches, text extraction in the parse workers.

    PageReader       one asyncio loop's fetching: bounded like feed fetches (30 s, 10 MB, 5 redirects,
                     http/https), at most `per_host` pages in flight per host, a host's 429/503
                     Retry-After pausing every page of that host; the text is extracted in a parse worker
    ArticleFetcher   the daemon's thread: claims pending items (leased), reads their pages, and hands
                     each outcome to `pipeline.finish_article`, which stores it and matches the item
    read_pages()     the same reading for `monitor try --feed`, nothing stored

The fetcher runs beside the feed polls and the deliveries, never inside them: a slow article page
holds up only its own item.
"""

from __future__ import annotations

import asyncio
import logging
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from urllib.parse import urlsplit

from sqlmodel import Session

from monitor import db, fulltext, parsepool, pipeline
from monitor.errors import FetchError, ParseError
from monitor.fetch import ACCEPT_HTML, Clients, FetchOptions, fetch_one, redact_url
from monitor.models import Item, utcnow
from monitor.records import FetchRequest
from monitor.runtime import Runtime

log = logging.getLogger("monitor.articles")
IN_FLIGHT = 32  # article pages read at once, every host together
RETRIES = 3  # a host that keeps answering 429/503 with Retry-After: the item is matched on its feed text
IDLE_NAP = 10.0  # seconds between two claims while no item is pending (a new one wakes it at once)
MAX_PAUSE = 600.0  # a Retry-After longer than this is shortened (the item waits in memory meanwhile)
RENEW_EVERY = 20.0  # seconds between lease renewals of the items being read
Outcome = str | FetchError | ParseError


class PageReader:
    """Fetch pages and extract their text on the running loop; one per loop."""

    def __init__(self, per_host: int = 4, limit: int = IN_FLIGHT) -> None:
        # fetch_one's own per-host gate is set wide: ours below is taken first, with the pause inside it
        self._opts = FetchOptions(10 * 2**20, 30.0, limit, limit, ACCEPT_HTML)
        self._clients = Clients({}, self._opts)
        self._gate = asyncio.Semaphore(limit)
        self._wide: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(limit))
        self._hosts: defaultdict[str, asyncio.Semaphore] = defaultdict(lambda: asyncio.Semaphore(per_host))
        self._paused: dict[str, float] = {}  # host -> loop time before which it is not asked again

    async def read(self, name: str, url: str) -> Outcome:
        """The main text of the page at `url` (already checked by `fulltext.fetchable`), or the failure."""
        host = _host(url)
        for attempt in range(RETRIES + 1):
            async with self._hosts[host]:
                await self._wait_for(host)
                result = await fetch_one(
                    FetchRequest(name, url), self._clients, self._gate, self._wide, self._opts
                )
            if isinstance(result, FetchError) and result.retry_after is not None and attempt < RETRIES:
                until = asyncio.get_running_loop().time() + min(result.retry_after, MAX_PAUSE)
                self._paused[host] = max(self._paused.get(host, 0.0), until)
                continue
            break
        if isinstance(result, FetchError):
            return result
        if result.body is None:
            return FetchError(redact_url(url), "no body")
        wait = parsepool.submit_article(result.body, redact_url(result.final_url), result.content_type)
        return await asyncio.to_thread(wait)

    async def _wait_for(self, host: str) -> None:
        loop = asyncio.get_running_loop()
        while (delay := self._paused.get(host, 0.0) - loop.time()) > 0:
            await asyncio.sleep(delay)

    async def aclose(self) -> None:
        await self._clients.aclose()


def read_pages(
    name: str,
    urls: Sequence[str],
    *,
    per_host: int = 4,
    on_done: Callable[[int], None] | None = None,
) -> list[Outcome]:
    """Read every page (for `monitor try`); `on_done(i)` after each, in completion order."""

    async def run() -> list[Outcome]:
        reader = PageReader(per_host)

        async def one(i: int, url: str) -> Outcome:
            outcome = await reader.read(name, url)
            if on_done is not None:
                on_done(i)
            return outcome

        try:
            return list(await asyncio.gather(*(one(i, url) for i, url in enumerate(urls))))
        finally:
            await reader.aclose()

    return asyncio.run(run()) if urls else []


class ArticleFetcher:
    """Claims the items waiting for their article and reads them, on a thread of its own."""

    def __init__(self, rt: Runtime) -> None:
        self.rt = rt
        self._busy: dict[str, asyncio.Task[None]] = {}
        self._thread: threading.Thread | None = None
        self._stop = threading.Event()

    def start(self) -> None:
        """Run in the background until `stop()`."""
        self._thread = threading.Thread(target=self._run, args=(False,), name="articles", daemon=True)
        self._thread.start()

    def stop(self) -> None:
        """Abandon the pages in flight (their items stay pending: the next start reads them)."""
        self._stop.set()
        self.rt.articles_due.set()
        if self._thread is not None:
            self._thread.join(timeout=35)

    def run_until_idle(self) -> None:
        """Read every pending article, then return (for `run --once`)."""
        self._run(True)

    def _run(self, until_idle: bool) -> None:
        try:
            asyncio.run(self._main(until_idle))
        except Exception:  # the fetcher must not die silently: items would wait for ever
            log.exception("the article fetcher failed")

    async def _main(self, until_idle: bool) -> None:
        reader = PageReader(self.rt.article_per_host)
        renewed = time.monotonic()
        try:
            while not self._stop.is_set():
                try:
                    claimed = await asyncio.to_thread(self._claim)
                    if time.monotonic() - renewed > RENEW_EVERY:
                        renewed = time.monotonic()
                        await asyncio.to_thread(self._renew)
                except Exception:  # a database hiccup: try again in a second, the items stay pending
                    log.exception("claiming pending articles failed")
                    claimed = []
                    if until_idle and not self._busy:
                        return
                for job in claimed:
                    self._busy[job.item_id] = asyncio.create_task(self._one(reader, job))
                if until_idle and not self._busy and not claimed:
                    return
                await self._nap(until_idle)
        finally:
            for task in self._busy.values():
                task.cancel()
            await asyncio.gather(*self._busy.values(), return_exceptions=True)
            await reader.aclose()

    async def _nap(self, until_idle: bool) -> None:
        """Wait up to a second for new pending items or a finished page; with no page in flight, up to
        IDLE_NAP for new items (this process's ingest sets `articles_due` for its own; another
        instance's lapsed leases wait that much longer)."""
        due = self.rt.articles_due
        if not until_idle and await asyncio.to_thread(due.wait, 1.0 if self._busy else IDLE_NAP):
            due.clear()
        elif until_idle and self._busy:
            await asyncio.wait(list(self._busy.values()), timeout=1.0, return_when=asyncio.FIRST_COMPLETED)

    def _claim(self) -> list[fulltext.Pending]:
        room = IN_FLIGHT - len(self._busy)
        if room <= 0:
            return []
        return fulltext.claim_pending(self.rt.engine, self.rt.owner, utcnow(), room, self._busy)

    def _renew(self) -> None:
        with Session(self.rt.engine) as session:
            db.renew_leases(session, Item, list(self._busy), self.rt.owner, utcnow())

    async def _one(self, reader: PageReader, job: fulltext.Pending) -> None:
        try:
            feed = self.rt.config.feeds.get(job.feed)
            outcome: Outcome | None = None
            if feed is not None and feed.fulltext:  # checked again now: the rules may have changed
                url, reason = fulltext.fetchable(feed, job.page)
                outcome = (
                    await reader.read(feed.name, url) if url else FetchError(job.feed, reason or "no link")
                )
            await asyncio.to_thread(pipeline.finish_article, self.rt, job.item_id, outcome)
        except Exception:
            log.exception("reading the article of item %s failed", job.item_id)
        finally:
            self._busy.pop(job.item_id, None)


def _host(url: str) -> str:
    try:
        return (urlsplit(url).hostname or "").lower()
    except ValueError:
        return ""
