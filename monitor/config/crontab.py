"""5-field cron expressions as crontab(5) reads them (APScheduler's from_crontab counts days from Monday)."""

from __future__ import annotations

import re
from datetime import tzinfo

from apscheduler.triggers.cron import CronTrigger

_DAYS = ("sun", "mon", "tue", "wed", "thu", "fri", "sat")
_PART = re.compile(r"^(\*|[a-z0-9]+)(?:-([a-z0-9]+))?(?:/(\d+))?$")


def cron_trigger(expression: str, timezone: tzinfo | None = None) -> CronTrigger:
    """A CronTrigger for `minute hour day month day-of-week`, day 0 or 7 being Sunday; ValueError if bad."""
    fields = expression.split()
    if len(fields) != 5:
        raise ValueError(f"wrong number of fields: got {len(fields)}, expected 5")
    minute, hour, day, month, weekday = fields
    return CronTrigger(
        minute=minute, hour=hour, day=day, month=month, day_of_week=_weekdays(weekday), timezone=timezone
    )


def _weekdays(field: str) -> str:
    """The day-of-week field as APScheduler names (`1-5` -> `mon,tue,wed,thu,fri`); `*` stays `*`."""
    if field == "*":
        return field
    days: set[int] = set()
    for part in field.lower().split(","):
        found = _PART.match(part)
        if found is None:
            raise ValueError(f"invalid day of week {part!r} (expected 0-7, 0 or 7 being Sunday, or sun..sat)")
        first, last, step = found.groups()
        low, high = (0, 6) if first == "*" else (_day(first), _day(last or first))
        if last is None and step and first != "*":
            high = 6
        if low > high:
            raise ValueError(f"day-of-week range {part!r} runs backwards (write fri-sun as 5-7)")
        days.update(day % 7 for day in range(low, high + 1, int(step or 1)))
    return ",".join(_DAYS[day] for day in sorted(days))


def _day(token: str) -> int:
    """0-7 (0 and 7: Sunday) or a three-letter English day name."""
    if token.isdigit() and int(token) <= 7:
        return int(token)
    if token[:3] in _DAYS and len(token) == 3:
        return _DAYS.index(token)
    raise ValueError(f"invalid day of week {token!r} (expected 0-7, 0 or 7 being Sunday, or sun..sat)")
