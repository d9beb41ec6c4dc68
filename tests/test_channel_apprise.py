"""The Apprise channel through the outbox, against loopback receivers (Apprise's json:// and ntfy://).

Apprise speaks to a real HTTP server on 127.0.0.1: a match, a digest, a burst, a failure retried then
sent, a permanent failure, several URLs, the formats, and the URL (a secret) never in logs or events.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
import time_machine
from alertdata import alert, hostile, item
from conftest import Project
from feeds import It
from outbox import Rig
from receivers import HANG, HttpReceiver, Received

from monitor import scrub
from monitor.channels import make_channel
from monitor.config import load_config
from monitor.errors import ConfigErrors, RetryLater
from monitor.redeliver import send_test

TOKEN = "SECRETTOKEN0123456789"
STORY = It("Military chiefs meet", "The military chiefs meet on Thursday.", link="https://n.example.org/1")


def story(n: int) -> It:
    return It(
        f"Story {n} about the military", f"The military story number {n}.", link=f"https://n.example.org/{n}"
    )


class RootLog(logging.Handler):
    """Every line that reaches the root logger, where monitor's own log handler sits (pytest's caplog
    also listens on loggers that do not propagate, so it would hear Apprise's lines monitor never shows)."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(f"{record.name} {record.getMessage()}")

    @property
    def text(self) -> str:
        return "\n".join(self.lines)


@pytest.fixture
def root_log() -> Iterator[RootLog]:
    root, handler = logging.getLogger(), RootLog()
    level = root.level
    root.setLevel(logging.DEBUG)  # not `root.level =`: setLevel clears every logger's isEnabledFor cache
    root.addHandler(handler)
    yield handler
    root.removeHandler(handler)
    root.setLevel(level)


@pytest.fixture
def hook() -> Iterator[HttpReceiver]:
    with HttpReceiver() as receiver:
        yield receiver


def json_url(hook: HttpReceiver) -> str:
    """Apprise's JSON service posting to the receiver, a token in the path."""
    return f"json://{hook.url.removeprefix('http://')}/hook/{TOKEN}"


def ntfy_url(hook: HttpReceiver, query: str = "") -> str:
    """Apprise's ntfy service against the receiver as a self-hosted ntfy server; the topic is the secret."""
    return f"ntfy://{hook.url.removeprefix('http://')}/{TOKEN}{query}"


def apprise_rig(project: Project, url: str, options: str = ", min_interval: 0", rule_extra: str = "") -> Rig:
    channel = f"ap: {{type: apprise, url: '${{APPRISE_URL}}'{options}}}"
    return Rig(project, channel, {"APPRISE_URL": url}, rule_extra)


def message(request: Received) -> dict[str, Any]:
    """The JSON body Apprise's json:// or ntfy:// service posted."""
    return dict(request.json())


def no_secret_anywhere(rig: Rig, root_log: RootLog, *extra: str) -> None:
    """Neither the token nor the receiver's address appears in any event, delivery row or log line."""
    texts = [root_log.text, *extra]
    for kind in ("delivery", "delivery_failed"):
        texts += [e.message + json.dumps(e.data) for e in rig.events(kind)]
    texts += [d.last_error or "" for d in rig.deliveries()]
    for text in texts:
        assert TOKEN not in text


def test_a_match_is_sent_through_apprise_once(
    project: Project, hook: HttpReceiver, root_log: RootLog
) -> None:
    rig = apprise_rig(project, json_url(hook))
    rig.ingest(STORY)
    rig.deliver_until(lambda: rig.status() == {"sent"})
    (request,) = hook.requests
    assert request.path == f"/hook/{TOKEN}"
    body = message(request)
    assert body["title"] == "Military chiefs meet"  # the headline, as a phone shows it
    assert "https://n.example.org/1" in body["message"] and "«military»" in body["message"]
    assert "rule watch" in body["message"]
    assert [e.message for e in rig.events("delivery")] == ["sent to ap"]
    assert "sent to ap" in root_log.text and "Sent JSON" not in root_log.text  # Apprise's own lines stay out
    no_secret_anywhere(rig, root_log)
    rig.close()


def test_a_digest_is_one_ntfy_message_listing_newest_first(project: Project, hook: HttpReceiver) -> None:
    rig = apprise_rig(project, ntfy_url(hook), rule_extra="    digest: '0 8 * * *'\n")
    day = datetime(2026, 11, 26, 6, tzinfo=UTC)
    with time_machine.travel(day, tick=True) as clock:
        rig.ingest(story(1))
        clock.move_to(day.replace(hour=7))
        rig.ingest(story(2))
        clock.move_to(day.replace(hour=8, second=1))
        rig.deliver_until(lambda: rig.status() == {"sent"})
    (request,) = hook.requests
    body = message(request)
    assert body["topic"] == TOKEN and body["title"] == "watch: 2 new items"
    text = body["message"]
    assert text.index(story(2).title) < text.index(story(1).title)
    rig.close()


