"""Configuration files that are not what they seem: deep nesting, special files, huge files, `.yml`."""

from __future__ import annotations

import os
import subprocess
import threading
from collections.abc import Callable
from pathlib import Path
from typing import TypeVar

import pytest
from conftest import Project
from test_reload import Setup

from monitor.config import check_config
from monitor.config.secrets import environment
from monitor.render import Renderer, sample_alert

T = TypeVar("T")
RULE = "rules:\n  - {name: r, match: ukraine, alert: [console]}\n"
MAX_BYTES = 10 * 2**20  # the cap on a configuration file
DEEP = "rules: " + "[" * 2000 + "]" * 2000 + "\n"


def check(_root: Path) -> tuple[list[str], list[str]]:
    """Check the project in the working folder (so messages name files as `rules/x.yaml`)."""
    _config, errors, warnings = check_config(Path("rules"), Path("alerts/channels.yaml"), {})
    return [str(e) for e in errors], warnings


@pytest.fixture
def root(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    (tmp_path / "rules").mkdir()
    (tmp_path / "alerts").mkdir()
    (tmp_path / "rules" / "watch.yaml").write_text(RULE)
    return tmp_path


@pytest.mark.parametrize("where", ["rules/deep.yaml", "alerts/channels.yaml"])
def test_nesting_2000_deep_is_an_error_at_file_line_col_not_a_recursion_error(root: Path, where: str) -> None:
    (root / where).write_text("\n" + DEEP)
    errors, _ = check(root)
    assert errors == [f"{where}:2:71: invalid YAML: lists or mappings nested more than 64 levels deep"]


def test_nesting_100000_deep_neither_crashes_nor_recurses(root: Path) -> None:
    (root / "rules" / "deep.yaml").write_text("a: " + "{b: " * 100_000 + "}" * 100_000)
    errors, _ = check(root)
    assert errors == [
        "rules/deep.yaml:1:256: invalid YAML: lists or mappings nested more than 64 levels deep"
    ]


def test_a_deep_channels_file_on_reload_is_blamed_on_the_channels_file(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    setup.channels.write_text("channels:\n  console: " + "[" * 2000 + "]" * 2000 + "\n")
    assert setup.reloader.tick() is None
    [failed] = setup.events("reload_failed")
    assert failed.data["file"] == str(setup.channels) and failed.data["line"] == 2
    assert "nested more than 64 levels deep" in failed.message and "RecursionError" not in failed.message


def bounded(fifo: Path, work: Callable[[], T], seconds: float = 10) -> T:
    """Run `work`, failing (and unblocking it by writing to `fifo`) if it takes over `seconds`."""
    done: list[T] = []
    thread = threading.Thread(target=lambda: done.append(work()), daemon=True)
    thread.start()
    thread.join(seconds)
    if thread.is_alive():
        os.close(os.open(fifo, os.O_WRONLY | os.O_NONBLOCK))  # the blocked reader gets end-of-file
        thread.join(seconds)
        pytest.fail(f"blocked on the named pipe {fifo} for {seconds} s")
    return done[0]


def test_a_fifo_in_rules_is_skipped_with_a_warning_and_blocks_nothing(root: Path) -> None:
    os.mkfifo(root / "rules" / "x.yaml")
    errors, warnings = bounded(root / "rules" / "x.yaml", lambda: check(root))
    assert errors == []
    assert warnings == ["rules/x.yaml:1:1: warning: skipped: not a regular file (a named pipe)"]


def test_a_symlink_to_dev_zero_in_rules_is_never_read(root: Path) -> None:
    (root / "rules" / "zero.yaml").symlink_to("/dev/zero")
    errors, warnings = check(root)
    assert errors == []
    assert warnings == ["rules/zero.yaml:1:1: warning: skipped: not a regular file (a character device)"]


@pytest.mark.parametrize(
    ("make", "reason"),
    [
        (lambda p: os.mkfifo(p), "not a regular file (a named pipe)"),
        (lambda p: p.symlink_to("/dev/zero"), "not a regular file (a character device)"),
        (lambda p: p.write_bytes(b"# " + b"x" * MAX_BYTES + b"\n"), "over 10 MB"),
    ],
    ids=["fifo", "dev-zero", "over-10MB"],
)
def test_a_channels_file_that_is_not_a_regular_small_file_is_an_error_naming_it(
    root: Path, make: Callable[[Path], object], reason: str
) -> None:
    make(root / "alerts" / "channels.yaml")
    errors, _ = bounded(root / "alerts" / "channels.yaml", lambda: check(root))
    assert errors[0].startswith(f"alerts/channels.yaml:1:1: cannot read the file: {reason}"), errors


def test_a_rules_file_over_10_mb_is_an_error_not_read(root: Path) -> None:
    (root / "rules" / "huge.yaml").write_bytes(b"# " + b"x" * MAX_BYTES + b"\n")
    errors, _ = check(root)
    assert errors == [
        "rules/huge.yaml:1:1: cannot read the file: over 10 MB (a configuration file is never this big)"
    ]


def test_yml_files_load_like_yaml(root: Path) -> None:
    (root / "rules" / "more.yml").write_text("rules:\n  - {name: s, match: troops, alert: [console]}\n")
    config, errors, warnings = check_config(Path("rules"), Path("alerts/channels.yaml"), {})
    assert errors == [] and warnings == []
    assert config is not None and set(config.rules) == {"r", "s"}


def test_reloads_see_yml_files_and_a_fifo_does_not_block_them(tmp_path: Path) -> None:
    setup = Setup(tmp_path)
    os.mkfifo(setup.rules / "x.yaml")
    setup.write("rules/more.yml", "rules:\n  - {name: extra, match: peace, alert: [console]}\n")
    config = bounded(setup.rules / "x.yaml", setup.reloader.tick)
    assert config is not None and "extra" in config.rules


@pytest.mark.slow
def test_monitor_check_does_not_hang_on_a_fifo(project: Project) -> None:
    project.copy_sample()
    os.mkfifo(project.root / "rules" / "x.yaml")
    try:
        result = project.cli("check", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail("monitor check hung on a named pipe in rules/")
    assert result.returncode == 0, result.stderr
    assert "rules/x.yaml:1:1: warning: skipped: not a regular file (a named pipe)" in result.stdout


def alias_bomb(levels: int, indent: str) -> str:
    """A billion-laughs YAML fragment: each anchor is ten aliases of the one before."""
    lines = [f"{indent}a0: &a0 [{', '.join(['lol'] * 10)}]"]
    lines += [f"{indent}a{n}: &a{n} [{', '.join([f'*a{n - 1}'] * 10)}]" for n in range(1, levels)]
    return "\n".join(lines) + "\n"


BOMBS = {
    # 10^9 values once expanded: hours and about 50 GB before this change
    "alerts/channels.yaml": ("channels:\n  console:\n    type: console\n" + alias_bomb(9, "    "), 8, 49),
    "rules/watch.yaml": ("aliases:\n" + alias_bomb(9, "  "), 6, 47),
}


@pytest.mark.slow
@pytest.mark.parametrize("where", sorted(BOMBS))
def test_an_alias_bomb_is_refused_at_its_alias_within_seconds(project: Project, where: str) -> None:
    text, line, col = BOMBS[where]
    project.write("rules/watch.yaml", RULE)
    project.write(where, text)
    try:
        result = project.cli("check", timeout=30)
    except subprocess.TimeoutExpired:
        pytest.fail(f"monitor check expanded the alias bomb in {where} for 30 s")
    assert result.returncode == 1
    assert result.stderr.startswith(
        f"{where}:{line}:{col}: invalid YAML: aliases expand to more than 100,000 values (a YAML alias bomb?)"
    ), result.stderr


SPECIAL = [
    (lambda p: os.mkfifo(p), "not a regular file (a named pipe)"),
    (lambda p: p.symlink_to("/dev/zero"), "not a regular file (a character device)"),
]


@pytest.mark.parametrize(("make", "reason"), SPECIAL, ids=["fifo", "dev-zero"])
def test_a_template_that_is_not_a_regular_file_is_skipped_and_the_built_in_one_used(
    root: Path, make: Callable[[Path], object], reason: str
) -> None:
    (root / "alerts" / "templates").mkdir()
    template = root / "alerts" / "templates" / "console.txt.j2"
    make(template)
    errors, warnings = bounded(template, lambda: check(root))
    assert errors == []
    assert warnings == [
        f"alerts/templates/console.txt.j2:1:1: warning: skipped: {reason}; the built-in template is used"
    ]
    text = bounded(template, lambda: Renderer(Path("alerts/templates")).console(sample_alert(1)))
    assert text == Renderer().console(sample_alert(1))


def test_a_template_over_10_mb_is_an_error_naming_it_not_compiled(root: Path) -> None:
    (root / "alerts" / "templates").mkdir()
    (root / "alerts" / "templates" / "console.txt.j2").write_bytes(b"x" * (MAX_BYTES + 1))
    errors, _ = check(root)
    assert errors == [
        "alerts/templates/console.txt.j2:1:1: cannot read the file: over 10 MB"
        " (a configuration file is never this big)"
    ]


@pytest.mark.parametrize(("make", "reason"), SPECIAL, ids=["fifo", "dev-zero"])
def test_a_var_file_that_is_not_a_regular_file_is_named_and_skipped_never_read(
    root: Path, make: Callable[[Path], object], reason: str
) -> None:
    (root / "alerts" / "channels.yaml").write_text(
        "channels:\n  console: {type: console}\n  hook: {type: webhook, url: '${HOOK_URL}'}\n"
    )
    make(root / "hook.secret")
    env = {"HOOK_URL_FILE": str(root / "hook.secret")}
    _config, errors, _ = bounded(
        root / "hook.secret", lambda: check_config(Path("rules"), Path("alerts/channels.yaml"), env)
    )
    [error] = [str(e) for e in errors]
    assert f"HOOK_URL_FILE names {root / 'hook.secret'}, which is skipped: {reason}" in error


def test_a_dot_env_that_is_a_named_pipe_does_not_block(root: Path) -> None:
    os.mkfifo(root / ".env")
    assert bounded(root / ".env", lambda: "HOME" in environment())
