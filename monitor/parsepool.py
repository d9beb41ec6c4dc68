"""Parse many feeds in worker processes: every core at work, and a hard cap on each parse's time and memory.

feedparser is pure Python (about 0.5 ms per item here), so a batch of changed feeds is CPU-bound and one
process uses one core. `parse_all` spreads the batch over a pool of worker processes (started through a
fork server, so it is safe from a threaded daemon). Each worker parses under an alarm (`timeout`) and an
address-space limit (`memory` above its idle size), so a hostile feed costs at most that, and a worker
that dies anyway is replaced and only its own feed fails. Workers end when the daemon ends, however it
ends (see `lifeline`).
"""

from __future__ import annotations

import concurrent.futures as cf
import contextlib
import dataclasses
import fcntl
import itertools
import multiprocessing
import multiprocessing.connection
import multiprocessing.queues
import multiprocessing.util
import os
import pickle
import queue
import resource
import signal
import threading
import time
from collections.abc import Callable, Iterator, Sequence
from concurrent.futures.process import BrokenProcessPool
from multiprocessing.connection import Connection
from pathlib import Path
from types import FrameType
from typing import Any

from monitor import feedpieces, lifeline
from monitor.entrytext import entry_analysis
from monitor.errors import ParseError
from monitor.query import stemcache
from monitor.records import Entry, Parsed

FeedJob = tuple[bytes, str, str | None]  # body, url, content type
# body, url, content type, what to do ("feed" or "article"), stream (0: the outcome in one piece)
Job = tuple[bytes, str, str | None, str, int]
TIMEOUT = 30.0
MEMORY = 256 * 2**20
GRACE = 10.0  # extra wait on top of the workers' own alarm before a pool is given up
CHUNK = 100  # entries a streamed parse sends back at a time (a feed of this many or fewer: in one piece)
# The pipe of streamed chunks holds a few (about 0.4 MB each here): a worker writes one and goes on
# analysing, never waiting for the daemon's relay thread to get the GIL from the matching.
PIPE_SIZE = 2**20
SPLIT_BYTES = 512 * 1024  # a streamed feed this large is parsed in pieces, one per worker (feedpieces)


@dataclasses.dataclass(frozen=True)
class _Streamed:
    """A streamed parse's outcome: the feed without its entries, which went ahead in `chunks` pieces."""

    parsed: Parsed
    chunks: int


@dataclasses.dataclass(frozen=True)
class _InPieces:
    """The outcome of one piece of a feed parsed in pieces (`feedpieces.Piece`, its entries perhaps streamed)."""

    outcome: Parsed | _Streamed
    reasons: tuple[str | None, ...]
    notes: tuple[str, ...]


@dataclasses.dataclass(frozen=True)
class _Unsplit:
    """A piece's job when the feed is not parsed in pieces: part 0 parsed it whole (`failed` False),
    or a piece failed (`failed`: the feed is to be parsed whole)."""

    failed: bool


Outcome = (
    Parsed | _Streamed | _InPieces | _Unsplit | str | tuple[str, str]
)  # a worker returns (url, reason) for a failure: ParseError won't pickle

_lock = threading.Lock()
_pools: dict[tuple[int, int], cf.ProcessPoolExecutor] = {}
# Each worker reports its pid when it starts (the executor's own list of them is private).
_started: dict[cf.ProcessPoolExecutor, multiprocessing.queues.SimpleQueue[int]] = {}
_pids: dict[cf.ProcessPoolExecutor, set[int]] = {}
_warming = False  # warm_up was called
_stem_cache: Path | None = None  # the data folder's stem cache, for the workers (see `use_stem_cache`)
# Streamed parses: each pool's workers send (stream, entries) down its pipe, taking turns (a lock); a
# relay thread hands them to their streams. Only workers write to it: a worker killed while it holds
# the lock or writes stalls the pool's other streams until their alarm, never the daemon.
_channels: dict[cf.ProcessPoolExecutor, _Stop] = {}  # set: the pool's relay stops
_streams: dict[int, queue.SimpleQueue[tuple[Entry, ...] | None]] = {}
_stream_ids = itertools.count(1)
_outbox: tuple[Connection, Any] | None = None  # in a worker: the pool's pipe and its lock


