"""The webhook channel: a versioned JSON body signed with Standard Webhooks headers."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import Field, SecretStr, field_validator

from monitor.channels import validate
from monitor.channels.base import ChannelOptions
from monitor.records import Alert

if TYPE_CHECKING:
    from monitor.render import Renderer


class WebhookOptions(ChannelOptions):
    """Options of the webhook channel: URL and whsec_ secret (both secrets), extra headers."""

    url: SecretStr
    secret: SecretStr | None = None
    headers: dict[str, str] = Field(default_factory=dict)
    timeout: float = Field(default=10.0, gt=0)

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
        return value


class WebhookChannel:
    """POSTs each alert as JSON (docs/webhooks.md), signed when a secret is set."""

    type: ClassVar[str] = "webhook"
    Options: ClassVar[type[WebhookOptions]] = WebhookOptions

    def __init__(self, name: str, options: WebhookOptions, renderer: Renderer) -> None:
        self.name, self.options, self.renderer = name, options, renderer

    def send(self, alert: Alert) -> None:
        """POST the alert."""
        raise NotImplementedError
