"""Send pool: one channel's messages sent by up to `width` threads, started one by one in claim order.

Used by `deliver.Deliverer.send_batch`. Each thread takes the next group under one lock and calls
`start(group)` there (pacing, or releasing the group instead: then it returns False); it then calls
`send(group)` outside the lock, so up to `width` sends are in flight while their starts keep the claim
order. The calling thread is the first worker; the others are named `deliver-<channel>-N`. An exception
(a database error) stops the thread that met it and is raised once every thread has ended.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import TypeVar

G = TypeVar("G")


def send_in_order(
    channel: str,
    groups: Sequence[G],
    width: int,
    start: Callable[[G], bool],
    send: Callable[[G], None],
) -> None:
    """Send every group of `groups` (in order of start) with up to `width` in flight at once."""
    todo = iter(list(groups))
    take = threading.Lock()
    errors: list[BaseException] = []

    def work() -> None:
        try:
            while True:
                with take:
                    group = next(todo, None)
                    if group is None:
                        return
                    if not start(group):
                        continue
                send(group)
        except BaseException as exc:  # a database error: raised from here, as with one worker
            errors.append(exc)

    width = min(width, len(groups))
    helpers = [threading.Thread(target=work, name=f"deliver-{channel}-{n}") for n in range(1, width)]
    for helper in helpers:
        helper.start()
    work()
    for helper in helpers:
        helper.join()
    if errors:
        raise errors[0]