def parse_all(
    jobs: Sequence[FeedJob], *, timeout: float = TIMEOUT, memory: int = MEMORY, workers: int | None = None
) -> list[Parsed | ParseError]:
    """Parse each (body, url, content_type) as `parse_feed` would, in worker processes, in order.

    Failures are `ParseError` values: not a feed, over `timeout` seconds, over `memory` bytes, or a
    worker that crashed. Thread-safe; the pool is shared and started on first use.
    """
    waits = [submit(*job, timeout=timeout, memory=memory, workers=workers) for job in jobs]
    return [wait() for wait in waits]


def submit(
    body: bytes,
    url: str,
    content_type: str | None = None,
    *,
    timeout: float = TIMEOUT,
    memory: int = MEMORY,
    workers: int | None = None,
    stream: bool = False,
    parts: int | None = None,
) -> Callable[[], Parsed | ParseError]:
    """Start parsing one feed in a worker; call the returned function to wait for its outcome.

    Lets a caller overlap parsing with other work (more fetches, database writes) on other cores.
    `stream`: a `Streaming`, whose `chunks()` gives the analysed entries of a large feed a few
    hundred at a time while the worker analyses the rest (its outcome is the same `Parsed`); a feed
    of SPLIT_BYTES or more is parsed in `parts` pieces at once (default: one per worker; see
    `feedpieces`).
    """
    if stream:
        key = (workers or os.cpu_count() or 1, memory)
        if parts is None:
            parts = key[0] if len(body) >= SPLIT_BYTES else 1
        return Streaming(key, (body, url, content_type, "feed", 0), timeout, parts)
    wait = _start((body, url, content_type, "feed", 0), timeout, memory, workers)
    return wait  # type: ignore[return-value]


