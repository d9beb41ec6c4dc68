"""Send pool: one channel's messages sent by up to `width` threads, started one by one in claim order.

Used by `deliver.Deliverer.send_batch`. Each thread takes the next group under one lock and calls
`start(group)` there (pacing, or releasing the group instead: then it returns False); outside the lock
it then calls `send(prepare(group), meanwhile)`, so up to `width` sends are in flight while their starts
keep the claim order. The calling thread is the first worker; the others are named `deliver-<channel>-N`.

Reading ahead: a channel whose message is out and that waits for the answer calls `meanwhile()` (the
HTTP channels do, once the request body is written), which runs `prepare` of the group after it, in the
sending thread, unless a thread took that group already. `prepare` only reads (and renews the group's
leases): nothing is marked before its own send, each group still starts only when it is taken and
`start` lets it, and a group that `start` releases drops what was read for it. The thread taking a group
uses its read-ahead when there is one (waiting for it to end), else prepares it itself. An exception (a
database error, in `start`, `prepare` or `send`) stops the thread that takes or sends that group and is
raised once every thread has ended; `meanwhile` never raises into a send.
"""

from __future__ import annotations

import functools
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future
from concurrent.futures import wait as wait_for
from typing import Generic, TypeVar

G = TypeVar("G")
P = TypeVar("P")


def send_in_order(
    channel: str,
    groups: Sequence[G],
    width: int,
    start: Callable[[G], bool],
    prepare: Callable[[G], P],
    send: Callable[[P, Callable[[], None]], None],
) -> None:
    """Send every group of `groups` (in order of start) with up to `width` in flight at once."""
    line = _Line(groups, start, prepare)
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while (taken := line.take()) is not None:
                position, prepared = taken
                send(prepared, functools.partial(line.read_ahead, position + 1))
        except BaseException as exc:  # a database error: raised from here, as with one worker
            errors.append(exc)

    width = min(width, len(line.todo))
    helpers = [threading.Thread(target=work, name=f"deliver-{channel}-{n}") for n in range(1, width)]
    for helper in helpers:
        helper.start()
    work()
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]


class _Line(Generic[G, P]):
    """The groups in claim order, taken one by one under a lock, and what was read ahead for them."""

    def __init__(self, groups: Sequence[G], start: Callable[[G], bool], prepare: Callable[[G], P]) -> None:
        self.todo, self.start, self.prepare = list(groups), start, prepare
        self.lock = threading.Lock()
        self.taken = 0  # groups taken so far: todo[taken] is the next
        self.ahead: dict[int, Future[P]] = {}  # position: its prepare, run ahead (done or running)

    def take(self) -> tuple[int, P] | None:
        """The position of the next group that `start` lets go, and that group prepared; None at the end."""
        with self.lock:
            while True:
                if self.taken == len(self.todo):
                    return None
                position, ready = self.taken, self.ahead.pop(self.taken, None)
                self.taken += 1
                if ready is not None:
                    wait_for([ready])  # running now: `start` decides (and may release) after its reads
                if self.start(self.todo[position]):
                    break
        prepared = self.prepare(self.todo[position]) if ready is None else ready.result()
        return position, prepared

    def read_ahead(self, position: int) -> None:
        """Prepare the group at `position` now, unless it is taken or prepared already (a send's
        `meanwhile`). Never raises: an error is kept for the thread that takes the group."""
        with self.lock:
            if not self.taken <= position < len(self.todo) or position in self.ahead:
                return
            ready: Future[P] = Future()
            self.ahead[position] = ready
        try:
            ready.set_result(self.prepare(self.todo[position]))
        except BaseException as exc:
            ready.set_exception(exc)
