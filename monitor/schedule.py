"""When to poll a feed next: its interval with jitter, server hints within bounds, backoff on errors."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=6)
MAX_HINT = timedelta(hours=24)


def jittered(interval: timedelta, spread: float = 0.1) -> timedelta:
    """The interval +-10%, so feeds added together do not poll in lockstep."""
    return interval * (1 + random.uniform(-spread, spread))


def after_success(
    now: datetime, interval: timedelta, max_age: float | None = None, ttl_minutes: int | None = None
) -> datetime:
    """Next poll after a good fetch: the interval, stretched (never shortened) by Cache-Control or RSS ttl."""
    hint = max(timedelta(seconds=max_age or 0), timedelta(minutes=ttl_minutes or 0))
    wait = max(interval, min(hint, MAX_HINT, interval * 6))
    return now + jittered(wait)


def after_failure(
    now: datetime, interval: timedelta, failures: int, retry_after: float | None = None
) -> datetime:
    """Next poll after a failed one: exponential backoff from one minute, or the server's Retry-After."""
    if retry_after is not None:
        return now + min(timedelta(seconds=max(retry_after, 1)), MAX_HINT)
    backoff = timedelta(minutes=1) * 2 ** min(failures - 1, 12)
    return now + jittered(min(max(backoff, min(interval, timedelta(minutes=1))), MAX_BACKOFF))


def delivery_backoff(attempts: int) -> timedelta:
    """Retry delay after `attempts` failed sends: about 2 s, doubling, capped at 10 minutes, jittered."""
    base = min(2.0 * 2 ** max(attempts - 1, 0), 600.0)
    return timedelta(seconds=base * random.uniform(0.8, 1.2))
