"""The channel registry and each built-in channel's Options validation."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from alertdata import alert
from pydantic import ValidationError

from monitor.channels import available_types, channel_class, make_channel
from monitor.channels.base import ChannelOptions

SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"

VALID: list[tuple[str, dict[str, Any]]] = [
    ("console", {}),
    ("console", {"stream": "stderr", "max_attempts": 3}),
    ("slack", {"webhook_url": "https://hooks.slack.com/services/T/B/X"}),
    ("email", {"to": ["desk@example.org"], "from": "monitor@example.org", "smtp": "smtp://mail:25"}),
    ("email", {"to": ["a@x.org"], "from": "m@x.org", "smtp": "smtps://u:p@mail:465", "subject_prefix": "[n"}),
    ("email", {"to": ["a@x.org"], "from": "m@x.org", "smtp": "smtp://mail:587?starttls=require"}),
    ("webhook", {"url": "https://example.org/hook"}),
    ("webhook", {"url": "http://127.0.0.1:9/h", "secret": SECRET, "headers": {"X-Team": "news"}}),
]

INVALID: list[tuple[str, dict[str, Any], str]] = [
    ("console", {"stream": "tty"}, "stream"),
    ("console", {"colour": True}, "colour"),
    ("slack", {}, "webhook_url"),
    ("slack", {"webhook_url": "ftp://hooks.example.org/x"}, "http:// or https://"),
    ("slack", {"webhook_url": "javascript:alert(1)"}, "http:// or https://"),
    ("email", {"to": [], "from": "m@x.org", "smtp": "smtp://mail"}, "to"),
    ("email", {"to": ["a@x.org\nBcc: v@x.org"], "from": "m@x.org", "smtp": "smtp://mail"}, "email address"),
    ("email", {"to": ["a@x.org"], "from": "m@x.org", "smtp": "http://mail"}, "smtp:// or smtps://"),
    ("email", {"to": ["a@x.org"], "from": "m@x.org", "smtp": "smtp://mail?tls=1"}, "starttls=require"),
    ("email", {"to": ["a@x.org"], "smtp": "smtp://mail"}, "from"),
    ("webhook", {"url": "file:///etc/passwd"}, "http:// or https://"),
    ("webhook", {"url": "https://x.org/h", "secret": "whsec_!!!"}, "base64"),
    ("webhook", {"url": "https://x.org/h", "headers": {"X-A": "b\r\nX-Evil: 1"}}, "line break"),
]


def test_builtins_are_available() -> None:
    """The four built-in types are listed and resolve to classes carrying their own type name."""
    assert {"console", "slack", "email", "webhook"} <= set(available_types())
    for name in ("console", "slack", "email", "webhook"):
        cls = channel_class(name)
        assert cls.type == name
        assert issubclass(cls.Options, ChannelOptions)


def test_unknown_type_is_key_error() -> None:
    """An unknown type name raises KeyError (the config loader turns it into file:line:col)."""
    with pytest.raises(KeyError):
        channel_class("carrier-pigeon")


@pytest.mark.parametrize(("type_name", "raw"), VALID)
def test_valid_options(type_name: str, raw: dict[str, Any]) -> None:
    """Each documented form of channels.yaml validates and builds a channel."""
    options = channel_class(type_name).Options.model_validate(raw)
    channel = make_channel("c", type_name, options, None)
    assert channel.type == type_name


@pytest.mark.parametrize(("type_name", "raw", "expected"), INVALID)
def test_invalid_options(type_name: str, raw: dict[str, Any], expected: str) -> None:
    """A bad value is a validation error that says what is wrong and never quotes a secret URL."""
    with pytest.raises(ValidationError) as caught:
        channel_class(type_name).Options.model_validate(raw)
    messages = " ".join(f"{e['loc']} {e['msg']}" for e in caught.value.errors())
    assert expected in messages
    assert "hooks.example.org" not in messages


def test_defaults() -> None:
    """max_attempts defaults to 8 everywhere; Slack is rate limited to one message a second."""
    slack = channel_class("slack").Options.model_validate({"webhook_url": "https://h.example/x"})
    assert (slack.max_attempts, slack.min_interval) == (8, 1.0)
    assert channel_class("console").Options.model_validate({}).max_attempts == 8


def test_make_channel_accepts_a_mapping() -> None:
    """make_channel validates a plain mapping against the type's Options."""
    channel = make_channel("hook", "webhook", {"url": "https://example.org/h"}, None)
    assert channel.type == "webhook"


PLUGIN = '''
"""A third-party channel used by the registry test."""
from monitor.channels.base import ChannelOptions


class PigeonOptions(ChannelOptions):
    loft: str


class PigeonChannel:
    type = "pigeon"
    Options = PigeonOptions
    sent = []

    def __init__(self, name, options, renderer):
        self.name, self.options, self.renderer = name, options, renderer

    def send(self, alert):
        PigeonChannel.sent.append(self.renderer.console(alert))
'''


def test_entry_point_plugin_is_found(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    """A class published in the `monitor.channels` entry-point group is used like a built-in."""
    (tmp_path / "pigeon_channel.py").write_text(PLUGIN)
    info = tmp_path / "pigeon_channel-1.0.dist-info"
    info.mkdir()
    (info / "METADATA").write_text("Metadata-Version: 2.1\nName: pigeon-channel\nVersion: 1.0\n")
    (info / "entry_points.txt").write_text("[monitor.channels]\npigeon = pigeon_channel:PigeonChannel\n")
    monkeypatch.syspath_prepend(str(tmp_path))
    assert "pigeon" in available_types()
    channel = make_channel("loft", "pigeon", {"loft": "roof", "max_attempts": 2}, None)
    channel.send(alert())
    assert "UK military meeting 1" in channel_class("pigeon").sent[0]
    with pytest.raises(ValidationError):
        make_channel("loft", "pigeon", {"loft": "roof", "wings": 2}, None)