def test_a_burst_goes_out_as_one_grouped_message(project: Project, hook: HttpReceiver) -> None:
    rig = apprise_rig(project, json_url(hook))
    rig.ingest(*(story(n) for n in range(8)))
    rig.deliver_until(lambda: rig.status() == {"sent"})
    (request,) = hook.requests
    body = message(request)
    assert body["title"] == "watch: 8 new items"
    assert all(story(n).title in body["message"] for n in range(8))
    assert len({d.group_key for d in rig.deliveries()}) == 1
    rig.close()


def test_a_failure_is_retried_then_sent(project: Project, hook: HttpReceiver, root_log: RootLog) -> None:
    hook.script(500)
    rig = apprise_rig(project, ntfy_url(hook))
    rig.ingest(STORY)
    rig.deliver_until(lambda: rig.status() == {"sent"})
    first, second = hook.requests
    assert first.body == second.body
    (failed,) = rig.events("delivery_failed")
    assert "ap: apprise channel ap: ntfy failed: HTTP 500" in failed.message
    assert failed.data["final"] is False
    assert rig.deliveries()[0].attempts == 2
    no_secret_anywhere(rig, root_log)
    rig.close()


def test_a_failure_every_time_is_failed_after_max_attempts(
    project: Project, hook: HttpReceiver, root_log: RootLog
) -> None:
    hook.script(400, 400)  # Apprise says only "failed": even a 400 is retried, up to max_attempts
    rig = apprise_rig(project, json_url(hook), ", min_interval: 0, max_attempts: 2")
    rig.ingest(STORY)
    rig.deliver_until(lambda: rig.status() == {"failed"})
    assert len(hook.requests) == 2
    assert [e.data["final"] for e in rig.events("delivery_failed")] == [False, True]
    listed = project.cli("deliveries")
    assert listed.returncode == 0 and "failed" in listed.stdout and "JSON failed: HTTP 400" in listed.stdout
    no_secret_anywhere(rig, root_log, listed.stdout, listed.stderr)
    rig.close()


def test_several_urls_a_retry_sends_only_to_the_one_that_failed(project: Project) -> None:
    with HttpReceiver() as good, HttpReceiver() as bad:
        bad.script(503)
        channel = "ap: {type: apprise, url: ['${GOOD}', '${BAD}'], min_interval: 0}"
        rig = Rig(project, channel, {"GOOD": json_url(good), "BAD": ntfy_url(bad)})
        rig.ingest(STORY)
        rig.deliver_until(lambda: rig.status() == {"sent"})
        assert len(good.requests) == 1 and len(bad.requests) == 2
        (failed,) = rig.events("delivery_failed")
        assert "ntfy (url 2 of 2) failed: HTTP 503" in failed.message
        rig.close()


def test_a_receiver_that_never_answers_is_retry_later_after_the_timeout(hook: HttpReceiver) -> None:
    hook.script(HANG)
    channel = make_channel("ap", "apprise", {"url": json_url(hook), "timeout": 0.5}, None)
    with pytest.raises(RetryLater, match=r"JSON timed out after 0\.5 s") as caught:
        channel.send(alert())
    assert TOKEN not in str(caught.value)


def test_each_service_gets_its_own_format_unless_one_is_set(hook: HttpReceiver) -> None:
    plain = make_channel("ap", "apprise", {"url": ntfy_url(hook)}, None)
    chosen = make_channel("ap", "apprise", {"url": ntfy_url(hook), "format": "markdown"}, None)
    in_url = make_channel("ap", "apprise", {"url": ntfy_url(hook, "?format=markdown")}, None)
    assert [t.format for t in (*plain.targets, *chosen.targets, *in_url.targets)] == [
        "text",
        "markdown",
        "markdown",
    ]
    chosen.send(alert(item(1, title="Peace *now* [x](https://evil.example)")))
    body = message(hook.wait_for(1)[0])
    assert body["title"] == "Peace *now* [x](https://evil.example)"  # a title is plain text
    assert (
        "**[Peace \\*now\\* \\[x\\](https://evil.example)](https://news.example.org/story/1?a=1&b=2)**"
        in (body["message"])
    )
    assert "**UK** **military**" in body["message"]


