"""The Slack channel: a Block Kit message POSTed to an incoming webhook."""

from __future__ import annotations

import json
from typing import TYPE_CHECKING, Any, ClassVar

from pydantic import Field, SecretStr, field_validator

from monitor import escaping
from monitor.channels import http, validate
from monitor.channels.base import ChannelOptions
from monitor.records import Alert
from monitor.render import alert_view

if TYPE_CHECKING:
    from monitor.render import AlertView, Renderer

MAX_BLOCKS = 50
MAX_TEXT = 3000
MAX_HEADER = 150


class SlackOptions(ChannelOptions):
    """Options of the Slack channel: the incoming webhook URL (a secret)."""

    webhook_url: SecretStr
    min_interval: float = Field(default=1.0, ge=0)
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        return validate.http_url(value, "webhook_url")


# Alike by shape with every channel, on purpose: the Channel protocol (base.py), one class per module.
class SlackChannel:
    """Posts each alert as a Block Kit message; feed text can never ping or forge links."""

    type: ClassVar[str] = "slack"
    Options = SlackOptions

    def __init__(self, name: str, options: SlackOptions, renderer: Renderer) -> None:
        self.name, self.options, self.renderer = name, options, renderer
        self.http = http.HttpPoster(options.timeout, options.concurrency)

    def close(self) -> None:
        """Close the channel's HTTP client (once its sends in flight end)."""
        self.http.close()

    def send(self, alert: Alert) -> None:
        """POST the alert's Block Kit message to the incoming webhook."""
        body = json.dumps(self.payload(alert), ensure_ascii=False).encode()
        url = self.options.webhook_url.get_secret_value()
        headers = {"content-type": "application/json; charset=utf-8"}
        self.http.post(url, body, headers, f"slack channel {self.name}")

    def payload(self, alert: Alert) -> dict[str, Any]:
        """The Block Kit message: a header naming the story, a context line naming the rule and feed,
        one section per item, and a note when items were left out. `text` (what a phone's notification
        shows) is the story's headline."""
        view = alert_view(alert)
        header = _plain(self.renderer.render("slack_header.txt.j2", view).strip(), MAX_HEADER)
        context = fit(self.renderer.render("slack_context.mrkdwn.j2", view).strip(), MAX_TEXT)
        room = MAX_BLOCKS - 2 if len(view.items) <= MAX_BLOCKS - 2 else MAX_BLOCKS - 3
        blocks: list[dict[str, Any]] = [_header(header or "monitor alert"), _context(context or " ")]
        blocks += [_section(self._item_text(view, index)) for index in range(min(room, len(view.items)))]
        if len(view.items) > room:
            blocks.append(_context(f"… and {len(view.items) - room} more items"))
        return {
            "text": _notification(header, view),
            "blocks": blocks,
            "unfurl_links": False,
            "unfurl_media": False,
        }

    def _item_text(self, view: AlertView, index: int) -> str:
        text = self.renderer.render("slack_item.mrkdwn.j2", view, item=view.items[index]).strip()
        return fit(text, MAX_TEXT)


def fit(text: str, limit: int) -> str:
    """Cut mrkdwn to `limit` characters without leaving half an entity or half a <link>."""
    if len(text) <= limit:
        return text
    cut = text[: limit - 1]
    amp, semi = cut.rfind("&"), cut.rfind(";")
    if amp > semi:
        cut = cut[:amp]
    opened, closed = cut.rfind("<"), cut.rfind(">")
    if opened > closed:
        cut = cut[:opened]
    return cut.rstrip() + "…"


def _plain(text: str, limit: int) -> str:
    """Feed text for a plain_text field: Slack does not parse it, but nothing there may look like
    a control sequence or a mention either (a client or a forwarded copy might)."""
    return escaping.truncate(escaping.no_mentions(text.replace("<", "‹").replace(">", "›")), limit)


def _notification(header: str, view: AlertView) -> str:
    """The notification text: the header, and for several items the newest one's headline."""
    text = header if len(view.items) <= 1 else f"{header}: {view.items[0].title}"
    return escaping.truncate(escaping.mrkdwn(text), MAX_TEXT)


def _header(text: str) -> dict[str, Any]:
    return {"type": "header", "text": {"type": "plain_text", "text": text, "emoji": False}}


def _section(text: str) -> dict[str, Any]:
    return {"type": "section", "text": {"type": "mrkdwn", "text": text or " "}}


def _context(text: str) -> dict[str, Any]:
    return {"type": "context", "elements": [{"type": "mrkdwn", "text": text}]}
