"""The one Retry-After parser that feeds and alert channels share."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from monitor.retryafter import retry_after


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("Wed, 25 Nov 2026 03:01:00 GMT", 60.0),
        ("Wednesday, 25-Nov-26 03:01:00 GMT", 60.0),
        ("Wed Nov 25 03:01:00 2026", 60.0),  # asctime carries no zone: HTTP-dates are GMT
        ("Wed, 25 Nov 2026 03:01:00", 60.0),
        ("Wed, 25 Nov 2026 02:00:00 GMT", 0.0),
        ("999999999", 86400.0),
        ("Fri, 31 Dec 2100 23:59:59 GMT", 86400.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    """Retry-After as seconds or an HTTP date; nonsense is ignored, and a day is the most a server gets."""
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC).timestamp()
    assert retry_after(header, now) == seconds
