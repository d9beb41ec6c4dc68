"""The first real hour, as a user lives it: console alerts, then Slack and email, then knowing why.

Each test runs `monitor run` as a subprocess against loopback feeds, a loopback Slack receiver and aiosmtpd.
"""

from __future__ import annotations

import json
import signal
from typing import Any

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from receivers import HttpReceiver, SmtpReceiver
from waiting import wait_until

pytestmark = pytest.mark.slow

SECRET_VARS = ("SLACK_WEBHOOK_URL", "SLACK_WEBHOOK_URL_FILE", "SMTP_URL", "WEBHOOK_URL", "WEBHOOK_SECRET")
SAMPLE_STORY = "coalition of the willing"  # the sample article's title says it

SEED = It(
    "Starmer: coalition of the willing plans",
    "Our militaries will meet this Thursday in the UK to establish strong and enforceable plans.",
    link="https://news.example.org/a/1",
)
LATER = It(
    "Defence chiefs convene",
    "British military chiefs are meeting on Thursday in London.",
    link="https://news.example.org/a/3",
)
THIRD = It(
    "Generals gather in Britain",
    "UK military leaders hold a meeting on Thursday.",
    link="https://news.example.org/a/5",
)


@pytest.fixture
def user(project: Project) -> Project:
    """A project whose environment has none of the channels' variables (a new shell)."""
    for name in SECRET_VARS:
        project.env.pop(name, None)
    return project


def json_lines(project: Project, *args: str) -> list[dict[str, Any]]:
    result = project.cli(*args, "--json")
    assert result.returncode == 0, result.stderr
    return [json.loads(line) for line in result.stdout.splitlines() if line.strip()]


def slack_texts(slack: HttpReceiver) -> list[str]:
    return [json.dumps(r.json(), ensure_ascii=False) for r in slack.requests]


def test_the_readme_walk_through_sends_the_seed_alert_to_slack_and_email(user: Project) -> None:
    """README, "To get the sample alert on Slack and by email", followed step by step after the first run."""
    user.copy_sample()
    first = user.start()  # the first command of the README: the console alert
    wait_until(
        lambda: "uk-military-meeting" in user.log(stream="stdout"), timeout=60, message="console alert"
    )
    assert user.stop(first, signal.SIGINT) == 0

    with HttpReceiver() as slack, SmtpReceiver() as smtp:
        # 1. the secrets go into .env in the working folder
        user.write(".env", f"SLACK_WEBHOOK_URL={slack.url}/services/T0/B0/x\nSMTP_URL={smtp.url}\n")
        # 2. uncomment slack-news and email-desk in alerts/channels.yaml
        channels = user.root / "alerts" / "channels.yaml"
        text = channels.read_text()
        text = text.replace("  # slack-news:", "  slack-news:").replace("  # email-desk:", "  email-desk:")
        channels.write_text(text)
        # 3. in rules/watch.yaml, the commented `alert:` line of the rule replaces the one above it
        rules = user.root / "rules" / "watch.yaml"
        lines = rules.read_text().splitlines(keepends=True)
        at = next(i for i, line in enumerate(lines) if "# alert: [console, slack-news, email-desk]" in line)
        assert lines[at - 1].strip().startswith("alert: [console]")
        lines[at - 1 : at + 1] = [lines[at].replace("# alert:", "alert:", 1)]
        rules.write_text("".join(lines))
        # 4. monitor check, monitor alerts test slack-news
        check = user.cli("check")
        assert check.returncode == 0 and check.stdout.startswith("ok:"), check.stdout + check.stderr
        assert user.cli("alerts", "test", "slack-news").returncode == 0
        slack.wait_for(1, timeout=30)
        # 5. monitor run: the story the console already showed goes to the two new channels, once
        second = user.start()
        slack.wait_for(2, timeout=60)
        [mail] = smtp.wait_for(1, timeout=60)
        sent = wait_until(
            lambda: [d for d in json_lines(user, "deliveries") if d["status"] == "sent"],
            timeout=30,
            message="deliveries recorded as sent",
        )
        assert user.stop(second) == 0

    assert sum(SAMPLE_STORY in text for text in slack_texts(slack)) == 1
    assert SAMPLE_STORY in mail.message["Subject"]
    assert "uk-military-meeting" not in user.log(stream="stdout")  # the console did not get it twice
    assert {d["channel"] for d in sent if d["rule"] == "uk-military-meeting"} >= {"slack-news", "email-desk"}
    assert slack.url not in user.log() and slack.url not in user.cli("events", "--json").stdout


