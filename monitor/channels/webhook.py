"""The webhook channel: a versioned JSON body signed with Standard Webhooks headers."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from monitor import escaping
from monitor.channels import http, validate
from monitor.channels.base import ChannelOptions, Concurrency
from monitor.records import Alert
from monitor.render import ItemView, alert_view, iso

if TYPE_CHECKING:
    from monitor.render import Renderer

SCHEMA_TYPE = "monitor.alert"
SCHEMA_VERSION = 1
RESERVED_HEADERS = frozenset(
    {"content-type", "content-length", "host", "webhook-id", "webhook-timestamp", "webhook-signature"}
)


def sign(secret: str, msg_id: str, timestamp: int | str, body: str | bytes) -> str:
    """The Standard Webhooks signature `v1,<base64 HMAC-SHA256 of id.timestamp.body>` for a whsec_ secret."""
    payload = body.encode() if isinstance(body, str) else body
    signed = f"{msg_id}.{timestamp}.".encode() + payload
    digest = hmac.new(validate.whsec_key(secret), signed, hashlib.sha256).digest()
    return "v1," + base64.b64encode(digest).decode("ascii")


def item_json(item: ItemView) -> dict[str, Any]:
    """One item as it appears in the webhook body (schema version 1)."""
    return {
        "id": item.id,
        "title": item.title,
        "link": item.link,
        "feed": item.feed,
        "published": item.published_iso,
        "matched_terms": list(item.matched_terms),
        "snippet": item.snippet_text,
        "highlights": [list(span) for span in item.snippet.spans],
    }


def payload(alert: Alert) -> dict[str, Any]:
    """The webhook body (docs/webhooks.md, version 1); `item` is the first item, null if there is none."""
    view = alert_view(alert)
    items = [item_json(item) for item in view.items]
    return {
        "type": SCHEMA_TYPE,
        "version": SCHEMA_VERSION,
        "id": view.id,
        "rule": view.rule,
        "kind": view.kind,
        "created": iso(view.created),
        "item": items[0] if items else None,
        "items": items,
        "extra": dict(view.extra),
    }


class WebhookOptions(ChannelOptions):
    """Options of the webhook channel: URL and whsec_ secret (both secrets), extra headers."""

    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0)
    concurrency: Concurrency = 4

    @field_validator("url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        return validate.http_url(value, "url")

    @field_validator("secret")
    @classmethod
    def _check_secret(cls, value: SecretStr | None) -> SecretStr | None:
        if value is not None:
            validate.whsec_key(value.get_secret_value())
        return value

    @field_validator("headers")
    @classmethod
    def _check_headers(cls, value: dict[str, str]) -> dict[str, str]:
        for name, text in value.items():
            validate.header(name, text)
            if name.lower() in RESERVED_HEADERS:
                raise ValueError(f"header {name!r} is set by monitor itself")
        return value


# Alike by shape with every channel, on purpose: the Channel protocol (base.py), one class per module.
class WebhookChannel:
    """POSTs each alert as JSON (docs/webhooks.md), signed when a secret is set."""

    type: ClassVar[str] = "webhook"
    Options = WebhookOptions

    def __init__(self, name: str, options: WebhookOptions, renderer: Renderer) -> None:
        self.name, self.options, self.renderer = name, options, renderer
        self.http = http.HttpPoster(options.timeout, options.concurrency)

    def close(self) -> None:
        """Close the channel's HTTP client (once its sends in flight end)."""
        self.http.close()

    def send(self, alert: Alert) -> None:
        """POST the alert as JSON with webhook-id, webhook-timestamp and (with a secret) webhook-signature."""
        body = json.dumps(payload(alert), ensure_ascii=False, separators=(",", ":")).encode()
        msg_id, timestamp = escaping.clean_line(alert.id, 200), int(time.time())
        headers = {
            **self.options.headers,
            "content-type": "application/json",
            "webhook-id": msg_id,
            "webhook-timestamp": str(timestamp),
        }
        if self.options.secret is not None:
            headers["webhook-signature"] = sign(
                self.options.secret.get_secret_value(), msg_id, timestamp, body
            )
        url = self.options.url.get_secret_value()
        self.http.post(url, body, headers, f"webhook channel {self.name}")
