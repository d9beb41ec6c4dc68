"""Feed scheduling: interval with jitter, server hints within bounds, backoff on errors, edited intervals."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest

from monitor import schedule

NOW = datetime(2026, 11, 25, 12, 0, tzinfo=UTC)
MIN, HOUR = timedelta(minutes=1), timedelta(hours=1)


def waits(when: datetime) -> timedelta:
    return when - NOW


def test_feeds_added_together_spread_out_within_ten_percent() -> None:
    delays = [waits(schedule.after_success(NOW, 10 * MIN)) for _ in range(200)]
    assert all(9 * MIN <= d <= 11 * MIN for d in delays)
    assert len({round(d.total_seconds()) for d in delays}) > 20  # not in lockstep


@pytest.mark.parametrize(
    ("max_age", "ttl", "low", "high"),
    [
        (None, None, 9 * MIN, 11 * MIN),  # no hint: the interval
        (30.0, None, 9 * MIN, 11 * MIN),  # a hint never polls sooner than the interval
        (1800.0, None, 27 * MIN, 33 * MIN),  # Cache-Control max-age stretches it
        (None, 45, 40.5 * MIN, 49.5 * MIN),  # so does RSS <ttl> (minutes)
        (None, 10_000, 54 * MIN, 66 * MIN),  # but at most six intervals
        (10 * 86_400.0, None, 54 * MIN, 66 * MIN),
    ],
)
def test_server_hints_stretch_the_interval_within_bounds(
    max_age: float | None, ttl: int | None, low: timedelta, high: timedelta
) -> None:
    assert low <= waits(schedule.after_success(NOW, 10 * MIN, max_age, ttl)) <= high


def test_a_hint_is_capped_at_a_day_even_for_slow_feeds() -> None:
    assert waits(schedule.after_success(NOW, 12 * HOUR, max_age=30 * 86_400.0)) <= 24 * HOUR * 1.1


def test_failures_back_off_exponentially_from_the_interval_up_to_six_hours() -> None:
    fast = [waits(schedule.after_failure(NOW, timedelta(seconds=2), n)).total_seconds() for n in (1, 2, 3, 4)]
    assert all(0.9 * want <= got <= 1.1 * want for got, want in zip(fast, [2, 4, 8, 16], strict=True))
    slow = [waits(schedule.after_failure(NOW, HOUR, n)) for n in (1, 2, 3)]
    assert 0.9 * MIN <= slow[0] <= 1.1 * MIN  # a slow feed's first retry comes after about a minute
    assert slow[0] < slow[1] < slow[2]
    assert waits(schedule.after_failure(NOW, HOUR, 50)) <= 6 * HOUR * 1.1


def test_retry_after_is_honoured_but_never_shortens_the_backoff() -> None:
    assert 599 <= waits(schedule.after_failure(NOW, MIN, 1, retry_after=600)).total_seconds() <= 600
    backoff = waits(schedule.after_failure(NOW, MIN, 6, retry_after=5))  # 32 minutes of backoff already
    assert backoff >= 28 * MIN
    assert waits(schedule.after_failure(NOW, MIN, 1, retry_after=86_400 * 30)) == 24 * HOUR
    assert waits(schedule.after_failure(NOW, timedelta(seconds=1), 1, retry_after=0)) >= timedelta(seconds=1)


def test_an_edited_interval_counts_from_the_last_poll_and_never_from_the_past() -> None:
    last = NOW - 20 * MIN
    assert 34 * MIN <= waits(schedule.rescheduled(NOW, HOUR, last)) <= 46 * MIN  # 1 h after 11:40, +-10%
    assert schedule.rescheduled(NOW, 5 * MIN, last) == NOW  # overdue under the new interval: now
    assert schedule.rescheduled(NOW, HOUR, None) == NOW  # never polled: now
