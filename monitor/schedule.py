"""When to poll a feed next: its interval with jitter, server hints within bounds, backoff on errors."""

from __future__ import annotations

import random
from datetime import datetime, timedelta

MAX_BACKOFF = timedelta(hours=6)
MAX_HINT = timedelta(hours=24)
MAX_DELIVERY_BACKOFF = 600.0  # seconds: a failing delivery is retried at least every 10 minutes


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


def rescheduled(now: datetime, interval: timedelta, last_poll: datetime | None) -> datetime:
    """Next poll of a feed whose interval was edited: one new interval after its last poll, not before now."""
    if last_poll is None:
        return now
    return max(now, last_poll + jittered(interval))


def after_failure(
    now: datetime, interval: timedelta, failures: int, retry_after: float | None = None
) -> datetime:
    """Next poll after `failures` in a row: doubling from min(interval, 1 min) to 6 h; never before Retry-After."""
    base = min(interval, timedelta(minutes=1))
    backoff = jittered(min(base * 2 ** min(max(failures - 1, 0), 20), MAX_BACKOFF))
    if retry_after is not None:
        backoff = max(backoff, min(timedelta(seconds=max(retry_after, 1)), MAX_HINT))
    return now + backoff


def delivery_backoff(attempts: int) -> timedelta:
    """Retry delay after `attempts` failed sends: about 2 s, doubling, capped at 10 minutes, jittered."""
    base = 2.0 * 2 ** min(max(attempts - 1, 0), 20)
    return timedelta(seconds=min(base * random.uniform(0.8, 1.2), MAX_DELIVERY_BACKOFF))
