"""`monitor alerts test CHANNEL`: on every channel the message says it is a test, in its subject or header."""

from __future__ import annotations

import pytest
from conftest import Project
from receivers import HttpReceiver, SmtpReceiver

from monitor.config import load_config
from monitor.redeliver import send_test

CHANNELS = """\
channels:
  console: {type: console}
  slack: {type: slack, webhook_url: "${SLACK}", min_interval: 0}
  email: {type: email, to: [desk@example.org], from: monitor@example.org, smtp: "${SMTP}"}
  hook: {type: webhook, url: "${HOOK}"}
  ap: {type: apprise, url: "${APPRISE}"}
"""


def test_every_channel_labels_its_test_alert(project: Project, capsys: pytest.CaptureFixture[str]) -> None:
    with HttpReceiver() as http, SmtpReceiver() as smtp:
        project.write("rules/watch.yaml", "feeds: []\n")
        project.write("alerts/channels.yaml", CHANNELS)
        base = http.url.removeprefix("http://")
        env = {**project.env, "SLACK": f"{http.url}/slack", "SMTP": smtp.url, "HOOK": f"{http.url}/hook"}
        env["APPRISE"] = f"json://{base}/apprise"
        config = load_config(project.root / "rules", project.root / "alerts" / "channels.yaml", env)
        for name in ("console", "slack", "email", "hook", "ap"):
            send_test(config, name)
        by_path = {r.path: r.json() for r in http.wait_for(3)}
        subject = str(smtp.wait_for(1)[0].message["Subject"]).strip()  # a long subject is folded
    assert capsys.readouterr().out.startswith("== Test alert from monitor")
    slack = by_path["/slack"]
    assert slack["blocks"][0]["text"]["text"].startswith("Test alert: ") and slack["text"].startswith(
        "Test alert"
    )
    assert subject.startswith("[monitor] Test alert: ")
    assert by_path["/hook"]["kind"] == "test"
    assert by_path["/apprise"]["title"].startswith("Test alert: ")
