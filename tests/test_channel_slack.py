"""The Slack channel against a loopback receiver: Block Kit payload, escaping, limits, status mapping."""

from __future__ import annotations

import json
from collections.abc import Iterator
from typing import Any

import pytest
from alertdata import alert, hostile, item
from receivers import HANG, HttpReceiver, Reply

from monitor.channels import make_channel
from monitor.errors import Rejected, RetryLater


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A running loopback receiver, stopped after the test."""
    with HttpReceiver() as receiver:
        yield receiver


def slack(receiver: HttpReceiver, **options: Any) -> Any:
    """A Slack channel posting to the receiver under a secret-looking path."""
    url = f"{receiver.url}/services/T000/B000/SECRETTOKEN"
    return make_channel("slack-news", "slack", {"webhook_url": url, **options}, None)


def all_text(payload: dict[str, Any]) -> str:
    """Every piece of text Slack would parse in a payload."""
    return json.dumps(payload, ensure_ascii=False)


def test_sends_block_kit_message(http_receiver: HttpReceiver) -> None:
    """One POST of JSON with a header and a section linking the item and quoting the highlighted snippet."""
    slack(http_receiver).send(alert())
    (request,) = http_receiver.wait_for(1)
    assert request.path == "/services/T000/B000/SECRETTOKEN"
    assert request.headers["content-type"].startswith("application/json")
    payload = request.json()
    header, context, section = payload["blocks"]
    assert header["type"] == "header" and header["text"]["text"] == "UK military meeting 1"
    assert context["type"] == "context"
    assert context["elements"][0]["text"] == "rule *uk-military* · feed *world-news*"
    text = section["text"]["text"]
    assert section["text"]["type"] == "mrkdwn"
    assert "<https://news.example.org/story/1?a=1&amp;b=2|UK military meeting 1>" in text
    assert "world-news" in text and "2026-11-25" in text
    assert "*UK*" in text and "*military*" in text
    assert payload["text"] == "UK military meeting 1"  # what the phone's notification shows


def test_a_digest_notification_names_the_count_and_the_newest_headline(http_receiver: HttpReceiver) -> None:
    slack(http_receiver).send(alert(item(1, title="Newest story"), item(2), item(3)))
    payload = http_receiver.wait_for(1)[0].json()
    assert payload["text"] == "uk-military: 3 new items: Newest story"
    assert payload["blocks"][0]["text"]["text"] == "uk-military: 3 new items"
    assert payload["blocks"][1]["elements"][0]["text"] == "rule *uk-military* · 3 items from world-news"


def test_a_hostile_headline_in_the_notification_text_is_escaped(http_receiver: HttpReceiver) -> None:
    slack(http_receiver).send(hostile())
    text = http_receiver.wait_for(1)[0].json()["text"]
    assert text.startswith("Breaking ‹!channel›") and "<" not in text and "@here" not in text


def test_hostile_text_cannot_ping_or_forge(http_receiver: HttpReceiver) -> None:
    """<!channel>, @here, forged <url|text> links and a javascript: link all arrive inert."""
    slack(http_receiver).send(hostile())
    payload = http_receiver.wait_for(1)[0].json()
    text = all_text(payload)
    for forbidden in (
        "<!channel>",
        "<!here>",
        "<https://evil",
        "@here",
        "@everyone",
        "@channel",
        "javascript:",
    ):
        assert forbidden not in text
    section = payload["blocks"][2]["text"]["text"]
    assert "&lt;!channel&gt;" in section and "&lt;https://evil.example|click&gt;" in section
    assert "Bcc: victim@\u200dexample.org" in section  # the newline is gone: one title line
    assert "<" not in section.split("\n", 1)[0]  # no link at all for a javascript: URL
    assert "\x1b" not in text and "*now*" not in text


def test_digest_truncated_at_50_blocks(http_receiver: HttpReceiver) -> None:
    """A digest of 60 items shows 47, then a note saying how many more there are: 50 blocks in all."""
    slack(http_receiver).send(alert(*(item(n) for n in range(1, 61))))
    blocks = http_receiver.wait_for(1)[0].json()["blocks"]
    assert len(blocks) == 50
    assert sum(block["type"] == "section" for block in blocks) == 47
    assert blocks[-1]["elements"][0]["text"] == "… and 13 more items"


def test_long_text_truncated_at_3000_chars(http_receiver: HttpReceiver) -> None:
    """A huge snippet is cut to fit Slack's 3,000-character limit per text field, ending with an ellipsis."""
    long = "&<>" * 2000  # every character expands when escaped
    slack(http_receiver).send(alert(item(1, title="T" * 5000, snippet=long)))
    blocks = http_receiver.wait_for(1)[0].json()["blocks"]
    text = blocks[2]["text"]["text"]
    assert len(text) <= 3000 and text.endswith("…")
    assert len(blocks[0]["text"]["text"]) <= 150


@pytest.mark.parametrize(
    ("reply", "error", "after"),
    [
        (Reply(500), RetryLater, None),
        (Reply(503, {"Retry-After": "7"}), RetryLater, 7.0),
        (Reply(429, {"Retry-After": "2"}), RetryLater, 2.0),
        (Reply(400, body=b"invalid_payload"), Rejected, None),
        (Reply(403), Rejected, None),
        (Reply(404, body=b"no_service"), Rejected, None),
        (Reply(410, body=b"channel_is_archived"), Rejected, None),
    ],
)
def test_status_mapping(
    http_receiver: HttpReceiver, reply: Reply, error: type[Exception], after: float | None
) -> None:
    """5xx and 429 are worth retrying (after Retry-After); 4xx are permanent. The URL is never in the message."""
    http_receiver.script(reply)
    with pytest.raises(error) as caught:
        slack(http_receiver).send(alert())
    assert "SECRETTOKEN" not in str(caught.value) and http_receiver.url not in str(caught.value)
    assert f"HTTP {reply.status}" in str(caught.value)
    if isinstance(caught.value, RetryLater):
        assert caught.value.after == after


def test_retry_then_success(http_receiver: HttpReceiver) -> None:
    """After a 500 the same alert goes through on the next attempt."""
    http_receiver.script(500, 200)
    channel = slack(http_receiver)
    with pytest.raises(RetryLater):
        channel.send(alert())
    channel.send(alert())
    first, second = http_receiver.wait_for(2)
    assert first.body == second.body


def test_hang_is_retry_later(http_receiver: HttpReceiver) -> None:
    """A receiver that never answers costs the timeout and is RetryLater, without the URL."""
    http_receiver.script(HANG)
    with pytest.raises(RetryLater, match="timed out") as caught:
        slack(http_receiver, timeout=0.3).send(alert())
    assert "SECRETTOKEN" not in str(caught.value)


def test_connection_refused_is_retry_later() -> None:
    """Nobody listening is transient; the message names the channel, not the URL."""
    with HttpReceiver() as gone:
        url = gone.url
    channel = make_channel("slack-news", "slack", {"webhook_url": f"{url}/services/SECRETTOKEN"}, None)
    with pytest.raises(RetryLater) as caught:
        channel.send(alert())
    assert "slack-news" in str(caught.value) and "SECRETTOKEN" not in str(caught.value)
