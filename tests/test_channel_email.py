"""The email channel against a real aiosmtpd server: message shape, header safety, TLS, status mapping."""

from __future__ import annotations

import ssl
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from alertdata import alert, hostile, item
from receivers import SmtpReceiver, self_signed_cert, server_context

from monitor.channels import make_channel
from monitor.errors import Rejected, RetryLater

PASSWORD = "s3cret-PASSWORD"


@pytest.fixture(scope="module")
def cert(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1, made once per module."""
    return self_signed_cert(tmp_path_factory.mktemp("tls"))


@pytest.fixture
def tls(cert: tuple[Path, Path], monkeypatch: pytest.MonkeyPatch) -> ssl.SSLContext:
    """A server TLS context whose certificate the client trusts (through SSL_CERT_FILE)."""
    monkeypatch.setenv("SSL_CERT_FILE", str(cert[0]))
    return server_context(*cert)


@pytest.fixture
def smtp() -> Iterator[SmtpReceiver]:
    """A plain SMTP server that offers no STARTTLS."""
    with SmtpReceiver() as server:
        yield server


def email_channel(url: str, **options: Any) -> Any:
    """An email channel to desk@example.org through `url`."""
    raw = {"to": ["desk@example.org"], "from": "monitor@example.org", "smtp": url, **options}
    return make_channel("email-desk", "email", raw, None)


def with_login(url: str, user: str = "monitor", password: str = PASSWORD) -> str:
    """The SMTP URL with user:password@ added."""
    scheme, rest = url.split("://", 1)
    return f"{scheme}://{user}:{password}@{rest}"


def test_sends_multipart_message(smtp: SmtpReceiver) -> None:
    """One message with subject, From, To, Date, Message-ID, and a text and an HTML part."""
    email_channel(smtp.url).send(alert())
    (mail,) = smtp.wait_for(1)
    message = mail.message
    assert mail.rcpt_tos == ["desk@example.org"] and mail.mail_from == "monitor@example.org"
    assert message["Subject"] == "[monitor] uk-military: UK military meeting 1"
    assert message["From"] == "monitor@example.org" and message["To"] == "desk@example.org"
    assert message["Message-ID"] == "<dlv-42@example.org>" and message["Date"]
    assert message.get_content_type() == "multipart/alternative"
    text = message.get_body(("plain",)).get_content()
    html = message.get_body(("html",)).get_content()
    assert "«UK» «military»" in text and "https://news.example.org/story/1?a=1&b=2" in text
    assert "<mark>UK</mark>" in html and 'href="https://news.example.org/story/1?a=1&amp;b=2"' in html


def test_hostile_title_adds_no_header(smtp: SmtpReceiver) -> None:
    """A newline + `Bcc:` in a title stays inside the one-line subject; no link for javascript:."""
    email_channel(smtp.url).send(hostile())
    (mail,) = smtp.wait_for(1)
    message = mail.message
    assert mail.rcpt_tos == ["desk@example.org"]
    assert message["Bcc"] is None and "victim" not in str(message["To"])
    subject = message["Subject"]
    assert subject.startswith("[monitor] uk-military: Breaking") and "\n" not in subject
    html = message.get_body(("html",)).get_content()
    assert "javascript:" not in html and "<script>" not in html
    assert "javascript:" not in message.get_body(("plain",)).get_content()


def test_subject_is_capped(smtp: SmtpReceiver) -> None:
    """A very long title gives a subject of at most 200 characters."""
    email_channel(smtp.url).send(alert(item(1, title="word " * 500)))
    assert len(smtp.wait_for(1)[0].message["Subject"]) <= 200


def test_digest_subject_counts_items(smtp: SmtpReceiver) -> None:
    """A digest's subject says how many items it holds and the body lists them."""
    email_channel(smtp.url, subject_prefix="[news]").send(alert(item(1), item(2)))
    message = smtp.wait_for(1)[0].message
    assert message["Subject"].startswith("[news] uk-military: 2 new items")
    assert "UK military meeting 2" in message.get_body(("plain",)).get_content()


def test_message_id_is_stable_across_resends() -> None:
    """451 then 250: the first attempt is RetryLater, the re-send succeeds with the same Message-ID."""
    with SmtpReceiver(data_replies=["451 4.3.0 try again later"]) as server:
        channel = email_channel(server.url)
        with pytest.raises(RetryLater, match="451"):
            channel.send(alert())
        channel.send(alert())
        assert server.attempts == 2
        assert server.wait_for(1)[0].message["Message-ID"] == "<dlv-42@example.org>"


@pytest.mark.parametrize(
    ("data", "rcpt", "error"),
    [
        (["550 5.7.1 rejected as spam"], [], Rejected),
        (["554 5.0.0 no"], [], Rejected),
        ([], ["550 5.1.1 no such user"], Rejected),
        ([], ["450 4.2.1 mailbox busy"], RetryLater),
    ],
)
def test_smtp_status_mapping(data: list[str], rcpt: list[str], error: type[Exception]) -> None:
    """SMTP 4xx is RetryLater and 5xx Rejected, at RCPT or at DATA; nothing is accepted."""
    with SmtpReceiver(data_replies=data, rcpt_replies=rcpt) as server:
        with pytest.raises(error, match="email-desk"):
            email_channel(server.url).send(alert())
        assert server.mails == []


def test_starttls_used_when_offered(tls: ssl.SSLContext) -> None:
    """smtp:// upgrades to TLS when the server offers STARTTLS, and logs in over it."""
    with SmtpReceiver(starttls=tls, users={"monitor": PASSWORD}) as server:
        email_channel(with_login(server.url)).send(alert())
        (mail,) = server.wait_for(1)
        assert mail.tls and mail.login == "monitor"


def test_smtps_is_tls_from_the_start(tls: ssl.SSLContext) -> None:
    """smtps:// speaks TLS at once."""
    with SmtpReceiver(implicit_tls=tls, users={"monitor": PASSWORD}) as server:
        email_channel(with_login(server.url)).send(alert())
        (mail,) = server.wait_for(1)
        assert mail.tls and mail.login == "monitor"


def test_starttls_required_but_not_offered(smtp: SmtpReceiver) -> None:
    """?starttls=require refuses to send in clear: Rejected, and no message reaches the server."""
    with pytest.raises(Rejected, match="STARTTLS"):
        email_channel(smtp.url + "?starttls=require").send(alert())
    assert smtp.attempts == 0


def test_password_never_sent_in_clear(smtp: SmtpReceiver) -> None:
    """With user:pass but no STARTTLS the channel refuses, and the error does not hold the password."""
    with pytest.raises(Rejected) as caught:
        email_channel(with_login(smtp.url)).send(alert())
    assert PASSWORD not in str(caught.value) and smtp.attempts == 0


def test_untrusted_certificate_is_retry_later(cert: tuple[Path, Path]) -> None:
    """A certificate the client does not trust stops the send (transient: it may be fixed server-side)."""
    with (
        SmtpReceiver(implicit_tls=server_context(*cert)) as server,
        pytest.raises(RetryLater, match="email-desk"),
    ):
        email_channel(server.url).send(alert())


def test_wrong_password_is_rejected_without_secrets(tls: ssl.SSLContext) -> None:
    """535 is permanent; the message names host:port but neither password nor URL."""
    with SmtpReceiver(implicit_tls=tls, users={"monitor": "other"}) as server:
        url = with_login(server.url)
        with pytest.raises(Rejected, match="535") as caught:
            email_channel(url).send(alert())
    assert PASSWORD not in str(caught.value) and url not in str(caught.value)
    assert f"127.0.0.1:{server.port}" in str(caught.value)


def test_connection_refused_is_retry_later() -> None:
    """No server listening is transient; the error holds no password."""
    with SmtpReceiver() as server:
        url = with_login(server.url)
    with pytest.raises(RetryLater) as caught:
        email_channel(url).send(alert())
    assert PASSWORD not in str(caught.value)
