"""An in-process monitor for delivery tests: real config files, a real SQLite file, the real pipeline.

rig = Rig(project, channels="hook: {type: webhook, url: '${HOOK}'}", env={"HOOK": hook.url})
rig.ingest(It("UK military meeting", "..."))    # parse, match, route: items + matches + outbox
rig.deliver_until(lambda: rig.status() == {"sent"})
"""

from __future__ import annotations

import textwrap
import time
from collections.abc import Callable, Mapping
from typing import Any

from conftest import Project
from feeds import It, rss
from runtimes import open_runtime
from sqlmodel import Session, select
from waiting import wait_until

from monitor import pipeline
from monitor.deliver import Deliverer
from monitor.models import Delivery, Event, Match
from monitor.records import Fetched
from monitor.runtime import Runtime

FEED_URL = "https://news.example.org/world.xml"
RULES = """\
feeds:
  - name: world
    url: {url}
    backfill: true
timezone: UTC
rules:
  - name: watch
    match: military
    alert: [{alert}]
"""

# The rules file of the daemon kill tests (test_crash, test_deliver_concurrency, test_deliver_readahead):
# one feed polled every second, every item stored, one rule alerting the `hook` channel.
HOOK_RULES = """\
feeds:
  - name: world
    url: {url}
    every: 1s
    backfill: true
rules:
  - name: watch
    match: military
    alert: [hook]
"""


class Rig:
    """A project folder, its loaded config, its database and a Deliverer, all in this process."""

    def __init__(
        self,
        project: Project,
        channels: str,
        env: Mapping[str, str] | None = None,
        rule_extra: str = "",
    ) -> None:
        self.project = project
        names = [
            line.split(":", 1)[0].strip() for line in textwrap.dedent(channels).splitlines() if line.strip()
        ]
        project.write("rules/watch.yaml", RULES.format(url=FEED_URL, alert=", ".join(names)) + rule_extra)
        project.write(
            "alerts/channels.yaml", "channels:\n" + textwrap.indent(textwrap.dedent(channels), "  ")
        )
        project.env |= dict(env or {})
        self.rt = open_runtime(
            project.env["MONITOR_DB"],
            project.root / "rules",
            project.root / "alerts" / "channels.yaml",
            project.env,
        )
        self.engine = self.rt.engine
        pipeline.sync_feeds(self.engine, self.rt.config)
        self.deliverer = Deliverer(self.rt)
        self.arrivals: list[float] = []  # when each request was first seen by deliver_until

    def ingest(self, *items: It) -> None:
        """One poll of the feed returning these items, through parse, match and route."""
        result = Fetched("world", FEED_URL, FEED_URL, 200, rss(*items))
        pipeline.ingest(self.rt, self.rt.config.feeds["world"], result)

    def deliveries(self) -> list[Delivery]:
        """Every delivery row, oldest first."""
        with Session(self.engine) as session:
            return list(session.exec(select(Delivery).order_by(Delivery.created_at, Delivery.id)))  # type: ignore[arg-type]

    def matches(self) -> list[Match]:
        with Session(self.engine) as session:
            return list(session.exec(select(Match)))

    def events(self, kind: str) -> list[Event]:
        with Session(self.engine) as session:
            return list(session.exec(select(Event).where(Event.kind == kind).order_by(Event.id)))  # type: ignore[arg-type]

    def status(self) -> set[str]:
        """The set of delivery statuses ({"sent"} once everything went out)."""
        return {d.status for d in self.deliveries()}

    def deliver_until(
        self, check: Callable[[], Any], timeout: float = 10.0, seen: Callable[[], int] | None = None
    ) -> Any:
        """Run the delivery timer (every 50 ms) until `check()` holds; note arrival times from `seen()`."""

        def step() -> Any:
            self.deliverer.tick()
            if seen is not None:
                self.arrivals += [time.monotonic()] * (seen() - len(self.arrivals))
            return check()

        return wait_until(step, timeout=timeout, every=0.05, message="deliveries")

    def restart(self) -> None:
        """A new Deliverer (as after a restart): nothing held in memory survives."""
        self.deliverer.drain()
        self.rt = Runtime(self.engine, self.rt.active)
        self.deliverer = Deliverer(self.rt)

    def close(self) -> None:
        self.deliverer.drain()
        self.engine.dispose()
