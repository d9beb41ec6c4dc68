"""`monitor` as a service: what happens when the daemon dies, its port is taken, or a setting is wrong."""

from __future__ import annotations

import os
import shutil
import signal
import socket
import subprocess
from pathlib import Path

import pytest
from conftest import MONITOR, Project
from waiting import wait_until


def _children() -> dict[int, list[tuple[int, str]]]:
    """Every process by parent pid: (pid, start time) pairs, read from /proc."""
    tree: dict[int, list[tuple[int, str]]] = {}
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            stat = (entry / "stat").read_text()
        except OSError:
            continue
        fields = stat.rsplit(")", 1)[1].split()
        tree.setdefault(int(fields[1]), []).append((int(entry.name), fields[19]))
    return tree


def descendants(pid: int) -> set[tuple[int, str]]:
    """The processes below `pid`, each with its start time (so a reused pid is not mistaken for it)."""
    tree, found, todo = _children(), set(), [pid]
    while todo:
        for child in tree.get(todo.pop(), []):
            found.add(child)
            todo.append(child[0])
    return found


def running(processes: set[tuple[int, str]]) -> set[tuple[int, str]]:
    """Those of `processes` still alive (zombies count as gone)."""
    alive = set()
    for pid, started in processes:
        try:
            fields = Path(f"/proc/{pid}/stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        if fields[19] == started and fields[0] != "Z":
            alive.add((pid, started))
    return alive


@pytest.mark.slow
def test_kill_9_of_the_daemon_alone_leaves_no_child_process_running(project: Project) -> None:
    project.copy_sample()
    daemon = project.start()
    # The parse workers are grandchildren (daemon -> fork server -> worker): wait until one runs.
    tree = wait_until(
        lambda: (found := descendants(daemon.pid)) and len(found) >= 3 and found,
        timeout=60,
        message="the daemon's parse workers",
    )
    os.kill(daemon.pid, signal.SIGKILL)  # the daemon alone, not its process group
    daemon.wait(timeout=10)
    wait_until(lambda: not running(tree), timeout=5, every=0.1, message=f"children to exit: {running(tree)}")


@pytest.mark.slow
def test_a_busy_http_port_is_one_line_naming_it_and_exit_2(project: Project) -> None:
    project.copy_sample()
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        address = f"127.0.0.1:{taken.getsockname()[1]}"
        project.env["MONITOR_HTTP"] = address
        result = project.cli("run", timeout=60)
    assert result.returncode == 2, result.stderr
    assert "Traceback" not in result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "in use" in lines[0], result.stderr


@pytest.mark.slow
@pytest.mark.parametrize("address", ["256.1.1.1:8080", "no-such-host.invalid:8080"])
def test_an_http_address_that_cannot_be_bound_is_one_line_and_exit_2(project: Project, address: str) -> None:
    project.copy_sample()
    project.env["MONITOR_HTTP"] = address
    result = project.cli("run", timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and address in lines[0] and "Traceback" not in result.stderr, result.stderr


@pytest.mark.parametrize("address", ["localhost", "127.0.0.1:99999", "127.0.0.1:http"])
def test_an_invalid_http_setting_is_one_line_and_exit_2(project: Project, address: str) -> None:
    project.env["MONITOR_HTTP"] = address
    result = project.cli("run", timeout=60)
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MONITOR_HTTP" in lines[0] and repr(address) in lines[0], result.stderr


SECRET = "s3cret-Pw"
BAD_DATABASES = {
    "refused": f"postgresql://monitor:{SECRET}@127.0.0.1:{{port}}/monitor",
    "bad port": f"postgresql://monitor:{SECRET}@127.0.0.1:99999/monitor",
    "port not a number": f"postgresql://monitor:{SECRET}@127.0.0.1:abc/monitor",
    "unknown host": f"postgresql://monitor:{SECRET}@no-such-host.invalid/monitor",
    "bad scheme": f"mysql://monitor:{SECRET}@127.0.0.1/monitor",
    "not a url": f"monitor:{SECRET}",
}
EXPECTED_WORDS = {
    "refused": "refused",
    "bad port": "invalid port 99999",
    "port not a number": "not a database URL",
    "unknown host": "no-such-host.invalid",
    "bad scheme": "unsupported scheme 'mysql'",
    "not a url": "not a database URL",
}


def _closed_port() -> int:
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return int(s.getsockname()[1])


@pytest.mark.slow
@pytest.mark.parametrize("case", sorted(BAD_DATABASES))
@pytest.mark.parametrize("command", [["feeds"], ["events"], ["run", "--once"]])
def test_a_wrong_monitor_db_is_one_line_naming_the_problem_without_the_password(
    project: Project, case: str, command: list[str]
) -> None:
    project.copy_sample()
    project.env["MONITOR_DB"] = BAD_DATABASES[case].format(port=_closed_port())
    result = project.cli(*command, timeout=60)
    output = result.stdout + result.stderr
    assert result.returncode == 2, output
    assert "Traceback" not in output and SECRET not in output, output
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MONITOR_DB" in lines[0] and EXPECTED_WORDS[case] in lines[0], output


@pytest.mark.slow
def test_a_second_run_on_the_same_sqlite_file_through_a_symlink_or_a_hard_link_is_refused(
    project: Project,
) -> None:
    project.copy_sample()
    first = project.start()
    database = project.root / "data" / "monitor.db"
    wait_until(lambda: first.poll() is not None or "monitor running" in project.log(0), timeout=60)
    assert first.poll() is None, project.log(0)
    (project.root / "elsewhere").mkdir()
    (project.root / "elsewhere" / "link.db").symlink_to(database)
    os.link(database, project.root / "elsewhere" / "hard.db")  # another name for the same file
    for url in (
        f"sqlite:///{project.root / 'elsewhere' / 'link.db'}",
        f"sqlite:///{project.root / 'elsewhere' / 'hard.db'}",
        f"sqlite:///{project.root / 'elsewhere' / '..' / 'data' / 'monitor.db'}",
        "sqlite:///data/./monitor.db",
    ):
        project.env["MONITOR_DB"] = url
        second = project.cli("run", "--once", timeout=60)
        assert second.returncode == 1, (url, second.stderr)
        assert "another `monitor run` is already using" in second.stderr, second.stderr
    assert project.stop(first) == 0


def test_read_only_commands_outside_a_monitor_folder_say_so_and_create_nothing(project: Project) -> None:
    del project.env["MONITOR_DB"]  # the default, data/monitor.db, relative to where it is run
    elsewhere = project.root / "elsewhere"
    elsewhere.mkdir()
    for command in (
        ["feeds"],
        ["events"],
        ["deliveries"],
        ["try", "troops"],
        ["deliveries", "retry", "--all"],
    ):
        result = subprocess_in(project, elsewhere, *command)
        assert result.returncode == 2, (command, result.stderr)
        assert "no database at data/monitor.db" in result.stderr and "rules/" in result.stderr, result.stderr
        assert "Traceback" not in result.stderr
    assert list(elsewhere.iterdir()) == []  # no data/ folder, no empty database


def test_read_only_commands_before_the_first_run_say_the_daemon_creates_the_database(
    project: Project,
) -> None:
    project.copy_sample()
    result = project.cli("feeds")
    assert result.returncode == 2 and "`monitor run` creates it" in result.stderr, result.stderr
    assert not (project.root / "data").exists()


def subprocess_in(project: Project, cwd: Path, *args: str) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [*MONITOR, *args], cwd=cwd, env=project.env, capture_output=True, text=True, timeout=60
    )


def test_retrying_an_unknown_delivery_id_exits_1_naming_it(project: Project) -> None:
    project.copy_sample()
    assert project.cli("db", "upgrade").returncode == 0
    result = project.cli("deliveries", "retry", "msg_nosuchdelivery000000000")
    assert result.returncode == 1, result.stdout + result.stderr
    assert "msg_nosuchdelivery000000000" in result.stderr and "no failed delivery" in result.stderr


@pytest.mark.parametrize("level", ["LOUD", "info2", "10"])
def test_a_bad_log_level_is_one_clear_line(project: Project, level: str) -> None:
    project.copy_sample()
    project.env["MONITOR_LOG_LEVEL"] = level
    result = project.cli("check")
    assert result.returncode == 2, result.stderr
    lines = result.stderr.strip().splitlines()
    assert len(lines) == 1 and "MONITOR_LOG_LEVEL" in lines[0] and repr(level) in lines[0], result.stderr
    assert "DEBUG, INFO, WARNING, ERROR" in lines[0]


def test_a_lower_case_log_level_is_accepted(project: Project) -> None:
    project.copy_sample()
    project.env["MONITOR_LOG_LEVEL"] = "warning"
    assert project.cli("check").returncode == 0


@pytest.mark.slow
def test_the_parse_workers_run_when_the_daemon_is_pid_1_as_in_a_container(project: Project) -> None:
    """The fork server watches the daemon by its pid, so a daemon at pid 1 (docker) is not taken for dead."""
    unshare = shutil.which("unshare")
    probe = subprocess.run([unshare or "unshare", "--pid", "--fork", "true"], capture_output=True)
    if unshare is None or probe.returncode != 0:
        pytest.skip("cannot make a pid namespace here (unshare --pid needs root)")
    project.copy_sample()
    command = [unshare, "--pid", "--fork", "--mount-proc", *MONITOR, "run", "--once"]
    result = subprocess.run(
        command, cwd=project.root, env=project.env, capture_output=True, text=True, timeout=120
    )
    assert result.returncode == 0, result.stderr
    assert "uk-military-meeting" in result.stdout and "crashed" not in result.stderr, result.stderr
