"""The webhook channel: versioned JSON body, Standard Webhooks signature, status mapping."""

from __future__ import annotations

import base64
import hashlib
import hmac
import time
from collections.abc import Iterator
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import pytest
from alertdata import alert, hostile, item
from receivers import HANG, HttpReceiver, Received, Reply

from monitor.channels import make_channel
from monitor.channels.http import retry_after
from monitor.channels.webhook import sign
from monitor.errors import Rejected, RetryLater


@pytest.fixture
def http_receiver() -> Iterator[HttpReceiver]:
    """A running loopback receiver, stopped after the test."""
    with HttpReceiver() as receiver:
        yield receiver


SECRET = "whsec_MfKQ9r8GKYqrTwjUPD8ILPZIo2LaLaSw"


def webhook(receiver: HttpReceiver, **options: Any) -> Any:
    """A webhook channel posting to the receiver with the test secret."""
    return make_channel(
        "ops-hook",
        "webhook",
        {"url": f"{receiver.url}/hook?token=SECRETTOKEN", "secret": SECRET, **options},
        None,
    )


def reference_verify(secret: str, request: Received) -> bool:
    """Standard Webhooks verification written from the spec, independently of monitor's sign()."""
    key = base64.b64decode(secret.split("_", 1)[1])
    msg_id, stamp = request.headers["webhook-id"], request.headers["webhook-timestamp"]
    content = f"{msg_id}.{stamp}.".encode() + request.body
    expected = base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()
    given = [
        part.split(",", 1)[1]
        for part in request.headers["webhook-signature"].split(" ")
        if part.startswith("v1,")
    ]
    fresh = abs(time.time() - int(stamp)) < 300
    return fresh and any(hmac.compare_digest(expected, sig) for sig in given)


def test_sign_matches_the_published_test_vector() -> None:
    """sign() reproduces the Standard Webhooks specification's example signature exactly."""
    signature = sign(SECRET, "msg_p5jXN8AQM9LWM0D4loKWxJek", 1614265330, '{"test": 2432232314}')
    assert signature == "v1,g0hM9SsE+OTPJTGt/tmIKtSyZlE3uFJELVlNIOLJ1OE="


def test_posts_versioned_signed_json(http_receiver: HttpReceiver) -> None:
    """The body follows schema version 1 and the signature verifies with the reference algorithm."""
    webhook(http_receiver, headers={"X-Team": "news"}).send(alert())
    (request,) = http_receiver.wait_for(1)
    assert request.path == "/hook?token=SECRETTOKEN"
    assert request.headers["content-type"] == "application/json" and request.headers["x-team"] == "news"
    assert request.headers["webhook-id"] == "dlv-42"
    assert reference_verify(SECRET, request)
    body = request.json()
    assert {k: body[k] for k in ("type", "version", "id", "rule", "kind")} == {
        "type": "monitor.alert", "version": 1, "id": "dlv-42", "rule": "uk-military", "kind": "match",
    }  # fmt: skip
    assert (
        body["item"]
        == body["items"][0]
        == {
            "id": "item-1",
            "title": "UK military meeting 1",
            "link": "https://news.example.org/story/1?a=1&b=2",
            "feed": "world-news",
            "published": "2026-11-25T03:00:00Z",
            "matched_terms": ["UK", "military"],
            "snippet": "On Thursday the UK military met in London.",
            "highlights": [[16, 18], [19, 27]],
        }
    )


def test_tampered_body_does_not_verify(http_receiver: HttpReceiver) -> None:
    """The signature covers the body: a changed byte fails verification."""
    webhook(http_receiver).send(alert())
    request = http_receiver.wait_for(1)[0]
    forged = Received(request.method, request.path, request.headers, request.body.replace(b"UK", b"US"))
    assert not reference_verify(SECRET, forged)


def test_webhook_id_is_stable_across_resends(http_receiver: HttpReceiver) -> None:
    """A re-send after a failure keeps webhook-id, so the receiver can drop the copy."""
    http_receiver.script(503, 200)
    channel = webhook(http_receiver)
    with pytest.raises(RetryLater):
        channel.send(alert())
    channel.send(alert())
    first, second = http_receiver.wait_for(2)
    assert first.headers["webhook-id"] == second.headers["webhook-id"] == "dlv-42"
    assert reference_verify(SECRET, second)


def test_digest_lists_items(http_receiver: HttpReceiver) -> None:
    """A digest carries every item; `item` is the first."""
    webhook(http_receiver).send(alert(item(1), item(2), item(3)))
    body = http_receiver.wait_for(1)[0].json()
    assert body["kind"] == "digest" and [i["id"] for i in body["items"]] == ["item-1", "item-2", "item-3"]
    assert body["item"]["id"] == "item-1"


