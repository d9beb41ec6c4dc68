"""The Slack channel: a Block Kit message POSTed to an incoming webhook."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, SecretStr, field_validator

from monitor.channels import validate
from monitor.channels.base import ChannelOptions
from monitor.records import Alert

if TYPE_CHECKING:
    from monitor.render import Renderer


class SlackOptions(ChannelOptions):
    """Options of the Slack channel: the incoming webhook URL (a secret)."""

    webhook_url: SecretStr
    min_interval: float = Field(default=1.0, ge=0)
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("webhook_url")
    @classmethod
    def _check_url(cls, value: SecretStr) -> SecretStr:
        return validate.http_url(value, "webhook_url")


class SlackChannel:
    """Posts each alert as a Block Kit message; feed text can never ping or forge links."""

    type: ClassVar[str] = "slack"
    Options: ClassVar[type[SlackOptions]] = SlackOptions

    def __init__(self, name: str, options: SlackOptions, renderer: Renderer) -> None:
        self.name, self.options, self.renderer = name, options, renderer

    def send(self, alert: Alert) -> None:
        """POST the alert to the webhook."""
        raise NotImplementedError
