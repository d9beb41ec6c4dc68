"""The shipped sample: `monitor init` writes the same files as the repository's, and they validate."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.cli.sample import SAMPLE, write_sample

REPO = Path(__file__).resolve().parents[1]


@pytest.mark.parametrize("name", SAMPLE)
def test_packaged_sample_is_the_repository_sample(name: str) -> None:
    packaged = REPO / "monitor" / "sample" / name
    assert packaged.read_bytes() == (REPO / name).read_bytes(), f"copy {name} to monitor/sample/{name}"


def test_init_writes_the_sample_and_never_overwrites(project) -> None:  # type: ignore[no-untyped-def]
    mine = project.write("rules/watch.yaml", "rules: []\n")
    result = project.cli("init", ".")
    assert result.returncode == 0, result.stderr
    assert mine.read_text() == "rules: []\n"
    assert "kept" in result.stdout and "wrote" in result.stdout
    assert (project.root / "alerts" / "channels.yaml").read_bytes() == (
        REPO / "alerts" / "channels.yaml"
    ).read_bytes()
    written = dict(write_sample(project.root))
    assert not any(written.values())


def test_sample_configuration_checks_clean(project) -> None:  # type: ignore[no-untyped-def]
    project.copy_sample()
    result = project.cli("check")
    assert result.returncode == 0, result.stdout + result.stderr
    assert result.stdout.startswith("ok:")
