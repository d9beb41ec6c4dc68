"""The running state one process shares between its timers: database, active rules, channels."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import TYPE_CHECKING, Any

import sqlalchemy as sa

from monitor.channels import make_channel
from monitor.config import Config
from monitor.match import build_matcher
from monitor.models import utcnow
from monitor.query import Matcher, StemCounts

if TYPE_CHECKING:
    from monitor.fetchloop import FetchLoop


@dataclass(frozen=True)
class Active:
    """One consistent generation of configuration: swapped whole on a good reload."""

    config: Config
    matcher: Matcher  # the index of config's rules
    channels: dict[str, Any]

    @classmethod
    def build(cls, config: Config, learning: StemCounts | None = None) -> Active:
        """The generation of `config`; its matcher learns word frequencies into `learning`, if given
        (a reload passes the previous generation's)."""
        channels = {
            name: make_channel(name, ch.type, ch.options, config.templates_dir)  # type: ignore[arg-type]  # options: a ChannelOptions typed BaseModel
            for name, ch in config.channels.items()
            if ch.enabled
        }
        return cls(config, build_matcher(config, learning), channels)


def new_owner() -> str:
    """A name for this process's leases: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


class Wakeup:
    """When the poller means to wake next (poller.py); `soon(when)` wakes it sooner, if `when` is.

    A reload, a new feed or a finished batch calls `soon` after its commit; a hint that comes while
    the poller is awake is kept for its next sleep, so none is lost and none wakes it for nothing.
    """

    def __init__(self) -> None:
        self._event, self._lock = threading.Event(), threading.Lock()
        self._planned: datetime | None = None  # None: awake
        self._hint: datetime | None = None  # the earliest hint given while awake

    def soon(self, when: datetime | None = None) -> None:
        """Poll at `when` (None: now) if that is sooner than planned."""
        when = when or utcnow()
        with self._lock:
            if self._planned is None:
                self._hint = when if self._hint is None else min(self._hint, when)
            elif when < self._planned:
                self._event.set()

    def sleep(self, until: datetime | None, cap: float) -> None:
        """Sleep until `until` (or an earlier hint), at most `cap` seconds."""
        with self._lock:
            target = min((t for t in (until, self._hint) if t is not None), default=None)
            delay = cap if target is None else min(max((target - utcnow()).total_seconds(), 0.0), cap)
            self._hint, self._planned = None, utcnow() + timedelta(seconds=delay)
        self._event.wait(delay)
        with self._lock:
            self._event.clear()
            self._planned = None

    def wake(self) -> None:
        """Wake now, whatever was planned (stop)."""
        with self._lock:
            self._event.set()


@dataclass
class Runtime:
    """Engine, instance id and the active configuration (replaced atomically by reload)."""

    engine: sa.Engine
    active: Active
    owner: str = field(default_factory=new_owner)
    stopping: threading.Event = field(default_factory=threading.Event)
    articles_due: threading.Event = field(
        default_factory=threading.Event
    )  # set when items await their article
    article_per_host: int = 4  # article pages in flight per host (MONITOR_ARTICLE_PER_HOST)
    fetch_loop: FetchLoop | None = None  # the daemon's long-lived fetch loop; None: one per poll (--once)
    wakeup: Wakeup = field(default_factory=Wakeup)  # wakes the daemon's poller early

    @property
    def config(self) -> Config:
        return self.active.config
