"""Secrets echoed back by receivers and feeds never reach the log, events, deliveries or the CLI.

Real loopback receivers quote the request back in their errors, as careless ones do: a Slack
endpoint answering 404 with a long body that quotes the path, a webhook quoting its URL-decoded
path, one quoting the `Authorization: Bearer ${VAR}` header on a 401; and a private feed whose
expired token gets an HTML login page. Every place a user or an operator reads is searched for
every form of every secret.
"""

from __future__ import annotations

import base64
import json
import sqlite3
from collections.abc import Iterator
from urllib.parse import quote

import pytest
from conftest import Project
from feeds import It, rss
from feedserver import FeedServer
from pydantic import BaseModel, SecretStr
from receivers import HttpReceiver, Reply

from monitor import scrub

SLACK_TOKEN = "xoxbSlackTok3nAbcdefGHIJ123456"
SLACK_PATH = f"/services/T0SECRET1/B0SECRET2/{SLACK_TOKEN}"
HOOK_SECRET = "p@ss/w0rd+Secret!42"
API_TOKEN = "tok_Bearer_S3cret_value_9876"
FEED_USER, FEED_PASSWORD, FEED_TOKEN = "reader", "Pa55w0rd_feed", "FeedTok3n_abcdef123"
SESSION = "SessTok_redirected_42"  # in the URL a feed redirects to: never in the configuration
# The receiver's answer starts with this much text, so a cut at 200 characters falls inside the token.
SLACK_PADDING = "no_service " + "." * 146


def forbidden() -> list[str]:
    """Every secret, and the pieces of them that must not show either."""
    basic = base64.b64encode(f"{FEED_USER}:{FEED_PASSWORD}".encode()).decode()
    return [
        SLACK_TOKEN[:6],
        "T0SECRET1",
        HOOK_SECRET,
        quote(HOOK_SECRET, safe=""),
        "w0rd",
        API_TOKEN,
        FEED_PASSWORD,
        FEED_TOKEN,
        SESSION,
        basic,
    ]


def assert_clean(where: str, text: str) -> None:
    leaked = [s for s in forbidden() if s.lower() in text.lower()]
    assert not leaked, f"{where} shows {leaked}:\n{text}"


@pytest.fixture
def receivers() -> Iterator[tuple[HttpReceiver, HttpReceiver, HttpReceiver]]:
    with HttpReceiver() as slack, HttpReceiver() as hook, HttpReceiver() as auth:
        yield slack, hook, auth


def configure(
    project: Project, server: FeedServer, slack: HttpReceiver, hook: HttpReceiver, auth: HttpReceiver
) -> None:
    server.feed("/world.xml", rss(It("Troops seen at dawn", link="https://n.example/0")))
    private = f"/private.xml?token={FEED_TOKEN}"
    login = f"<html><body>Session expired for {private}. <a href='/login?next={quote(private)}'>Log in</a>"
    server.status(private, 200, body=login.encode(), headers={"Content-Type": "text/html"})
    server.redirect("/moved.xml", f"/login?session={SESSION}")
    server.status(
        f"/login?session={SESSION}", 200, body=b"<html>log in", headers={"Content-Type": "text/html"}
    )
    feed_url = server.url(private).replace("http://", f"http://{FEED_USER}:{FEED_PASSWORD}@")
    project.write(
        "rules/watch.yaml",
        "feeds:\n"
        f'  - {{name: world, url: "{server.url("/world.xml")}", backfill: true}}\n'
        f'  - {{name: private, url: "{feed_url}", backfill: true}}\n'
        f'  - {{name: moved, url: "{server.url("/moved.xml")}", backfill: true}}\n'
        "rules:\n  - {name: r, match: troops, alert: [slack, hook, auth]}\n",
    )
    project.write(
        "alerts/channels.yaml",
        "channels:\n"
        '  slack: {type: slack, webhook_url: "${SLACK_URL}"}\n'
        '  hook: {type: webhook, url: "${HOOK_URL}"}\n'
        '  auth: {type: webhook, url: "'
        + auth.url
        + '/in", headers: {Authorization: "Bearer ${API_TOKEN}"}}\n',
    )
    project.env |= {
        "SLACK_URL": slack.url + SLACK_PATH,
        "HOOK_URL": hook.url + "/hooks/" + quote(HOOK_SECRET, safe=""),
        "API_TOKEN": API_TOKEN,
    }
    for _ in range(2):  # the run, then `monitor alerts test`
        slack.script(Reply(404, body=SLACK_PADDING.encode(), echo=True))
        hook.script(Reply(400, body=b"bad hook ", echo=True))
        auth.script(Reply(401, body=b"unauthorized ", echo=True))


