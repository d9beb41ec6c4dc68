"""`${VAR}` from the environment, then `.env` in the working folder, then the file `VAR_FILE` names."""

from __future__ import annotations

from pathlib import Path

import pytest

from monitor.config import check_config

CHANNELS = "channels:\n  slack-news: {type: slack, webhook_url: '${SLACK_WEBHOOK_URL}'}\n"


@pytest.fixture
def folder(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> Path:
    monkeypatch.chdir(tmp_path)
    monkeypatch.delenv("SLACK_WEBHOOK_URL", raising=False)
    monkeypatch.delenv("SLACK_WEBHOOK_URL_FILE", raising=False)
    (tmp_path / "rules").mkdir()
    (tmp_path / "alerts").mkdir()
    (tmp_path / "alerts" / "channels.yaml").write_text(CHANNELS)
    return tmp_path


def webhook(folder: Path) -> str:
    config, errors, _ = check_config(Path("rules"), Path("alerts/channels.yaml"))
    assert config is not None, errors
    return str(config.channels["slack-news"].options.webhook_url.get_secret_value())  # type: ignore[attr-defined]


def test_a_variable_in_dot_env_is_read(folder: Path) -> None:
    (folder / ".env").write_text("# secrets\nSLACK_WEBHOOK_URL=https://hooks.example.org/from-dotenv\n")
    assert webhook(folder) == "https://hooks.example.org/from-dotenv"


def test_the_process_environment_wins_over_dot_env(folder: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    (folder / ".env").write_text("SLACK_WEBHOOK_URL=https://hooks.example.org/from-dotenv\n")
    monkeypatch.setenv("SLACK_WEBHOOK_URL", "https://hooks.example.org/from-env")
    assert webhook(folder) == "https://hooks.example.org/from-env"


def test_var_file_names_a_file_holding_the_value(folder: Path) -> None:
    secret = folder / "slack.secret"
    secret.write_text("https://hooks.example.org/from-file\n")
    (folder / ".env").write_text(f"SLACK_WEBHOOK_URL_FILE={secret}\n")
    assert webhook(folder) == "https://hooks.example.org/from-file"


def test_a_missing_variable_says_where_and_how_to_provide_it(folder: Path) -> None:
    _, errors, _ = check_config(Path("rules"), Path("alerts/channels.yaml"))
    [error] = [str(e) for e in errors]
    assert error.startswith("alerts/channels.yaml:2:42: environment variable 'SLACK_WEBHOOK_URL' is not set")
    assert "add SLACK_WEBHOOK_URL=... to .env" in error and "SLACK_WEBHOOK_URL_FILE" in error


def test_an_unreadable_var_file_is_named_without_any_value(folder: Path) -> None:
    (folder / ".env").write_text(f"SLACK_WEBHOOK_URL_FILE={folder / 'absent'}\n")
    _, errors, _ = check_config(Path("rules"), Path("alerts/channels.yaml"))
    [error] = [str(e) for e in errors]
    assert f"SLACK_WEBHOOK_URL_FILE names {folder / 'absent'}, which cannot be read" in error
