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
import multiprocessing
import multiprocessing.queues
import os
import resource
import signal
import threading
from collections.abc import Callable, Sequence
from concurrent.futures.process import BrokenProcessPool
from types import FrameType

from monitor import lifeline
from monitor.entrytext import entry_analysis
from monitor.errors import ParseError
from monitor.records import Parsed

FeedJob = tuple[bytes, str, str | None]  # body, url, content type
Job = tuple[bytes, str, str | None, str]  # body, url, content type, what to do ("feed" or "article")
Outcome = (
    Parsed | str | tuple[str, str]
)  # a worker returns (url, reason) for a failure: ParseError won't pickle
TIMEOUT = 30.0
MEMORY = 256 * 2**20
GRACE = 10.0  # extra wait on top of the workers' own alarm before a pool is given up

_lock = threading.Lock()
_pools: dict[tuple[int, int], cf.ProcessPoolExecutor] = {}
# Each worker reports its pid when it starts (the executor's own list of them is private).
_started: dict[cf.ProcessPoolExecutor, multiprocessing.queues.SimpleQueue[int]] = {}
_pids: dict[cf.ProcessPoolExecutor, set[int]] = {}
_warming = False  # warm_up was called


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
) -> Callable[[], Parsed | ParseError]:
    """Start parsing one feed in a worker; call the returned function to wait for its outcome.

    Lets a caller overlap parsing with other work (more fetches, database writes) on other cores.
    """
    wait = _start((body, url, content_type, "feed"), timeout, memory, workers)
    return wait  # type: ignore[return-value]


def submit_article(
    body: bytes, url: str, content_type: str | None = None, *, timeout: float = TIMEOUT, memory: int = MEMORY
) -> Callable[[], str | ParseError]:
    """Start extracting an article page's main text in a worker (`extract_article` under the caps)."""
    return _start((body, url, content_type, "article"), timeout, memory, None)  # type: ignore[return-value]


def _start(job: Job, timeout: float, memory: int, workers: int | None) -> Pending:
    key = (workers or os.cpu_count() or 1, memory)
    return Pending(key, job, _submit(key, job, timeout), timeout)


class Pending:
    """A job under way in a worker: call it to wait for the outcome; `ready()`: a call returns at once
    (the ingest thread takes into a batch only feeds whose parse is over, holding none up)."""

    def __init__(self, key: tuple[int, int], job: Job, future: cf.Future[Outcome], timeout: float) -> None:
        self._key, self._job, self._future, self._timeout = key, job, future, timeout

    def __call__(self) -> Parsed | str | ParseError:
        return _result(self._key, self._job, self._future, self._timeout, retry=True)

    def ready(self, wait: float = 0.0) -> bool:
        """Whether the outcome is in, after waiting for it at most `wait` seconds."""
        return bool(cf.wait([self._future], timeout=wait).done) if wait else self._future.done()


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
    for pool in pools:
        pool.shutdown(wait=True, cancel_futures=True)


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
) -> Parsed | str | ParseError:
    url = job[1]
    try:
        outcome = future.result(timeout=timeout + GRACE)
    except BrokenProcessPool:
        _discard(key)  # a worker died: every feed it shared the pool with failed too, so retry alone
        if retry:
            return _result(key, job, _submit(key, job, timeout), timeout, retry=False)
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
            context = multiprocessing.get_context("forkserver")
            context.set_forkserver_preload(["monitor.parse", "monitor.forkserverwatch"])
            started: multiprocessing.queues.SimpleQueue[int] = context.SimpleQueue()
            _pools[key] = cf.ProcessPoolExecutor(
                max_workers=key[0], mp_context=context, initializer=_start_worker, initargs=(key[1], started)
            )
            _started[_pools[key]] = started
        return _pools[key]


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


def _analyzed(parsed: Parsed) -> Parsed:
    """The entries with their analysis beside them (so the ingest thread only matches)."""
    entries = tuple(dataclasses.replace(e, analysis=entry_analysis(e)) for e in parsed.entries)
    return dataclasses.replace(parsed, entries=entries)


class _Alarm(Exception):
    """Raised inside a worker when its parse runs out of time."""


def _start_worker(memory: int, started: multiprocessing.queues.SimpleQueue[int]) -> None:
    """Worker set-up: SIGKILL when the fork server ends, report the pid, the address-space cap, SIGALRM."""
    lifeline.die_with_parent()  # the fork server exits when the daemon does (monitor.forkserverwatch)
    started.put(os.getpid())
    idle = _virtual_size()
    if idle:
        resource.setrlimit(resource.RLIMIT_AS, (idle + memory, resource.RLIM_INFINITY))
    signal.signal(signal.SIGALRM, _on_alarm)
    signal.signal(signal.SIGINT, signal.SIG_IGN)  # Ctrl-C reaches the whole group: the daemon stops us


def _on_alarm(signum: int, frame: FrameType | None) -> None:
    raise _Alarm


def _virtual_size() -> int:
    try:
        with open("/proc/self/statm") as statm:
            return int(statm.read().split()[0]) * os.sysconf("SC_PAGE_SIZE")
    except (OSError, ValueError, IndexError):
        return 0  # no /proc: no cap rather than a wrong one


def _work(body: bytes, url: str, content_type: str | None, kind: str, timeout: float, memory: int) -> Outcome:
    """Run in a worker: parse one feed (or extract one article's text) under the alarm."""
    signal.setitimer(signal.ITIMER_REAL, timeout)
    try:
        if kind == "article":
            from monitor.extract import extract_article  # imported on first use: most workers never need it

            return extract_article(body, url, content_type)
        from monitor.parse import parse_feed  # preloaded by the fork server; the daemon itself never parses

        return _analyzed(parse_feed(body, url, content_type))
    except ParseError as err:
        return (err.url, err.reason)
    except _Alarm:
        return (url, f"parsing took over {timeout:g} s")
    except MemoryError:
        return (url, f"parsing needs over {memory // 2**20} MB")
    finally:
        signal.setitimer(signal.ITIMER_REAL, 0)
