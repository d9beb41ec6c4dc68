"""Shared fixtures: a project folder with rules and channels, and `monitor` run as a user runs it."""

from __future__ import annotations

import contextlib
import os
import shutil
import signal
import subprocess
import sys
import textwrap
from collections.abc import Iterator
from pathlib import Path

import pytest
from resolver import Dns

REPO = Path(__file__).resolve().parents[1]
MONITOR = [sys.executable, "-m", "monitor"]


class Project:
    """A folder laid out like the repository (rules/, alerts/, data/) and a way to run `monitor` in it."""

    def __init__(self, root: Path) -> None:
        self.root = root
        (root / "rules").mkdir()
        (root / "alerts").mkdir()
        self.env = {
            **{k: v for k, v in os.environ.items() if not k.startswith("MONITOR_")},
            "MONITOR_DB": f"sqlite:///{root / 'data' / 'monitor.db'}",
            "MONITOR_HTTP": "off",
            "PYTHONUNBUFFERED": "1",
            "MONITOR_DEBUG_STACKS": "1",  # a daemon that does not stop shows its threads' stacks (`stop`)
        }
        self.procs: list[subprocess.Popen[str]] = []

    def write(self, name: str, text: str) -> Path:
        path = self.root / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(textwrap.dedent(text), encoding="utf-8")
        return path

    def copy_sample(self) -> None:
        shutil.copy(REPO / "rules" / "watch.yaml", self.root / "rules" / "watch.yaml")
        shutil.copy(REPO / "alerts" / "channels.yaml", self.root / "alerts" / "channels.yaml")
        shutil.copytree(REPO / "examples", self.root / "examples")

    def cli(self, *args: str, timeout: float = 60) -> subprocess.CompletedProcess[str]:
        """Run one `monitor` command to completion."""
        return subprocess.run(
            [*MONITOR, *args], cwd=self.root, env=self.env, capture_output=True, text=True, timeout=timeout
        )

    def start(self, *args: str) -> subprocess.Popen[str]:
        """Start `monitor run` in the background; stdout and stderr go to files in the project."""
        n = len(self.procs)
        proc = subprocess.Popen(
            [*MONITOR, "run", *args],
            cwd=self.root,
            env=self.env,
            stdout=(self.root / f"stdout{n}.log").open("w"),
            stderr=(self.root / f"stderr{n}.log").open("w"),
            text=True,
        )
        self.procs.append(proc)
        return proc

    def log(self, n: int = -1, stream: str = "stderr") -> str:
        index = n if n >= 0 else len(self.procs) + n
        return (self.root / f"{stream}{index}.log").read_text(encoding="utf-8", errors="replace")

    def stop(self, proc: subprocess.Popen[str], sig: int = signal.SIGTERM, timeout: float = 30) -> int:
        """Signal the daemon and wait for its exit code; one that does not exit in `timeout` fails the
        test with its log's end and every thread's stack (SIGUSR1), then is killed."""
        proc.send_signal(sig)
        try:
            return proc.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            proc.send_signal(signal.SIGUSR1)
            with contextlib.suppress(subprocess.TimeoutExpired):
                proc.wait(timeout=2)  # the stacks are written at once; a daemon may also end meanwhile
            proc.kill()
            proc.wait(timeout=10)
            index = self.procs.index(proc) if proc in self.procs else -1
            raise AssertionError(
                f"monitor run did not exit within {timeout} s:\n{self.log(index)[-8000:]}"
            ) from None


@pytest.fixture
def project(tmp_path: Path) -> Iterator[Project]:
    proj = Project(tmp_path)
    yield proj
    for proc in proj.procs:
        if proc.poll() is None:
            proc.kill()
            proc.wait(timeout=10)


@pytest.fixture
def dns(monkeypatch: pytest.MonkeyPatch) -> Dns:
    return Dns(monkeypatch)