class Streaming:
    """A feed parse in workers whose entries come back in chunks (`chunks()`), then whole (call it).

    Calling it gives what `submit` gives: the `Parsed` (its entries the very objects the chunks held)
    or a `ParseError`. A large feed is parsed in pieces, one job each (`feedpieces`); their chunks come
    in the feed's order. A worker that crashes is retried once, unstreamed: the entries then come whole,
    new objects, and whatever the chunks gave before is to be dropped (a caller checks identity); so
    are all of them when a piece fails and the feed is parsed again whole.
    """

    def __init__(self, key: tuple[int, int], job: Job, timeout: float, parts: int = 1) -> None:
        self._key, self._job, self._timeout = key, job, timeout
        jobs = [job] if parts < 2 else [(*job[:3], f"piece {k} {parts}", 0) for k in range(parts)]
        self._parts = [_Stream(key, j, timeout) for j in jobs]
        self._outcome: Parsed | ParseError | None = None

    def chunks(self) -> Iterator[tuple[Entry, ...]]:
        """The analysed entries in order, a chunk at a time, as the workers send them (see `_Stream.chunks`:
        a small feed comes whole, in no chunk; a failure ends them early). Once only."""
        for part in self._parts:
            yield from part.chunks()

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the workers are done (their chunks sent), after waiting for them at most `wait` seconds."""
        deadline = time.monotonic() + wait
        return all(part.ready(max(deadline - time.monotonic(), 0.0) if wait else 0.0) for part in self._parts)

    def __call__(self) -> Parsed | ParseError:
        if self._outcome is None:
            self._outcome = self._finish()
        return self._outcome

    def _finish(self) -> Parsed | ParseError:
        outcomes = [part() for part in self._parts]
        if len(outcomes) == 1:
            return outcomes[0]  # type: ignore[return-value]  # a whole feed's job: a Parsed or the error
        for outcome in outcomes:
            if isinstance(outcome, ParseError):
                return outcome
        first, rest = outcomes[0], outcomes[1:]
        if isinstance(first, Parsed) and all(isinstance(o, _Unsplit) and not o.failed for o in rest):
            return first  # not split: part 0 parsed the feed whole
        if all(isinstance(o, _InPieces) and isinstance(o.outcome, Parsed) for o in outcomes):
            return feedpieces.join(
                [feedpieces.Piece(o.outcome, o.reasons, o.notes) for o in outcomes]  # type: ignore[union-attr,arg-type]
            )
        whole: Job = (*self._job[:3], "feed", 0)  # a piece failed: the feed parsed again, whole
        again = _result(self._key, whole, _submit(self._key, whole, self._timeout), self._timeout, retry=True)
        return again  # type: ignore[return-value]


class _Stream:
    """One parse in a worker (a feed, or a piece of it) whose entries come back in chunks, then whole.

    Calling it gives what `submit` gives: the `Parsed` (its entries the very objects the chunks held)
    or a `ParseError`. A worker that crashes is retried once, unstreamed: the entries then come whole,
    new objects, and whatever the chunks gave before is to be dropped (a caller checks identity).
    """

    def __init__(self, key: tuple[int, int], job: Job, timeout: float) -> None:
        job = (*job[:4], _new_stream())
        self._key, self._job, self._timeout = key, job, timeout
        self._inbox: queue.SimpleQueue[tuple[Entry, ...] | None] = queue.SimpleQueue()
        with _lock:
            _streams[job[4]] = self._inbox
        self._future = _submit(key, job, timeout)
        self._future.add_done_callback(lambda _: self._inbox.put(None))
        self._received: list[tuple[Entry, ...]] = []
        self._expected: int | None = None  # chunks the worker sent (-1: it failed, or sent none)
        self._outcome: Parsed | _InPieces | _Unsplit | ParseError | None = None

    def chunks(self) -> Iterator[tuple[Entry, ...]]:
        """The analysed entries in order, a chunk at a time, as the worker sends them. Ends early (then
        calling gives the error, or the feed parsed again) when the worker fails; a small feed comes
        whole, in no chunk. Once only: a second call gives nothing more."""
        deadline = time.monotonic() + self._timeout + GRACE
        while self._expected is None or len(self._received) < self._expected:
            try:
                chunk = self._inbox.get(timeout=max(deadline - time.monotonic(), 0.0))
            except queue.Empty:
                return
            if chunk is not None:
                self._received.append(chunk)
                yield chunk
                continue
            # the worker is done: it sent its entries before its outcome, the rest is on its way
            outcome = self._future.result() if self._future.exception() is None else None
            if isinstance(outcome, _InPieces):
                outcome = outcome.outcome
            if not isinstance(outcome, _Streamed):
                self._expected = -1
                return
            self._expected = outcome.chunks

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the worker is done (its chunks sent), after waiting for it at most `wait` seconds."""
        return _done(self._future, wait)

    def __call__(self) -> Parsed | _InPieces | _Unsplit | ParseError:
        if self._outcome is None:
            for _ in self.chunks():  # what the caller did not take yet
                pass
            self._outcome = self._finish()
        return self._outcome

    def _finish(self) -> Parsed | _InPieces | _Unsplit | ParseError:
        try:
            outcome = _result(self._key, self._job, self._future, self._timeout, retry=True)
            inner = outcome.outcome if isinstance(outcome, _InPieces) else outcome
            if not isinstance(inner, _Streamed):
                return outcome  # type: ignore[return-value]  # a Parsed (small, or parsed again) or the error
            if len(self._received) != inner.chunks:  # the relay lost some: parse again, whole
                plain: Job = (*self._job[:4], 0)
                again = _result(
                    self._key, plain, _submit(self._key, plain, self._timeout), self._timeout, retry=False
                )
                return again  # type: ignore[return-value]
            entries = tuple(e for chunk in self._received for e in chunk)
            parsed = dataclasses.replace(inner.parsed, entries=entries)
            if isinstance(outcome, _InPieces):
                return dataclasses.replace(outcome, outcome=parsed)
            return parsed
        finally:
            with _lock:
                _streams.pop(self._job[4], None)


def _done(future: cf.Future[Outcome], wait: float) -> bool:
    """Whether `future` is done, after waiting for it at most `wait` seconds."""
    return bool(cf.wait([future], timeout=wait).done) if wait else future.done()


def _new_stream() -> int:
    with _lock:
        return next(_stream_ids)


def submit_article(
    body: bytes, url: str, content_type: str | None = None, *, timeout: float = TIMEOUT, memory: int = MEMORY
) -> Callable[[], str | ParseError]:
    """Start extracting an article page's main text in a worker (`extract_article` under the caps)."""
    return _start((body, url, content_type, "article", 0), timeout, memory, None)  # type: ignore[return-value]