def test_feed_text_cannot_ping_through_apprise(hook: HttpReceiver) -> None:
    """Apprise's Discord service turns @everyone in a body into a ping: feed text never carries one."""
    for options in ({}, {"format": "markdown"}, {"format": "html"}):
        make_channel("ap", "apprise", {"url": json_url(hook), **options}, None).send(hostile())
    for request in hook.wait_for(3):
        body = message(request)
        for text in (body["title"], body["message"]):
            assert "@everyone" not in text and "@here" not in text and "@channel" not in text
            assert "javascript:" not in text and "\x1b" not in text
    assert "<script>" not in message(hook.requests[2])["message"]


def test_apprise_pacing_is_the_outbox_min_interval(hook: HttpReceiver) -> None:
    """Apprise's own per-service throttle would sleep inside the send (and its timeout): the outbox
    spaces the channel's messages instead, by the slowest service's pace unless min_interval is set."""
    assert make_channel("ap", "apprise", {"url": ntfy_url(hook)}, None).options.min_interval == 5.5
    assert make_channel("ap", "apprise", {"url": json_url(hook)}, None).options.min_interval == 0
    set_here = make_channel("ap", "apprise", {"url": ntfy_url(hook), "min_interval": 1}, None)
    assert set_here.options.min_interval == 1
    assert all(t.sender[0].request_rate_per_sec == 0 for t in set_here.targets)


def test_a_url_apprise_cannot_use_is_a_check_error_without_the_url(project: Project) -> None:
    project.write("rules/watch.yaml", "feeds: []\n")
    project.write("alerts/channels.yaml", "channels:\n  ap: {type: apprise, url: ['${GOOD}', '${BAD}']}\n")
    env = {**project.env, "GOOD": "json://127.0.0.1:9/x", "BAD": f"nosuchservice://{TOKEN}@example.org/"}
    with pytest.raises(ConfigErrors) as caught:
        load_config(project.root / "rules", project.root / "alerts" / "channels.yaml", env)
    text = str(caught.value)
    assert (
        "channels.yaml:2:" in text
        and "url 2 is not a URL Apprise can send to (scheme nosuchservice://)" in text
    )
    assert TOKEN not in text


def test_alerts_test_says_it_is_a_test(project: Project, hook: HttpReceiver) -> None:
    rig = apprise_rig(project, json_url(hook))
    send_test(rig.rt.config, "ap")
    body = message(hook.wait_for(1)[0])
    assert body["title"].startswith("Test alert: ")
    assert "Test alert from monitor" in body["message"]
    rig.close()


@pytest.mark.parametrize(
    ("url", "token"),
    [
        (
            "workflows://prod-00.westus.logic.azure.com:443/a1b2c3d4e5f6a7b8c9d0/SIGNATUREa1b2c3d4e5f6",
            "SIGNATUREa1b2c3d4e5f6",
        ),
        ("discord://123456789012345678/WEBHOOKTOKENabcdef0123456789", "WEBHOOKTOKENabcdef0123456789"),
        ("tgram://123456789:BOTTOKENabcdef0123456789/-1001234567890", "BOTTOKENabcdef0123456789"),
    ],
)
def test_an_apprise_url_is_a_secret_the_scrubber_knows(project: Project, url: str, token: str) -> None:
    """The URL is held as a SecretStr in the channel's options, so the configuration hands it to the
    scrubber: its tokens are redacted from any message, even quoted alone."""
    project.write("rules/watch.yaml", "feeds: []\n")
    project.write("alerts/channels.yaml", "channels:\n  ap: {type: apprise, url: '${APPRISE_URL}'}\n")
    load_config(
        project.root / "rules", project.root / "alerts" / "channels.yaml", {**project.env, "APPRISE_URL": url}
    )
    assert token not in scrub.scrub(f"the service said: {url} / {token}")


def test_apprise_reads_no_plugin_or_config_from_the_home_folder(
    hook: HttpReceiver, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Apprise's CLI loads ~/.apprise/plugins and ~/.config/apprise; the channel must not, nor write there."""
    home = tmp_path / "home"
    marker = tmp_path / "plugin-ran"
    for folder in (home / ".apprise" / "plugins", home / ".config" / "apprise" / "plugins"):
        folder.mkdir(parents=True)
        (folder / "evil.py").write_text(f"open({str(marker)!r}, 'w').write('ran')\n")
    (home / ".config" / "apprise" / "apprise.yml").write_text(f"urls:\n  - json://127.0.0.1:9/{TOKEN}\n")
    monkeypatch.setenv("HOME", str(home))
    monkeypatch.setenv("XDG_CONFIG_HOME", str(home / ".config"))
    before = sorted(p.relative_to(home) for p in home.rglob("*"))
    make_channel("ap", "apprise", {"url": json_url(hook)}, None).send(alert())
    assert len(hook.wait_for(1)) == 1
    assert not marker.exists()
    assert sorted(p.relative_to(home) for p in home.rglob("*")) == before  # nothing stored there either
