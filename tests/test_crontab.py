"""Digest cron expressions read as crontab(5) reads them: day of week 0 and 7 are Sunday."""

from __future__ import annotations

from datetime import datetime
from zoneinfo import ZoneInfo

import pytest

from monitor.config.crontab import cron_trigger

LONDON = ZoneInfo("Europe/London")
WEDNESDAY = datetime(2026, 11, 25, 9, 0, tzinfo=LONDON)


def next_fires(expression: str, count: int = 3) -> list[str]:
    """The next `count` fire times from Wednesday 25 Nov 2026 09:00, as 'Sun 29 08:00'."""
    trigger, now, fires = cron_trigger(expression, LONDON), WEDNESDAY, []
    for _ in range(count):
        fire = trigger.get_next_fire_time(None, now)
        assert fire is not None
        fires.append(fire.strftime("%a %d %H:%M"))
        now = fire.replace(second=1)
    return fires


@pytest.mark.parametrize(
    ("expression", "expected"),
    [
        ("0 8 * * 0", ["Sun 29 08:00", "Sun 06 08:00", "Sun 13 08:00"]),
        ("0 8 * * 7", ["Sun 29 08:00", "Sun 06 08:00", "Sun 13 08:00"]),
        ("0 8 * * sun", ["Sun 29 08:00", "Sun 06 08:00", "Sun 13 08:00"]),
        ("30 7 * * 1-5", ["Thu 26 07:30", "Fri 27 07:30", "Mon 30 07:30"]),
        ("0 8 * * mon-fri", ["Thu 26 08:00", "Fri 27 08:00", "Mon 30 08:00"]),
        ("0 8 * * 5-7", ["Fri 27 08:00", "Sat 28 08:00", "Sun 29 08:00"]),
        ("0 8 * * */2", ["Thu 26 08:00", "Sat 28 08:00", "Sun 29 08:00"]),
        ("0 8 * * sat,1", ["Sat 28 08:00", "Mon 30 08:00", "Sat 05 08:00"]),
        ("*/30 * * * *", ["Wed 25 09:00", "Wed 25 09:30", "Wed 25 10:00"]),
        ("0 8 1 * *", ["Tue 01 08:00", "Fri 01 08:00", "Mon 01 08:00"]),
    ],
)
def test_fire_times_follow_crontab(expression: str, expected: list[str]) -> None:
    assert next_fires(expression) == expected


@pytest.mark.parametrize(
    ("expression", "message"),
    [
        ("0 8 * *", "wrong number of fields: got 4, expected 5"),
        ("0 8 * * * *", "wrong number of fields: got 6, expected 5"),
        ("61 8 * * *", "higher than the maximum value"),
        ("0 8 * * 8", "invalid day of week '8'"),
        ("0 8 * * fri-sun", "runs backwards"),
        ("0 8 * * mon#2", "invalid day of week 'mon#2'"),
        ("0 8 * * monday", "invalid day of week 'monday'"),
    ],
)
def test_bad_expressions_say_why(expression: str, message: str) -> None:
    with pytest.raises(ValueError, match=message):
        cron_trigger(expression)
