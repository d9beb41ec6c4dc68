"""The Retry-After header as seconds to wait, for feeds (fetch) and alert channels (channels/http) alike."""

from __future__ import annotations

import time
from datetime import UTC
from email.utils import parsedate_to_datetime

MAX_RETRY_AFTER = 86400.0  # a server asking for more than a day is capped at a day


def retry_after(value: str | None, now: float | None = None) -> float | None:
    """Seconds to wait from a Retry-After header (delay-seconds or HTTP-date); None if absent or bad.

    An HTTP-date is GMT by definition, so one written without a zone (the asctime form RFC 9110
    still asks recipients to accept) is read as UTC. A date in the past is 0; any wait is capped.
    """
    if not value:
        return None
    value = value.strip()
    if value.isdigit():
        return min(float(value), MAX_RETRY_AFTER)
    try:
        moment = parsedate_to_datetime(value)
    except (TypeError, ValueError, IndexError):
        return None
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    wait = moment.timestamp() - (time.time() if now is None else now)
    return min(max(0.0, wait), MAX_RETRY_AFTER)
