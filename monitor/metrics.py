"""Process counters and gauges beside the event counter: polls by outcome and the reload status."""

from __future__ import annotations

import time

from prometheus_client import Counter, Gauge

from monitor.events import REGISTRY

POLL_OUTCOMES = ("ok", "not_modified", "failed")
POLLS = Counter(
    "monitor_polls", "Feed polls by outcome (ok, not_modified, failed)", ["outcome"], registry=REGISTRY
)
for _outcome in POLL_OUTCOMES:  # every known value has a series from the start, at 0
    POLLS.labels(outcome=_outcome)
RELOAD_OK = Gauge(
    "monitor_reload_ok", "1 if the last configuration reload applied, 0 if it failed", registry=REGISTRY
)
RELOAD_TIME = Gauge(
    "monitor_reload_timestamp_seconds",
    "When the configuration was last (re)loaded or rejected",
    registry=REGISTRY,
)


def reloaded(ok: bool) -> None:
    """Record the outcome of a configuration load (at start and on every edit)."""
    RELOAD_OK.set(1 if ok else 0)
    RELOAD_TIME.set(time.time())
