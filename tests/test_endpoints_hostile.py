"""/healthz and /metrics under idle-connection and request floods, and when database writes fail."""

from __future__ import annotations

import logging
import os
import shutil
import socket
import threading
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx
import pytest
import sqlalchemy as sa
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from waiting import wait_until
from webserve import Web, free_port, migrated_engine, serving


@pytest.fixture
def sqlite_file(tmp_path: Path) -> Path:
    return tmp_path / "data" / "monitor.db"


@pytest.fixture
def engine(sqlite_file: Path) -> sa.Engine:
    return migrated_engine(sqlite_file)


@pytest.fixture
def web(engine: sa.Engine) -> Iterator[Web]:
    with serving(engine) as web:
        yield web


def test_healthz_is_unhealthy_while_the_sqlite_file_is_read_only(web: Web, sqlite_file: Path) -> None:
    assert web.get("/healthz").status_code == 200
    sqlite_file.chmod(0o444)
    try:
        wait_until(lambda: web.get("/healthz").status_code == 503, timeout=10)  # probed once a second
    finally:
        sqlite_file.chmod(0o644)
    wait_until(lambda: web.get("/healthz").status_code == 200, timeout=10)


def test_healthz_is_unhealthy_once_the_database_folder_is_removed(web: Web, sqlite_file: Path) -> None:
    assert web.get("/healthz").status_code == 200
    shutil.rmtree(sqlite_file.parent)
    wait_until(lambda: web.get("/healthz").status_code == 503, timeout=10)


def open_fds() -> int:
    return len(os.listdir("/proc/self/fd"))


def test_a_thousand_idle_connections_cost_no_thread_each_and_healthz_still_answers(web: Web) -> None:
    port = web.server.server_address[1]
    threads, fds = threading.active_count(), open_fds()
    idle = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(1000)]
    try:
        for sock in idle[:100]:
            sock.send(b"GET /healthz HTTP/1.1\r\n")  # a request head never finished
        answer = httpx.get(web.url + "/healthz", timeout=10)
        assert answer.status_code == 200
        assert threading.active_count() - threads < 20
        assert open_fds() - fds < 1000 + 100  # our 1,000 client sockets, and at most ~64 on the server side
    finally:
        for sock in idle:
            sock.close()


def raw_get(port: int, path: str) -> str:
    """One HTTP/1.0 request on its own connection; the status line, or why there was none."""
    try:
        with socket.create_connection(("127.0.0.1", port), timeout=30) as sock:
            sock.sendall(f"GET {path} HTTP/1.0\r\n\r\n".encode())
            answer = b""
            while chunk := sock.recv(65536):
                answer += chunk
            return answer.split(b"\r\n", 1)[0].decode()
    except OSError as exc:
        return type(exc).__name__


def test_a_flood_of_two_thousand_requests_is_all_answered(web: Web) -> None:
    port = web.server.server_address[1]
    with ThreadPoolExecutor(200) as pool:
        answers = list(pool.map(lambda _: raw_get(port, "/healthz"), range(2000)))
    assert answers.count("HTTP/1.0 200 OK") == 2000, {a: answers.count(a) for a in set(answers)}


def test_a_database_outage_is_logged_once_and_its_end_once(
    engine: sa.Engine, caplog: pytest.LogCaptureFixture
) -> None:
    from monitor.dbhealth import DatabaseHealth

    health, down = DatabaseHealth(engine), [True]

    def job() -> None:
        if down[0]:
            raise sa.exc.OperationalError("UPDATE x", {}, Exception("attempt to write a readonly database"))

    guarded = health.guard(job)
    with caplog.at_level(logging.INFO, logger="monitor.db"):
        for _ in range(5):
            guarded()
        down[0] = False
        for _ in range(5):
            guarded()
    lines = [r.getMessage() for r in caplog.records if r.name == "monitor.db"]
    assert lines == [
        "database unavailable: Exception: attempt to write a readonly database",
        "database available again (it was unavailable: Exception: attempt to write a readonly database)",
    ]


@pytest.mark.slow
def test_the_daemon_reports_a_removed_database_folder_unhealthy_and_logs_it_once(project: Project) -> None:
    port = free_port()
    project.env["MONITOR_HTTP"] = f"127.0.0.1:{port}"
    with FeedServer() as server:
        server.feed("/f.xml", rss(It("Troops", link="https://n.example/1")))
        project.write(
            "rules/watch.yaml",
            f'feeds:\n  - {{name: f, url: "{server.url("/f.xml")}", every: 1s}}\n'
            "rules:\n  - {name: r, match: troops}\n",
        )
        project.write("alerts/channels.yaml", "channels: {}\n")
        proc = project.start()
        url = f"http://127.0.0.1:{port}/healthz"

        def status() -> int:
            try:
                return httpx.get(url, timeout=5).status_code
            except httpx.TransportError:
                return 0

        wait_until(lambda: status() == 200, timeout=60, message=project.log())
        shutil.rmtree(project.root / "data")
        wait_until(lambda: status() == 503, timeout=30, message=project.log())
        polls = len(server.requests("/f.xml"))
        wait_until(lambda: len(server.requests("/f.xml")) >= polls + 3, timeout=30, message=project.log())
        assert status() == 503
        log = project.log()
        assert log.count("database unavailable") == 1, log
        assert "Traceback" not in log, log
        project.stop(proc)