def test_a_channel_and_its_secret_added_while_the_daemon_runs_get_the_recent_match_once(
    user: Project,
) -> None:
    with FeedServer() as feeds, HttpReceiver() as slack:
        feeds.feed("/world.xml", rss(SEED))
        rules = (
            "feeds:\n  - {{name: world, url: '{url}', every: 1s, backfill: true}}\n"
            "aliases:\n  UK: [UK, Britain, British]\n"
            "rules:\n  - name: uk-military-meeting\n    match: Thursday UK military meeting\n"
            "    alert: [{alert}]\n"
        )
        user.write("rules/watch.yaml", rules.format(url=feeds.url("/world.xml"), alert="console"))
        user.write("alerts/channels.yaml", "channels:\n  console: {type: console}\n")
        daemon = user.start()
        wait_until(lambda: SEED.title in user.log(stream="stdout"), timeout=60, message="console alert")

        # the channel first, without its secret: refused, saying which variable, where, and how
        user.write(
            "alerts/channels.yaml",
            "channels:\n  console: {type: console}\n"
            "  slack: {type: slack, webhook_url: '${SLACK_WEBHOOK_URL}', min_interval: 0}\n",
        )
        [refused] = wait_until(
            lambda: json_lines(user, "events", "--kind", "reload_failed"), timeout=30, message="reload_failed"
        )
        assert "alerts/channels.yaml:3:" in refused["message"]
        assert "'SLACK_WEBHOOK_URL' is not set" in refused["message"] and ".env" in refused["message"]

        # then the secret, as a file named by SLACK_WEBHOOK_URL_FILE in .env, and the channel on the rule
        secret = user.write("slack.secret", f"{slack.url}/services/T0/B0/secret\n")
        user.write(".env", f"SLACK_WEBHOOK_URL_FILE={secret}\n")
        wait_until(
            lambda: any(
                "channels: added slack" in e["message"]
                for e in json_lines(user, "events", "--kind", "reload")
            ),
            timeout=30,
            message="the reload that adds the channel",
        )
        user.write("rules/watch.yaml", rules.format(url=feeds.url("/world.xml"), alert="console, slack"))
        [post] = slack.wait_for(1, timeout=60)
        assert SEED.title in json.dumps(post.json())

        # more polls and another reload send nothing again, to either channel
        user.write("rules/watch.yaml", rules.format(url=feeds.url("/world.xml"), alert="slack, console"))
        wait_until(
            lambda: len(json_lines(user, "events", "--kind", "reload")) >= 3, timeout=30, message="reload"
        )
        polls = len(feeds.requests("/world.xml"))
        wait_until(lambda: len(feeds.requests("/world.xml")) >= polls + 3, timeout=30, message="more polls")
        assert user.stop(daemon) == 0

    assert len(slack.requests) == 1
    assert user.log(stream="stdout").count(SEED.title) == 1
    events = user.cli("events", "--json").stdout
    assert slack.url not in user.log() and slack.url not in events


