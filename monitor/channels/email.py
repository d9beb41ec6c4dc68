"""The email channel: a multipart text + HTML message sent over SMTP (smtps://, or STARTTLS)."""

from __future__ import annotations

from typing import TYPE_CHECKING, ClassVar

from pydantic import ConfigDict, Field, SecretStr, field_validator

from monitor.channels import validate
from monitor.channels.base import ChannelOptions
from monitor.records import Alert

if TYPE_CHECKING:
    from monitor.render import Renderer


class EmailOptions(ChannelOptions):
    """Options of the email channel: recipients, sender, SMTP URL (a secret) and subject prefix."""

    model_config = ConfigDict(populate_by_name=True)
    to: list[str] = Field(min_length=1)
    sender: str = Field(alias="from")
    smtp: SecretStr
    subject_prefix: str = Field(default="[monitor]", max_length=40)
    timeout: float = Field(default=10.0, gt=0)

    @field_validator("to")
    @classmethod
    def _check_to(cls, value: list[str]) -> list[str]:
        return [validate.address(v) for v in value]

    @field_validator("sender")
    @classmethod
    def _check_from(cls, value: str) -> str:
        return validate.address(value)

    @field_validator("subject_prefix")
    @classmethod
    def _check_prefix(cls, value: str) -> str:
        if any(c in value for c in "\r\n\0"):
            raise ValueError("subject_prefix has a line break")
        return value

    @field_validator("smtp")
    @classmethod
    def _check_smtp(cls, value: SecretStr) -> SecretStr:
        parts = validate.parsed_url(value, ("smtp", "smtps"), "smtp")
        if parts.query not in ("", "starttls=require"):
            raise ValueError("smtp URL accepts only ?starttls=require as a query")
        return value


class EmailChannel:
    """Sends each alert as an email; the subject is header-safe and the Message-ID stable."""

    type: ClassVar[str] = "email"
    Options: ClassVar[type[EmailOptions]] = EmailOptions

    def __init__(self, name: str, options: EmailOptions, renderer: Renderer) -> None:
        self.name, self.options, self.renderer = name, options, renderer

    def send(self, alert: Alert) -> None:
        """Send the alert by SMTP."""
        raise NotImplementedError
