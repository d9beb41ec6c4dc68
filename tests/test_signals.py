"""Signals a running daemon answers: SIGHUP reloads the configuration, SIGTERM still drains and exits 0."""

from __future__ import annotations

import signal

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from waiting import wait_until

pytestmark = pytest.mark.slow


def test_sighup_reloads_the_configuration_and_keeps_running(project: Project) -> None:
    with FeedServer() as server:
        server.feed("/f.xml", rss(It("Troops", link="https://n.example/1")))
        project.write(
            "rules/watch.yaml",
            f'feeds:\n  - {{name: f, url: "{server.url("/f.xml")}", every: 60s}}\n'
            "rules:\n  - {name: r, match: troops}\n",
        )
        project.write("alerts/channels.yaml", "channels: {}\n")
        proc = project.start()
        wait_until(lambda: "monitor running" in project.log(), timeout=60, message=project.log())
        proc.send_signal(signal.SIGHUP)
        wait_until(lambda: "SIGHUP: reloading" in project.log(), timeout=30, message=project.log())
        wait_until(lambda: "no change in rules" in project.cli("events").stdout, timeout=30)
        assert proc.poll() is None  # SIGHUP did not kill it
        assert project.stop(proc) == 0
