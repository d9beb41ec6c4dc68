"""Signals a running daemon answers: SIGHUP reloads the configuration, SIGTERM still drains and exits 0."""

from __future__ import annotations

import ctypes
import os
import signal
import sys

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


TGKILL = {"x86_64": 234, "aarch64": 131}.get(os.uname().machine)


@pytest.mark.skipif(
    TGKILL is None or not sys.platform.startswith("linux"), reason="tgkill: Linux x86_64/arm64"
)
def test_sigterm_that_lands_on_another_thread_still_stops_the_daemon(project: Project) -> None:
    """The kernel may hand a process's SIGTERM to any of its threads; Python runs the handler in the main
    thread once that one runs again. Sent to another thread on purpose: the daemon still stops."""
    project.write("rules/watch.yaml", "feeds: []\nrules: []\n")
    project.write("alerts/channels.yaml", "channels: {}\n")
    proc = project.start()
    wait_until(lambda: "monitor running" in project.log(), timeout=60, message=project.log())
    other = next(int(t) for t in os.listdir(f"/proc/{proc.pid}/task") if int(t) != proc.pid)
    libc = ctypes.CDLL(None, use_errno=True)
    assert libc.syscall(TGKILL, proc.pid, other, signal.SIGTERM) == 0, os.strerror(ctypes.get_errno())
    assert proc.wait(timeout=20) == 0
    assert "stopping: finishing in-flight work" in project.log()
