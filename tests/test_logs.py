"""Log lines (monitor.logs): one per event, text or JSON on stderr, never interleaved within a batch."""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator

import pytest

from monitor import events, logs


@pytest.fixture
def restore_logging() -> Iterator[None]:
    root = logging.getLogger()
    handlers, level = root.handlers[:], root.level
    yield
    root.handlers[:] = handlers
    root.setLevel(level)  # not `root.level =`: a logger's cached isEnabledFor answer would outlive it


@pytest.mark.usefixtures("restore_logging")
def test_json_lines_carry_the_event_and_its_fields(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging("json", "info")
    events.emit_all([events.event("fetch_failed", "HTTP 500", feed="bbc"), events.event("fetch", feed="npr")])
    lines = [json.loads(line) for line in capsys.readouterr().err.splitlines()]
    assert [(x["level"], x["event"], x["feed"]) for x in lines] == [
        ("warning", "fetch_failed", "bbc"),
        ("info", "fetch", "npr"),
    ]
    assert lines[0]["message"] == "HTTP 500"


@pytest.mark.usefixtures("restore_logging")
def test_text_lines_name_the_kind_and_quote_fields_with_spaces(capsys: pytest.CaptureFixture[str]) -> None:
    logs.setup_logging("text", "info")
    events.emit(events.event("reload", "rules reloaded", rule="uk troops"))
    (line,) = capsys.readouterr().err.splitlines()
    assert " INFO    reload rules reloaded  rule='uk troops'" in line