def _start(job: Job, timeout: float, memory: int, workers: int | None) -> Pending:
    key = (workers or os.cpu_count() or 1, memory)
    return Pending(key, job, _submit(key, job, timeout), timeout)


class Pending:
    """A job under way in a worker: call it to wait for the outcome; `ready()`: a call returns at once
    (the ingest thread takes into a batch only feeds whose parse is over, holding none up)."""

    def __init__(self, key: tuple[int, int], job: Job, future: cf.Future[Outcome], timeout: float) -> None:
        self._key, self._job, self._future, self._timeout = key, job, future, timeout

    def __call__(
        self,
    ) -> (
        Parsed | _Streamed | _InPieces | _Unsplit | str | ParseError
    ):  # only a Streaming's: _Streamed and pieces
        return _result(self._key, self._job, self._future, self._timeout, retry=True)

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the outcome is in, after waiting for it at most `wait` seconds."""
        return _done(self._future, wait)


def use_stem_cache(path: Path | None) -> None:
    """Let the workers start with the analyzer's caches read from `path` and write them back when they
    end (`monitor.query.stemcache`); to be called before the first parse, as the fork server reads the
    file when it starts. None: no file (another database, or in-memory)."""
    global _stem_cache
    _stem_cache = path


def warm_up() -> None:
    """Start the fork server and a worker in the background now, so the first poll does not wait for
    them; returns at once (starting them takes a tenth of a second of waiting, off the caller's path).
    Once a process: a second call does nothing."""
    global _warming
    with _lock:
        if _warming:
            return
        _warming = True
    threading.Thread(target=_warm_up, name="parse-warm-up", daemon=True).start()


def _warm_up() -> None:
    with contextlib.suppress(Exception):  # e.g. the process is exiting already: the first parse starts them
        submit(b"", "warm-up:")


def parse_isolated(
    body: bytes, url: str, content_type: str | None = None, *, timeout: float = TIMEOUT, memory: int = MEMORY
) -> Parsed:
    """`parse_feed` in a worker process under the time and memory caps; raises `ParseError` likewise."""
    result = submit(body, url, content_type, timeout=timeout, memory=memory)()
    if isinstance(result, ParseError):
        raise result
    return result


def shutdown() -> None:
    """Stop the worker processes (a later `parse_all` starts new ones)."""
    with _lock:
        pools = list(_pools.values())
        _pools.clear()
        _started.clear()
        _pids.clear()
        stops = [_channels.pop(pool) for pool in pools if pool in _channels]
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)
    for stop in stops:
        stop.set()  # its relay thread ends


def worker_pids() -> list[int]:
    """Process ids of the running workers (for metrics and benchmarks)."""
    with _lock:
        pools = list(_pools.values())
    return [pid for pool in pools for pid in sorted(_workers(pool))]


def _workers(pool: cf.ProcessPoolExecutor) -> set[int]:
    """The pids of the workers `pool` has started so far."""
    with _lock:
        started, pids = _started.get(pool), _pids.setdefault(pool, set())
        while started is not None and not started.empty():
            pids.add(started.get())
        return set(pids)


def _submit(key: tuple[int, int], job: Job, timeout: float) -> cf.Future[Outcome]:
    try:
        return _pool(key).submit(_work, *job, timeout, key[1])
    except BrokenProcessPool:
        _discard(key)
        return _pool(key).submit(_work, *job, timeout, key[1])


def _result(
    key: tuple[int, int], job: Job, future: cf.Future[Outcome], timeout: float, *, retry: bool
) -> Parsed | _Streamed | _InPieces | _Unsplit | str | ParseError:
    url = job[1]
    try:
        outcome = future.result(timeout=timeout + GRACE)
    except BrokenProcessPool:
        _discard(key)  # a worker died: every feed it shared the pool with failed too, so retry alone
        if retry:  # unstreamed: a stream's chunks so far are dropped (see Streaming)
            plain: Job = (*job[:4], 0)
            return _result(key, plain, _submit(key, plain, timeout), timeout, retry=False)
        return ParseError(url, "the parser crashed")
    except cf.TimeoutError:
        _discard(key, kill=True)
        return ParseError(url, f"parsing took over {timeout:g} s")
    except Exception as exc:  # a bug in a worker fails its feed, not the batch
        return ParseError(url, f"the parser failed ({type(exc).__name__})")
    if isinstance(outcome, tuple):
        return ParseError(*outcome)
    return outcome


def _pool(key: tuple[int, int]) -> cf.ProcessPoolExecutor:
    with _lock:
        if key not in _pools:
            os.environ[lifeline.OWNER] = str(os.getpid())  # whom the fork server watches (forkserverwatch)
            if _stem_cache is not None:  # what the fork server reads for its workers (forkserverwarm)
                os.environ[stemcache.ENV] = str(_stem_cache)
            else:  # none: not a file some parent process named
                os.environ.pop(stemcache.ENV, None)
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(
                ["monitor.parse", "monitor.feedpieces", "monitor.forkserverwatch", "monitor.forkserverwarm"]
            )
            started: multiprocessing.queues.SimpleQueue[int] = context.SimpleQueue()
            reader, writer = context.Pipe(duplex=False)
            with contextlib.suppress(OSError, AttributeError):  # Linux; elsewhere the default (64 KB)
                fcntl.fcntl(writer.fileno(), fcntl.F_SETPIPE_SZ, PIPE_SIZE)
            stop = _Stop()
            _pools[key] = cf.ProcessPoolExecutor(
                max_workers=key[0],
                mp_context=context,
                initializer=_start_worker,
                initargs=(key[1], started, (writer, context.Lock())),
            )
            _started[_pools[key]] = started
            _channels[_pools[key]] = stop
            relay = threading.Thread(
                target=_relay, args=(reader, stop, key, _pools[key]), name="parse-relay", daemon=True
            )
            relay.start()
        return _pools[key]


def _relay(reader: Connection, stop: _Stop, key: tuple[int, int], pool: cf.ProcessPoolExecutor) -> None:
    """Hand each chunk of streamed entries from a pool's workers to its stream, until the pool goes
    (`stop`: the pipe is closed, so a worker writing gets an error, not a wait). What cannot be read
    (a worker killed as it wrote) ends the pool: its streams are parsed again whole (see `Streaming`)."""
    with reader:
        while not stop.is_set():
            try:
                if reader not in multiprocessing.connection.wait([reader, stop.wakes]):
                    continue  # woken by `stop`
                stream, chunk = reader.recv()
            except Exception:  # a torn message
                break
            with _lock:
                target = _streams.get(stream)
            if target is not None:  # else its reader gave up (timed out): the chunk is dropped
                target.put(chunk)
    os.close(stop.wakes)
    if not stop.is_set():
        with _lock:
            current = _pools.get(key)
        if current is pool:
            _discard(key)


class _Stop:
    """A relay's stop: a flag, and a pipe of its own whose byte wakes the relay's wait at once, so an
    idle relay sleeps with no timer. Only `set` writes to that pipe (one byte, never blocking)."""

    def __init__(self) -> None:
        self._flag, self._once = threading.Event(), threading.Lock()
        self.wakes, self._wake = os.pipe()  # the relay waits on `wakes` and closes it when it ends
        os.set_blocking(self._wake, False)

    def is_set(self) -> bool:
        return self._flag.is_set()

    def set(self) -> None:
        """Stop the relay (once; later calls do nothing)."""
        with self._once:
            if self._flag.is_set():
                return
            self._flag.set()
            with contextlib.suppress(OSError):  # the relay ended already (a torn message): nobody to wake
                os.write(self._wake, b"x")
            os.close(self._wake)


def _discard(key: tuple[int, int], *, kill: bool = False) -> None:
    with _lock:
        pool = _pools.pop(key, None)
    if pool is None:
        return
    if kill:  # a worker stuck past its own alarm: nothing else will stop it
        for pid in _workers(pool):
            with contextlib.suppress(ProcessLookupError):
                os.kill(pid, signal.SIGKILL)
    pool.shutdown(wait=False, cancel_futures=True)
    with _lock:
        _started.pop(pool, None)
        _pids.pop(pool, None)
        stop = _channels.pop(pool, None)
    if stop is not None:
        stop.set()  # its relay thread ends


def _analyzed(parsed: Parsed) -> Parsed:
    """The entries with their analysis beside them (so the ingest thread only matches)."""
    entries = tuple(dataclasses.replace(e, analysis=entry_analysis(e)) for e in parsed.entries)
    return dataclasses.replace(parsed, entries=entries)


def _send_chunks(outbox: tuple[Connection, Any], stream: int, parsed: Parsed) -> _Streamed:
    """Analyse and send the entries a chunk at a time (the daemon matches one while the next is analysed)."""
    count = 0
    for start in range(0, len(parsed.entries), CHUNK):
        chunk = _analyzed(dataclasses.replace(parsed, entries=parsed.entries[start : start + CHUNK])).entries
        # the alarm waits while a chunk is written: a message cut halfway would spoil the pool's pipe
        # (a relay that stopped closed it: the write fails at once)
        writer, lock = outbox
        message = pickle.dumps((stream, chunk), pickle.HIGHEST_PROTOCOL)
        with lock:  # the alarm ends a wait here (the holder killed)
            signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGALRM})
            try:
                writer.send_bytes(message)
            finally:
                signal.pthread_sigmask(signal.SIG_UNBLOCK, {signal.SIGALRM})
        count += 1
    return _Streamed(dataclasses.replace(parsed, entries=()), count)


def _delivered(parsed: Parsed, stream: int) -> Parsed | _Streamed:
    """The parse analysed: whole, or (a large feed, streamed) a chunk at a time down the outbox."""
    if not stream or _outbox is None or len(parsed.entries) <= CHUNK:
        return _analyzed(parsed)
    return _send_chunks(_outbox, stream, parsed)


def _piece(body: bytes, url: str, content_type: str | None, part: int, parts: int, stream: int) -> Outcome:
    """Piece `part` of `parts` of a feed (see `feedpieces`), or the whole feed (part 0) when it is not split."""
    from monitor.parse import parse_feed

    try:
        piece = feedpieces.piece_of(body, url, content_type, part, parts)
    except feedpieces.SplitFailed:
        return _Unsplit(failed=True)
    if piece is None:
        return (
            _delivered(parse_feed(body, url, content_type), stream) if part == 0 else _Unsplit(failed=False)
        )
    return _InPieces(_delivered(piece.parsed, stream), piece.reasons, piece.notes)


class _Alarm(Exception):
    """Raised inside a worker when its parse runs out of time."""


def _start_worker(
    memory: int,
    started: multiprocessing.queues.SimpleQueue[int],
    outbox: tuple[Connection, Any] | None = None,
) -> None:
    """Worker set-up: SIGKILL when the fork server ends, report the pid, the address-space cap, SIGALRM;
    `outbox` takes the chunks of streamed parses."""
    global _outbox
    _outbox = outbox
    lifeline.die_with_parent()  # the fork server exits when the daemon does (monitor.forkserverwatch)
    started.put(os.getpid())
    idle = _virtual_size()
    if idle:
        resource.setrlimit(resource.RLIMIT_AS, (idle + memory, resource.RLIM_INFINITY))
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the daemon stops us
    if (path := stemcache.from_environment()) is not None:  # at a normal end: what this worker learned
        multiprocessing.util.Finalize(None, stemcache.save, args=(path,), exitpriority=10)


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


def _virtual_size() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0  # no /proc: no cap rather than a wrong one


def _work(
    body: bytes, url: str, content_type: str | None, kind: str, stream: int, timeout: float, memory: int
) -> Outcome:
    """Run in a worker: parse one feed (or extract one article's text) under the alarm; a `stream`
    (not 0) gets a large feed's analysed entries in chunks on the outbox, the outcome then holds none."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        if kind == "article":
            from monitor.extract import extract_article  # imported on first use: most workers never need it

            return extract_article(body, url, content_type)
        from monitor.parse import parse_feed  # preloaded by the fork server; the daemon itself never parses

        if kind.startswith("piece "):
            _, part, parts = kind.split()
            return _piece(body, url, content_type, int(part), int(parts), stream)
        return _delivered(parse_feed(body, url, content_type), stream)
    except ParseError as err:
        return (err.url, err.reason)
    except _Alarm:
        return (url, f"parsing took over {timeout:g} s")
    except MemoryError:
        return (url, f"parsing needs over {memory // 2**20} MB")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
