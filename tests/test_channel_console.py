"""The console channel: a readable alert on stdout, with terminal escapes from feeds stripped."""

from __future__ import annotations

import pytest
from alertdata import alert, hostile, item

from monitor.channels import make_channel
from monitor.records import Snippet


def test_prints_every_field(capsys: pytest.CaptureFixture[str]) -> None:
    """Rule, title, link, feed, published time, matched terms and the highlighted snippet are shown."""
    make_channel("console", "console", {}, None).send(alert())
    out = capsys.readouterr().out
    assert "[uk-military] UK military meeting 1" in out
    assert "https://news.example.org/story/1?a=1&b=2" in out and "world-news" in out
    assert "2026-11-25 03:00:00 UTC" in out and "UK, military" in out
    assert "On Thursday the «UK» «military» met in London." in out


def test_feed_text_cannot_drive_the_terminal(capsys: pytest.CaptureFixture[str]) -> None:
    """ANSI escapes, control characters and bidi overrides from a feed never reach the terminal."""
    nasty = item(1, title="\x1b]0;pwned\x07Title\x1b[2J\u202eevil\r\x08", snippet="a\x1b[31mred\x1b[0m\x00b")
    make_channel("console", "console", {}, None).send(alert(nasty))
    out = capsys.readouterr().out
    assert "\x1b" not in out and "\x07" not in out and "\x00" not in out and "\u202e" not in out
    assert "\r" not in out and "\x08" not in out
    assert "Titleevil" in out and "ared" in out
    assert "link:      (none)" not in out


def test_javascript_link_is_not_shown(capsys: pytest.CaptureFixture[str]) -> None:
    """A non-http(s) link is dropped: the alert says there is no link."""
    make_channel("console", "console", {}, None).send(hostile())
    out = capsys.readouterr().out
    assert "javascript:" not in out and "link:      (none)" in out


def test_digest_and_stderr(capsys: pytest.CaptureFixture[str]) -> None:
    """A digest lists its items under one heading; `stream: stderr` writes there instead."""
    make_channel("console", "console", {"stream": "stderr"}, None).send(alert(item(1), item(2)))
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "uk-military: 2 new items" in captured.err and "UK military meeting 2" in captured.err


def test_item_without_snippet_spans(capsys: pytest.CaptureFixture[str]) -> None:
    """A snippet with no highlight is printed as is."""
    plain = item(1)
    bare = type(plain)(**{**plain.__dict__, "snippet": Snippet("nothing highlighted")})
    make_channel("console", "console", {}, None).send(alert(bare))
    assert "snippet:   nothing highlighted" in capsys.readouterr().out
