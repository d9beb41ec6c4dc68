"""`monitor run` as a user runs it: real feeds over HTTP, real Slack/webhook receivers, real SMTP."""

from __future__ import annotations

import json
import signal

import pytest
from feeds import It, rss
from feedserver import FeedServer
from receivers import HttpReceiver, SmtpReceiver
from waiting import wait_until

pytestmark = pytest.mark.slow

SEED = It(
    "Starmer: coalition of the willing plans",
    "Our militaries will meet this Thursday in the UK to establish strong and enforceable plans.",
    link="https://news.example.org/a/1",
)
OTHER = It(
    "UK weather forecast for Thursday", "Rain in Britain on Thursday.", link="https://news.example.org/a/2"
)
LATER = It(
    "Defence chiefs convene",
    "British military chiefs are meeting on Thursday in London.",
    link="https://news.example.org/a/3",
)
NOISE = It("Ukraine talks", "Ukrainian military meeting on Thursday", link="https://news.example.org/a/4")

RULES = """\
feeds:
  - name: world
    url: {url}
    every: 1s
    backfill: true
aliases:
  UK: [UK, Britain, British, "United Kingdom"]
rules:
  - name: uk-military-meeting
    match: Thursday UK military meeting
    alert: [slack, mail, hook]
"""
CHANNELS = """\
channels:
  slack: {type: slack, webhook_url: "${SLACK_WEBHOOK_URL}", min_interval: 0}
  mail: {type: email, to: [desk@example.org], from: monitor@example.org, smtp: "${SMTP_URL}"}
  hook: {type: webhook, url: "${WEBHOOK_URL}", secret: "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"}
"""


def test_each_match_alerts_each_channel_once_across_restarts(project) -> None:  # type: ignore[no-untyped-def]
    with FeedServer() as feeds, HttpReceiver() as slack, HttpReceiver() as hook, SmtpReceiver() as smtp:
        feeds.feed("/world.xml", rss(SEED, OTHER, NOISE))
        project.write("rules/watch.yaml", RULES.format(url=feeds.url("/world.xml")))
        project.write("alerts/channels.yaml", CHANNELS)
        project.env |= {"SLACK_WEBHOOK_URL": slack.url, "WEBHOOK_URL": hook.url, "SMTP_URL": smtp.url}

        daemon = project.start()
        slack.wait_for(1, timeout=30), hook.wait_for(1, timeout=30), smtp.wait_for(1, timeout=30)
        feeds.feed("/world.xml", rss(LATER, SEED, OTHER, NOISE))  # the feed changes between polls
        slack.wait_for(2, timeout=30), hook.wait_for(2, timeout=30), smtp.wait_for(2, timeout=30)
        polls = len(feeds.requests("/world.xml"))
        wait_until(
            lambda: len(feeds.requests("/world.xml")) >= polls + 2, timeout=20, message="two more polls"
        )
        assert project.stop(daemon) == 0

        daemon = project.start()  # a restart sends nothing again
        polls = len(feeds.requests("/world.xml"))
        wait_until(
            lambda: len(feeds.requests("/world.xml")) >= polls + 2, timeout=30, message="polls after restart"
        )
        assert project.stop(daemon) == 0

        titles = [r.json()["item"]["title"] for r in hook.requests]
        assert sorted(titles) == sorted([SEED.title, LATER.title])
        assert len({r.headers["webhook-id"] for r in hook.requests}) == 2
        slack_text = [json.dumps(r.json()) for r in slack.requests]
        assert len(slack_text) == 2 and not any(NOISE.title in t or OTHER.title in t for t in slack_text)
        subjects = sorted(m.message["Subject"] for m in smtp.mails)
        assert (
            len(subjects) == 2
            and any(SEED.title in s for s in subjects)
            and any(LATER.title in s for s in subjects)
        )


def test_sigterm_exits_zero_and_bad_config_refuses_to_start(project) -> None:  # type: ignore[no-untyped-def]
    project.copy_sample()
    daemon = project.start()
    wait_until(
        lambda: "uk-military-meeting" in project.log(stream="stdout"), timeout=30, message="console alert"
    )
    assert project.stop(daemon, signal.SIGINT) == 0
    project.write("rules/broken.yaml", "rules:\n  - name: x\n    match: 'a AND (b'\n")
    result = project.cli("run", "--once")
    assert result.returncode == 1
    assert "rules/broken.yaml:3:" in result.stderr


HOSTILE = (
    '<?xml version="1.0"?><rss version="2.0"><channel><title>t</title><item>'
    "<title>&lt;!channel&gt; @here UK military meeting Thursday &lt;https://evil.example|click&gt;"
    "&#10;Bcc: victim@example.org</title>"
    "<link>javascript:alert(1)</link><guid>h1</guid>"
    "<description>Our militaries will meet this Thursday in the UK &lt;!here&gt;</description>"
    "</item></channel></rss>"
)


def test_hostile_feed_text_cannot_ping_forge_links_or_add_headers(project) -> None:  # type: ignore[no-untyped-def]
    with FeedServer() as feeds, HttpReceiver() as slack, HttpReceiver() as hook, SmtpReceiver() as smtp:
        feeds.feed("/world.xml", HOSTILE.encode())
        project.write("rules/watch.yaml", RULES.format(url=feeds.url("/world.xml")))
        project.write("alerts/channels.yaml", CHANNELS)
        project.env |= {"SLACK_WEBHOOK_URL": slack.url, "WEBHOOK_URL": hook.url, "SMTP_URL": smtp.url}
        result = project.cli("run", "--once")
        assert result.returncode == 0, result.stderr
        [slack_post], [hook_post], [mail] = slack.wait_for(1), hook.wait_for(1), smtp.wait_for(1)

    slack_json = slack_post.body.decode()
    for forged in ("<!channel>", "<!here>", "@here", "<https://evil.example|click>", "javascript:"):
        assert forged not in slack_json, forged
    item = hook_post.json()["item"]
    assert item["link"] is None and "javascript" not in hook_post.body.decode()
    message = mail.message
    assert message.get_all("Bcc") is None and mail.rcpt_tos == ["desk@example.org"]
    assert "\n" not in message["Subject"] and b"javascript:" not in mail.raw


def test_sample_alerts_offline_even_beside_an_unreachable_feed(project) -> None:  # type: ignore[no-untyped-def]
    project.copy_sample()
    rules = project.root / "rules" / "watch.yaml"
    rules.write_text(
        rules.read_text().replace(
            "feeds:\n",
            "feeds:\n  - {name: unreachable, url: 'http://127.0.0.1:9/rss.xml', tags: [news]}\n",
            1,
        )
    )
    result = project.cli("run", "--once")
    assert result.returncode == 0, result.stderr
    assert "[uk-military-meeting] UK PM says" in result.stdout
    feeds = project.cli("feeds", "--json")
    health = {row["name"]: row for row in map(json.loads, feeds.stdout.splitlines())}
    assert health["unreachable"]["status"] == "failing" and health["sample"]["status"] == "ok"