def test_secrets_echoed_by_receivers_and_feeds_reach_no_log_event_delivery_or_output(
    project: Project, receivers: tuple[HttpReceiver, HttpReceiver, HttpReceiver]
) -> None:
    slack, hook, auth = receivers
    with FeedServer() as server:
        configure(project, server, slack, hook, auth)
        run = project.cli("run", "--once")
        assert run.returncode == 0, run.stderr
        # the receivers did quote the secrets back, so there was something to remove
        assert SLACK_TOKEN in slack.requests[0].path and "Bearer" in auth.requests[0].headers["authorization"]
        assert_clean("the daemon's log", run.stderr + run.stdout)

        events = project.cli("events")
        assert "an HTML page, not a feed" in events.stdout and "HTTP 401" in events.stdout
        assert_clean("monitor events", events.stdout + events.stderr)
        assert_clean("monitor events --json", project.cli("events", "--json").stdout)

        listed = project.cli("deliveries", "--json").stdout
        errors = {row["channel"]: row["last_error"] for row in map(json.loads, listed.splitlines())}
        assert set(errors) == {"slack", "hook", "auth"}
        assert "HTTP 404 no_service" in errors["slack"] and "<redacted>" in errors["auth"]
        assert_clean("monitor deliveries --json", listed)

        with sqlite3.connect(project.root / "data" / "monitor.db") as db:
            stored = db.execute("SELECT last_error FROM delivery").fetchall()
            stored += db.execute("SELECT message || ' ' || data FROM event").fetchall()
            stored += db.execute("SELECT coalesce(reason, '') FROM feedstate").fetchall()
        assert_clean("the database", "\n".join(str(row[0]) for row in stored))

        for channel in ("slack", "hook", "auth"):
            tested = project.cli("alerts", "test", channel)
            assert tested.returncode == 1 and "failed: " in tested.stderr
            assert_clean(f"monitor alerts test {channel}", tested.stdout + tested.stderr)


def test_each_encoding_of_a_secret_is_removed_and_ordinary_words_are_kept() -> None:
    secret = "https://user:pa%24s@hooks.example.org/services/T1/B2/" + "Zz9" * 6 + "?sig=abcdefghijkl0123"
    scrub.remember([secret])
    decoded_password = "pa$s"
    for shown in (
        secret,
        secret.replace("/", "\\/"),  # JSON-escaped
        quote(secret, safe=""),
        quote(secret, safe="").lower(),  # percent-encoding in lower case
        "/services/T1/B2/" + "Zz9" * 6,
        "Zz9" * 6,
        "abcdefghijkl0123",
        base64.b64encode(f"user:{decoded_password}".encode()).decode(),
        base64.b64encode(f"\0user\0{decoded_password}".encode()).decode(),
        decoded_password,  # the password URL-decoded
    ):
        assert scrub.scrub(f"error: {shown} (end)") != f"error: {shown} (end)", shown
    assert scrub.scrub("HTTP 404 no_service json") == "HTTP 404 no_service json"


def test_the_secret_options_of_any_channel_type_are_found() -> None:
    """A plugin channel (apprise, say) marks its secret options SecretStr, at any depth: all are taken."""

    class Inner(BaseModel):
        token: SecretStr

    class PluginOptions(BaseModel):
        urls: list[SecretStr]
        extra: dict[str, Inner]
        title: str = "not a secret"

    options = PluginOptions(
        urls=[SecretStr("tgram://bot123/chat")], extra={"a": Inner(token=SecretStr("t0k3n"))}
    )
    assert scrub.option_secrets(options) == {"tgram://bot123/chat", "t0k3n"}
