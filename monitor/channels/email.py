"""The email channel: a multipart text + HTML message sent over SMTP (smtps://, or STARTTLS).

`smtps://` speaks TLS from the first byte (default port 465). `smtp://` (default port 25) upgrades with
STARTTLS whenever the server offers it. The send is refused with Rejected, before any message is sent,
when `?starttls=require` is set and the server does not offer STARTTLS, or when the URL has user:pass
and the connection would stay in clear: a configuration problem that retrying will not fix (fix the URL
or the server, then retry the failed deliveries). SMTP 4xx and connection errors are RetryLater, 5xx
Rejected. Messages name host:port only, never the user, password or URL.
"""

from __future__ import annotations

import re
import smtplib
import socket
import ssl
from dataclasses import dataclass
from email.message import EmailMessage
from email.utils import formatdate
from typing import TYPE_CHECKING, ClassVar
from urllib.parse import unquote

from pydantic import ConfigDict, Field, SecretStr, field_validator

from monitor import escaping
from monitor.channels import validate
from monitor.channels.base import ChannelOptions, Concurrency
from monitor.errors import Rejected, RetryLater
from monitor.records import Alert

if TYPE_CHECKING:
    from monitor.render import Renderer

MAX_SUBJECT = 200
_HELO = socket.gethostname() or "localhost"  # not getfqdn(): a DNS lookup that can stall
_ID_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass(frozen=True)
class SmtpTarget:
    """An SMTP URL taken apart: smtps:// (TLS at once) or smtp:// (STARTTLS when offered or required)."""

    host: str
    port: int
    implicit_tls: bool
    require_starttls: bool
    user: str | None
    password: str | None

    @classmethod
    def parse(cls, url: str) -> SmtpTarget:
        """Split a validated smtp:// or smtps:// URL."""
        parts = validate.parsed_url(url, ("smtp", "smtps"), "smtp")
        implicit = parts.scheme.lower() == "smtps"
        user = unquote(parts.username) if parts.username else None
        password = unquote(parts.password) if parts.password else None
        port = parts.port or (465 if implicit else 25)
        return cls(parts.hostname or "", port, implicit, parts.query == "starttls=require", user, password)

    @property
    def where(self) -> str:
        """host:port, for messages (never the user or password)."""
        return f"{self.host}:{self.port}"


def subject(text: str) -> str:
    """A header-safe subject: one line, no control characters, at most MAX_SUBJECT characters."""
    return escaping.clean_line(text, MAX_SUBJECT) or "[monitor] alert"


def message_id(alert_id: str, sender: str) -> str:
    """A stable Message-ID from the alert id and the sender's domain."""
    domain = _ID_UNSAFE.sub("", sender.rpartition("@")[2]) or "monitor.local"
    return f"<{_ID_UNSAFE.sub('-', alert_id) or 'alert'}@{domain}>"


class EmailOptions(ChannelOptions):
    """Options of the email channel: recipients, sender, SMTP URL (a secret) and subject prefix."""

    model_config = ConfigDict(populate_by_name=True)
    to: list[str] = Field(min_length=1)
    sender: str = Field(alias="from")
    smtp: SecretStr
    subject_prefix: str = Field(default="[monitor]", max_length=40)
    timeout: float = Field(default=10.0, gt=0)
    concurrency: Concurrency = 4  # SMTP sessions at once, one per send

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


# Alike by shape with every channel, on purpose: the Channel protocol (base.py), one class per module.
class EmailChannel:
    """Sends each alert as an email; the subject is header-safe and the Message-ID stable."""

    type: ClassVar[str] = "email"
    Options = EmailOptions

    def __init__(self, name: str, options: EmailOptions, renderer: Renderer) -> None:
        self.name, self.options, self.renderer = name, options, renderer

    def send(self, alert: Alert) -> None:
        """Send the alert by SMTP; 4xx and connection errors are RetryLater, 5xx Rejected."""
        target = SmtpTarget.parse(self.options.smtp.get_secret_value())
        message = self.message(alert)
        try:
            with _connect(target, self.options.timeout) as client:
                _secure(client, target)
                if target.user is not None:
                    client.login(target.user, target.password or "")
                client.send_message(message)
        except smtplib.SMTPRecipientsRefused as exc:
            codes = [code for code, _ in exc.recipients.values()]
            _raise_for(min(codes) if codes else 550, "every recipient was refused", target, self.name)
        except smtplib.SMTPResponseException as exc:
            _raise_for(exc.smtp_code, _text(exc.smtp_error), target, self.name)
        except smtplib.SMTPNotSupportedError as exc:
            raise Rejected(f"email channel {self.name}: {target.where}: {exc}") from None
        except (smtplib.SMTPException, OSError) as exc:
            raise RetryLater(
                f"email channel {self.name}: {target.where}: {type(exc).__name__}: {exc}"
            ) from None

    def message(self, alert: Alert) -> EmailMessage:
        """The multipart (text + HTML) message for an alert."""
        options = self.options
        message = EmailMessage()
        message["Subject"] = subject(
            self.renderer.render("email_subject.txt.j2", alert, prefix=options.subject_prefix)
        )
        message["From"] = options.sender
        message["To"] = ", ".join(options.to)
        message["Date"] = formatdate(localtime=False, usegmt=True)
        message["Message-ID"] = message_id(alert.id, options.sender)
        message["Auto-Submitted"] = "auto-generated"
        message.set_content(self.renderer.render("email.txt.j2", alert))
        message.add_alternative(self.renderer.render("email.html.j2", alert), subtype="html")
        return message


def _connect(target: SmtpTarget, timeout: float) -> smtplib.SMTP:
    """Open the connection: TLS from the start for smtps://, plain for smtp://."""
    if target.implicit_tls:
        context = ssl.create_default_context()
        return smtplib.SMTP_SSL(target.host, target.port, _HELO, timeout=timeout, context=context)
    return smtplib.SMTP(target.host, target.port, _HELO, timeout=timeout)


def _secure(client: smtplib.SMTP, target: SmtpTarget) -> None:
    """Upgrade smtp:// with STARTTLS when offered; refuse (Rejected) when required but not offered."""
    if target.implicit_tls:
        return
    client.ehlo()
    if client.has_extn("starttls"):
        client.starttls(context=ssl.create_default_context())
        client.ehlo()
    elif target.require_starttls:
        raise smtplib.SMTPNotSupportedError(
            "STARTTLS is required (?starttls=require) but the server does not offer it"
        )
    elif target.user is not None:
        raise smtplib.SMTPNotSupportedError(
            "the server offers no STARTTLS; the password is never sent in clear"
        )


def _raise_for(code: int, text: str, target: SmtpTarget, name: str) -> None:
    """SMTP 5xx is Rejected, anything else (4xx) RetryLater; the message never holds the user or password."""
    for secret in (target.password, target.user):
        if secret:
            text = text.replace(secret, "***")
    reason = f"email channel {name}: {target.where}: SMTP {code} {text}"
    if 500 <= code < 600:
        raise Rejected(reason)
    raise RetryLater(reason)


def _text(raw: bytes | str) -> str:
    value = raw.decode("utf-8", "replace") if isinstance(raw, bytes) else str(raw)
    return escaping.clean_line(value, 200)
