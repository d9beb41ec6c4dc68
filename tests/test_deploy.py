"""The deployment files stay true: compose reads .env, .env.example lists the sample's variables, the systemd unit."""

from __future__ import annotations

import configparser
import re
import shutil
import subprocess
from pathlib import Path

import pytest
import yaml

REPO = Path(__file__).resolve().parents[1]


def sample_variables() -> set[str]:
    """Every ${VAR} of the sample channels file, commented-out channels included."""
    text = (REPO / "alerts" / "channels.yaml").read_text()
    return set(re.findall(r"\$\{([A-Za-z_][A-Za-z0-9_]*)\}", text)) - {"VAR"}  # "${VAR}" in a comment


def example_variables() -> set[str]:
    text = (REPO / ".env.example").read_text()
    return set(re.findall(r"^#? ?([A-Z_][A-Z0-9_]*)=", text, flags=re.MULTILINE))


def test_env_example_lists_every_variable_the_sample_channels_use() -> None:
    assert sample_variables() >= {"SLACK_WEBHOOK_URL", "SMTP_URL", "WEBHOOK_URL", "WEBHOOK_SECRET"}
    assert sample_variables() <= example_variables()


def test_compose_passes_dot_env_to_every_monitor_and_dot_env_is_never_committed() -> None:
    compose = yaml.safe_load((REPO / "docker-compose.yml").read_text())
    monitors = {name: s for name, s in compose["services"].items() if name.startswith("monitor")}
    assert monitors and all(s.get("env_file") == ".env" for s in monitors.values())
    for service in monitors.values():  # compose's environment: wins over env_file: leave secrets to .env
        assert not set(service["environment"]) & sample_variables()
    assert ".env" in (REPO / ".gitignore").read_text().splitlines()
    assert ".env" in (REPO / ".dockerignore").read_text().splitlines()  # never baked into the image


@pytest.mark.skipif(shutil.which("docker-compose") is None, reason="docker-compose is not installed")
def test_docker_compose_config_accepts_the_file(tmp_path: Path) -> None:
    shutil.copy(REPO / "docker-compose.yml", tmp_path / "docker-compose.yml")
    shutil.copy(REPO / ".env.example", tmp_path / ".env")
    result = subprocess.run(
        ["docker-compose", "config", "-q"], cwd=tmp_path, capture_output=True, text=True, timeout=60
    )
    assert result.returncode == 0, result.stderr


def test_the_systemd_unit_restarts_on_failure_as_a_dedicated_user_with_an_environment_file() -> None:
    unit = configparser.ConfigParser(strict=False, interpolation=None)
    unit.optionxform = str  # type: ignore[assignment,method-assign]
    unit.read(REPO / "contrib" / "monitor.service")
    service = unit["Service"]
    assert service["Restart"] == "on-failure"
    assert service["User"] == "monitor" and service["Group"] == "monitor"
    assert service["EnvironmentFile"].lstrip("-").startswith("/")
    assert service["ExecStart"].endswith("monitor run")
    assert unit["Install"]["WantedBy"] == "multi-user.target"