def test_matches_mute_unmute_and_enabled_false_across_a_restart(user: Project) -> None:
    with FeedServer() as feeds, HttpReceiver() as slack:
        feeds.feed("/world.xml", rss(SEED))
        feeds.feed("/off.xml", rss(SEED))
        user.write(
            "rules/watch.yaml",
            f"""\
            feeds:
              - {{name: world, url: '{feeds.url("/world.xml")}', every: 1s, backfill: true}}
              - {{name: off, url: '{feeds.url("/off.xml")}', every: 1s, backfill: true, enabled: false}}
            aliases:
              UK: [UK, Britain, British]
            rules:
              - name: watch
                match: Thursday UK military meeting
                alert: [slack]
              - name: paused
                match: Thursday UK military meeting
                alert: [slack, spare]
                enabled: false
            """,
        )
        user.write(
            "alerts/channels.yaml",
            f"channels:\n  slack: {{type: slack, webhook_url: '{slack.url}', min_interval: 0}}\n"
            "  spare: {type: console, enabled: false}\n",
        )
        assert user.cli("check").returncode == 0
        daemon = user.start()
        slack.wait_for(1, timeout=60)
        [seen] = wait_until(
            lambda: [
                m
                for m in json_lines(user, "matches")
                if m["deliveries"] == [{"channel": "slack", "status": "sent"}]
            ],
            timeout=30,
            message="the match, delivered",
        )
        assert (seen["rule"], seen["title"], seen["link"], seen["feed"]) == (
            "watch",
            SEED.title,
            SEED.link,
            "world",
        )
        assert seen["matched_at"].endswith("Z") and seen["published"].endswith("Z") and not seen["muted"]
        assert {"Thursday", "UK", "militaries", "meet"} <= set(seen["matched_terms"])
        [event] = [e for e in json_lines(user, "events", "--kind", "match")]
        assert event["data"]["title"] == SEED.title and event["data"]["link"] == SEED.link

        assert user.cli("mute", "watch").returncode == 0
        assert user.stop(daemon) == 0
        daemon = user.start()  # the mute is in the database: it holds after a restart
        feeds.feed("/world.xml", rss(LATER, SEED))
        muted = wait_until(
            lambda: [m for m in json_lines(user, "matches", "--rule", "watch") if m["title"] == LATER.title],
            timeout=60,
            message="the match made while muted",
        )
        assert muted[0]["muted"] is True and muted[0]["deliveries"] == []
        rules = {r["name"]: r for r in json_lines(user, "rules")}
        assert rules["watch"]["muted"] and rules["watch"]["matches_24h"] == 2
        assert not rules["paused"]["enabled"] and rules["paused"]["matches_24h"] == 0
        assert rules["paused"]["disabled_channels"] == ["spare"]
        table = user.cli("rules").stdout
        assert "spare (disabled)" in table and table.count("disabled") == 2  # the channel, the rule
        health = {f["name"]: f for f in json_lines(user, "feeds")}
        assert health["off"]["enabled"] is False and health["world"]["enabled"] is True

        assert user.cli("unmute", "watch").returncode == 0
        feeds.feed("/world.xml", rss(THIRD, LATER, SEED))
        slack.wait_for(2, timeout=60)
        polls = len(feeds.requests("/world.xml"))
        wait_until(lambda: len(feeds.requests("/world.xml")) >= polls + 3, timeout=30, message="more polls")
        assert user.stop(daemon) == 0
        assert feeds.requests("/off.xml") == []  # a disabled feed is never polled

    texts = slack_texts(slack)
    assert len(texts) == 2 and THIRD.title in texts[1]
    assert not any(LATER.title in text for text in texts)  # muted: never delivered later
    assert user.cli("unmute", "watch").returncode == 1  # not muted any more


def test_the_tables_are_readable_in_80_columns(user: Project) -> None:
    user.copy_sample()
    assert user.cli("run", "--once").returncode == 0
    user.env["COLUMNS"] = "80"
    for command in ("feeds", "matches", "deliveries", "events", "rules"):
        result = user.cli(command)
        assert result.returncode == 0, result.stderr
        wide = [line for line in result.stdout.splitlines() if len(line.rstrip()) > 80]
        assert not wide, (command, wide)
        assert "…" not in result.stdout, command  # wrapped, not cut
    matches = user.cli("matches").stdout
    assert "https://news.example.org/world/uk-coalition-of-the-willing" in matches


def test_read_only_commands_see_dot_env_like_the_daemon(user: Project) -> None:
    user.copy_sample()
    channels = user.root / "alerts" / "channels.yaml"
    channels.write_text(channels.read_text().replace("  # slack-news:", "  slack-news:"))
    assert user.cli("check").returncode == 1  # the variable is nowhere yet
    user.write(".env", "SLACK_WEBHOOK_URL=https://hooks.example.org/services/x\n")
    assert user.cli("check").returncode == 0
    assert "not configured" not in user.cli("feeds").stdout
    found = user.cli("try", "Thursday UK military meeting", "--feed", "sample")
    assert found.returncode == 0 and "1 hit(s)" in found.stdout, found.stdout + found.stderr