def test_hostile_text_is_clean_data(http_receiver: HttpReceiver) -> None:
    """A javascript: link becomes null; control characters and newlines are gone from the text."""
    webhook(http_receiver).send(hostile())
    body = http_receiver.wait_for(1)[0].json()
    assert body["item"]["link"] is None
    assert "\n" not in body["item"]["title"] and "\x1b" not in body["item"]["snippet"]


def test_no_secret_no_signature(http_receiver: HttpReceiver) -> None:
    """Without a secret the POST carries webhook-id and timestamp but no signature."""
    make_channel("h", "webhook", {"url": f"{http_receiver.url}/h"}, None).send(alert())
    headers = http_receiver.wait_for(1)[0].headers
    assert "webhook-signature" not in headers and headers["webhook-id"] == "dlv-42"


@pytest.mark.parametrize(
    ("reply", "error", "after"),
    [
        (Reply(500), RetryLater, None),
        (Reply(503, {"Retry-After": "5"}), RetryLater, 5.0),
        (Reply(429, {"Retry-After": "2"}), RetryLater, 2.0),
        (Reply(401), Rejected, None),
        (Reply(410), Rejected, None),
    ],
)
def test_status_mapping(
    http_receiver: HttpReceiver, reply: Reply, error: type[Exception], after: float | None
) -> None:
    """5xx/429 retry (after Retry-After), 4xx are permanent; neither message holds the URL or secret."""
    http_receiver.script(reply)
    with pytest.raises(error) as caught:
        webhook(http_receiver).send(alert())
    message = str(caught.value)
    assert "SECRETTOKEN" not in message and http_receiver.url not in message and SECRET not in message
    if isinstance(caught.value, RetryLater):
        assert caught.value.after == after


def test_hang_is_retry_later(http_receiver: HttpReceiver) -> None:
    """A receiver that never answers is RetryLater after the channel's timeout."""
    http_receiver.script(HANG)
    started = time.monotonic()
    with pytest.raises(RetryLater, match="timed out"):
        webhook(http_receiver, timeout=0.3).send(alert())
    assert time.monotonic() - started < 5


def test_documented_verifier_accepts_real_requests(http_receiver: HttpReceiver) -> None:
    """The verification code in docs/webhooks.md accepts what the channel sends, and rejects tampering."""
    doc = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text()
    code = doc.split("## Verifying (Python)", 1)[1].split("```python\n", 1)[1].split("```", 1)[0]
    namespace: dict[str, Any] = {}
    exec(code, namespace)
    webhook(http_receiver).send(alert())
    request = http_receiver.wait_for(1)[0]
    assert namespace["verify"](SECRET, request.headers, request.body)
    assert not namespace["verify"](SECRET, request.headers, request.body + b" ")


def test_documented_schema_lists_every_field(http_receiver: HttpReceiver) -> None:
    """Every field the channel sends is documented in docs/webhooks.md."""
    doc = (Path(__file__).parent.parent / "docs" / "webhooks.md").read_text()
    webhook(http_receiver).send(alert())
    body = http_receiver.wait_for(1)[0].json()
    for name in [*body, *body["item"]]:
        assert f"| `{name}` |" in doc, name


@pytest.mark.parametrize(
    ("header", "seconds"),
    [
        ("2", 2.0),
        ("0", 0.0),
        ("Wed, 25 Nov 2026 03:01:00 GMT", 60.0),
        ("Wed, 25 Nov 2026 02:00:00 GMT", 0.0),
        ("999999999", 86400.0),
        ("soon", None),
        ("-5", None),
        ("", None),
        (None, None),
    ],
)
def test_retry_after_parsing(header: str | None, seconds: float | None) -> None:
    """Retry-After as seconds or an HTTP date; nonsense is ignored, and a day is the most a server gets."""
    now = datetime(2026, 11, 25, 3, 0, tzinfo=UTC).timestamp()
    assert retry_after(header, now) == seconds


def test_an_unpadded_base64_secret_signs_as_its_padded_form() -> None:
    """Standard Webhooks libraries accept secrets without '=' padding; so does monitor."""
    padded = "whsec_" + base64.b64encode(b"seventeen bytes!!").decode()  # 17 bytes: one '=' of padding
    assert padded.endswith("=")
    unpadded = padded.rstrip("=")
    assert sign(unpadded, "msg_1", 1614265330, b"{}") == sign(padded, "msg_1", 1614265330, b"{}")
    assert make_channel("h", "webhook", {"url": "https://example.org/h", "secret": unpadded}, None)
