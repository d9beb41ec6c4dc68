"""The daemon's poller: sleep until the next feed is due, claim what is due, poll it, sleep again.

    Poller.run (one thread)   claim_due (one query: the due feeds, leased, and when the next one is
                              due) -> the batch to one of PARALLEL batch threads -> sleep until the
                              next due time, at most CAP seconds, at least GAP since the last claim
    a batch thread            poll_claimed (fetch on the daemon's fetch loop, parse, ingest; each
                              ingest calls `rt.wakeup.soon(its feed's next poll)`)

Woken early by `rt.wakeup.soon`: a reload that adds a feed or edits an interval, each ingest (its feed's next poll), a batch freeing a slot,
and stop. The cap keeps several instances on one PostgreSQL correct: another instance may release a
feed, let a lease lapse or reschedule one, and no event tells this one; it sees it within CAP.
Leases, backoff, Retry-After and reload's rescheduling are the claim's and ingest's, unchanged.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor

from monitor import pipeline
from monitor.runtime import Runtime

log = logging.getLogger("monitor.poller")
PARALLEL = 4  # batches in flight: a batch waiting on a slow feed does not hold up the others
CAP = 12.0  # seconds: the longest sleep (another instance may have moved a feed earlier)
GAP = 0.5  # seconds: the shortest time between two claims
Job = Callable[[], None]


def unguarded(job: Job) -> Job:
    return job


class Poller:
    """The poll thread of `run_forever`; `stop` (set by SIGTERM) also abandons fetches in flight."""

    def __init__(
        self,
        rt: Runtime,
        stop: threading.Event,
        guard: Callable[[Job], Job] = unguarded,  # the daemon's: a database outage is logged once
        *,
        cap: float = CAP,
        gap: float = GAP,
        limit: int = pipeline.BATCH,
    ) -> None:
        self.rt, self.stop, self.guard = rt, stop, guard
        self.cap, self.gap, self.limit = cap, gap, limit
        self._slots = threading.BoundedSemaphore(PARALLEL)
        self._pool = ThreadPoolExecutor(PARALLEL, thread_name_prefix="poll")
        self._thread = threading.Thread(target=self._run, name="poller", daemon=True)
        self._starved = False  # every slot was busy at the last wake: the first batch to end wakes us

    def start(self) -> None:
        self._thread.start()

    def join(self) -> None:
        """Wait for the poll thread and the batches in flight (after `stop` is set)."""
        self.rt.wakeup.wake()
        self._thread.join()
        self._pool.shutdown(wait=True)

    def _run(self) -> None:
        last = float("-inf")
        while not self.stop.is_set():
            if self.stop.wait(max(0.0, last + self.gap - time.monotonic())):
                break
            last = time.monotonic()
            claimed = self._claim()
            self.rt.wakeup.sleep(claimed.next_due if claimed else None, self.cap)

    def _claim(self) -> pipeline.Claimed | None:
        """Lease the due feeds and start their batch; None when no slot is free or the database fails."""
        self._starved = not self._slots.acquire(blocking=False)
        if self._starved:
            return None
        claimed: list[pipeline.Claimed] = []
        self.guard(
            lambda: claimed.append(
                pipeline.claim_due(self.rt.engine, self.rt.config, self.rt.owner, limit=self.limit)
            )
        )()
        if claimed and claimed[0].requests:
            self._pool.submit(self._batch, claimed[0])
        else:
            self._slots.release()
        return claimed[0] if claimed else None

    def _batch(self, claimed: pipeline.Claimed) -> None:
        try:
            self.guard(lambda: pipeline.poll_claimed(self.rt, claimed, stop=self.stop))()
        except Exception:  # the batch thread must go on serving the next batches
            log.exception("a poll batch failed")
        finally:
            self._slots.release()
        if self._starved:
            self.rt.wakeup.soon()
