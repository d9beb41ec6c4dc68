"""Durations as people write them in the rules file: 30s, 5m, 1h, 1d, 2w, 1h30m."""

from __future__ import annotations

import re
from datetime import timedelta

_UNITS = {"s": 1, "m": 60, "h": 3600, "d": 86400, "w": 604800}
_PART = re.compile(r"\s*(\d+(?:\.\d+)?)\s*([smhdw])", re.IGNORECASE)
EXPECTED = "a duration like 30s, 5m, 1h, 1d or 1h30m"


def parse_duration(text: str) -> timedelta:
    """Parse `1h30m` style text into a positive timedelta; ValueError says what is expected."""
    stripped = text.strip()
    if stripped.startswith("-"):
        raise ValueError(f"must be positive (expected {EXPECTED})")
    seconds, pos = 0.0, 0
    while pos < len(stripped):
        part = _PART.match(stripped, pos)
        if part is None:
            raise ValueError(f"expected {EXPECTED}")
        seconds += float(part.group(1)) * _UNITS[part.group(2).lower()]
        pos = part.end()
    if pos == 0:
        raise ValueError(f"expected {EXPECTED}")
    if seconds <= 0:
        raise ValueError(f"must be positive (expected {EXPECTED})")
    return timedelta(seconds=seconds)


def format_duration(delta: timedelta) -> str:
    """Write a timedelta back in the same notation (90 minutes -> 1h30m)."""
    remaining, parts = int(delta.total_seconds()), []
    for unit in ("d", "h", "m", "s"):
        count, remaining = divmod(remaining, _UNITS[unit])
        if count:
            parts.append(f"{count}{unit}")
    return "".join(parts) or "0s"
