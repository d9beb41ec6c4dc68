"""Loopback receivers for channel tests: a scripted HTTP server and an aiosmtpd SMTP server.

with HttpReceiver() as hook:        # HttpReceiver(on_request=...): a hook run before each answer
    hook.script(Reply(429, {"Retry-After": "2"}), 200)
    ...send to hook.url...
    first, second = hook.wait_for(2)

with SmtpReceiver(data_replies=["451 4.3.0 busy"]) as smtp:
    ...send to smtp.url...
    smtp.wait_for(1)[0].message["Subject"]
"""

from __future__ import annotations

import email
import email.policy
import json
import shutil
import socket
import ssl
import subprocess
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any, cast
from urllib.parse import unquote

import pytest
from aiosmtpd.controller import Controller
from aiosmtpd.smtp import SMTP, AuthResult, Envelope, LoginPassword, Session

HANG_LIMIT = 30.0  # a hanging reply gives up after this long even if never released


@dataclass(frozen=True)
class Reply:
    """One scripted HTTP answer; `hang` holds the request until `release()` (or HANG_LIMIT).

    `echo` appends the request to the body as a careless receiver quotes it in an error: its line
    with the path as sent and URL-decoded, its headers, and its body.
    """

    status: int = 200
    headers: dict[str, str] = field(default_factory=dict)
    body: bytes = b"ok"
    hang: bool = False
    echo: bool = False


HANG = Reply(hang=True)


@dataclass(frozen=True)
class Received:
    """One request as the receiver saw it; header names are lower-case; `at`: when it arrived (its
    request line and headers read), on the `time.monotonic()` clock of the test process."""

    method: str
    path: str
    headers: dict[str, str]
    body: bytes
    at: float = field(default_factory=time.monotonic)

    def json(self) -> Any:
        """The body parsed as JSON."""
        return json.loads(self.body)


class _Recorder:
    """What several threads share: the script, the requests seen, and a condition to wait on."""

    def __init__(self) -> None:
        self.condition = threading.Condition()
        self.items: list[Any] = []
        self.replies: list[Any] = []

    def add(self, item: Any) -> Any:
        """Record one request or message and return the next scripted reply (None when the script is done)."""
        with self.condition:
            self.items.append(item)
            self.condition.notify_all()
            return self.replies.pop(0) if self.replies else None

    def wait_for(self, count: int, timeout: float) -> list[Any]:
        """Wait until at least `count` items were recorded; AssertionError after `timeout` seconds."""
        with self.condition:
            if not self.condition.wait_for(lambda: len(self.items) >= count, timeout):
                raise AssertionError(f"expected {count} requests within {timeout} s, got {len(self.items)}")
            return list(self.items)


class HttpReceiver:
    """A threaded HTTP server on 127.0.0.1 recording every request and answering from a script."""

    def __init__(self, on_request: Callable[[Received, int], int | None] | None = None) -> None:
        """`on_request(request, peer_port)`, if given, runs in the request's thread before it is recorded
        and answered: it may sleep (a slow receiver) or block, and a status it returns replaces the
        script's answer."""
        self._on_request = on_request
        self._recorder = _Recorder()
        self._released = threading.Event()
        self._server = ThreadingHTTPServer(("127.0.0.1", 0), self._handler_class())
        self._server.daemon_threads = True
        self._thread = threading.Thread(target=self._server.serve_forever, args=(0.02,), daemon=True)

    @property
    def url(self) -> str:
        """The base URL, e.g. http://127.0.0.1:PORT (append any path)."""
        host, port = self._server.server_address[:2]
        return f"http://{host!s}:{port}"

    @property
    def requests(self) -> list[Received]:
        """Every request received so far, in order."""
        with self._recorder.condition:
            return list(self._recorder.items)

    def script(self, *replies: Reply | int) -> None:
        """Queue the next answers (a bare int is that status); once used up, every answer is 200."""
        with self._recorder.condition:
            self._recorder.replies.extend(r if isinstance(r, Reply) else Reply(r) for r in replies)

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Received]:
        """Wait until `count` requests arrived and return them all."""
        return cast(list[Received], self._recorder.wait_for(count, timeout))

    def release(self) -> None:
        """Let every hanging request answer."""
        self._released.set()

    def __enter__(self) -> HttpReceiver:
        self._thread.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()
        self._server.shutdown()
        self._server.server_close()
        self._thread.join(5)

    def _handler_class(self) -> type[BaseHTTPRequestHandler]:
        receiver = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def do_POST(self) -> None:
                """Record the request and answer from the script."""
                receiver._answer(self)

            do_GET = do_PUT = do_POST

            def log_message(self, format: str, *args: Any) -> None:  # quiet test output
                pass

        return Handler

    def _answer(self, handler: BaseHTTPRequestHandler) -> None:
        arrived = time.monotonic()  # first thing: the time the request came, not when a test looks
        length = int(handler.headers.get("content-length") or 0)
        body = handler.rfile.read(length)
        headers = {k.lower(): v for k, v in handler.headers.items()}
        request = Received(handler.command, handler.path, headers, body, arrived)
        status = self._on_request(request, handler.client_address[1]) if self._on_request else None
        reply = self._recorder.add(request) or Reply()
        if status is not None:
            reply = Reply(status)
        if reply.hang:
            self._released.wait(HANG_LIMIT)
        answer = reply.body + (_echo(handler, headers, body) if reply.echo else b"")
        try:
            handler.send_response(reply.status)
            for name, value in {"content-length": str(len(answer)), **reply.headers}.items():
                handler.send_header(name, value)
            handler.end_headers()
            handler.wfile.write(answer)
        except OSError:  # the client gave up (a timeout test)
            pass


def _echo(handler: BaseHTTPRequestHandler, headers: dict[str, str], body: bytes) -> bytes:
    """The request quoted back: `POST /path (decoded: /path)`, each header, the body."""
    lines = [f"{handler.command} {handler.path} (decoded: {unquote(handler.path)})"]
    lines += [f"{name}: {value}" for name, value in sorted(headers.items())]
    return ("\n".join(lines) + "\n\n").encode() + body


@dataclass(frozen=True)
class Mail:
    """One message the SMTP server accepted."""

    mail_from: str
    rcpt_tos: list[str]
    raw: bytes
    tls: bool
    login: str | None

    @property
    def message(self) -> EmailMessage:
        """The message parsed with the default (strict, modern) policy."""
        return cast(EmailMessage, email.message_from_bytes(self.raw, policy=email.policy.default))


class _Handler:
    """aiosmtpd handler: records accepted mail, answers DATA and RCPT from scripts."""

    def __init__(self, recorder: _Recorder, data_replies: list[str], rcpt_replies: list[str]) -> None:
        self.recorder, self.data_replies, self.rcpt_replies = recorder, data_replies, rcpt_replies
        self.attempts = 0

    async def handle_RCPT(
        self, server: SMTP, session: Session, envelope: Envelope, address: str, options: list[str]
    ) -> str:
        """Answer RCPT from the script, else accept the recipient."""
        if self.rcpt_replies:
            return self.rcpt_replies.pop(0)
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server: SMTP, session: Session, envelope: Envelope) -> str:
        """Answer DATA from the script, else record the message and accept it."""
        self.attempts += 1
        if self.data_replies:
            return self.data_replies.pop(0)
        login = session.auth_data.decode() if isinstance(session.auth_data, bytes) else None
        raw = envelope.original_content or b""
        transport = server.transport
        tls = session.ssl is not None or (
            transport is not None and transport.get_extra_info("ssl_object") is not None
        )
        self.recorder.add(Mail(envelope.mail_from or "", list(envelope.rcpt_tos), raw, tls, login))
        return "250 OK queued"


def _free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


class SmtpReceiver:
    """An aiosmtpd server on 127.0.0.1 recording accepted mail.

    `data_replies` / `rcpt_replies` answer the first DATA / RCPT commands (e.g. "451 4.3.0 busy", then
    250 once used up). `starttls` (a server SSLContext) offers STARTTLS; `implicit_tls` speaks TLS at
    once (smtps://); `users` enables AUTH with these user -> password pairs.
    """

    def __init__(
        self,
        *,
        data_replies: list[str] | None = None,
        rcpt_replies: list[str] | None = None,
        starttls: ssl.SSLContext | None = None,
        implicit_tls: ssl.SSLContext | None = None,
        users: dict[str, str] | None = None,
    ) -> None:
        self._recorder = _Recorder()
        self.handler = _Handler(self._recorder, list(data_replies or []), list(rcpt_replies or []))
        self.port = _free_port()
        params: dict[str, Any] = {"tls_context": starttls} if starttls else {}
        if users is not None:
            # aiosmtpd counts only STARTTLS as TLS, so with implicit TLS it must not insist on it
            params |= {"authenticator": _authenticator(users), "auth_require_tls": implicit_tls is None}
        self._controller = Controller(
            self.handler,
            hostname="127.0.0.1",
            port=self.port,
            ssl_context=implicit_tls,
            server_hostname="localhost",
            **params,
        )
        self.scheme = "smtps" if implicit_tls else "smtp"

    @property
    def url(self) -> str:
        """smtp://127.0.0.1:PORT (smtps:// for implicit TLS); add user:pass@ or ?starttls=require as needed."""
        return f"{self.scheme}://127.0.0.1:{self.port}"

    @property
    def attempts(self) -> int:
        """How many DATA commands arrived (accepted or refused)."""
        return self.handler.attempts

    def wait_for(self, count: int, timeout: float = 5.0) -> list[Mail]:
        """Wait until `count` messages were accepted and return them all."""
        return cast(list[Mail], self._recorder.wait_for(count, timeout))

    @property
    def mails(self) -> list[Mail]:
        """Every accepted message so far."""
        with self._recorder.condition:
            return list(self._recorder.items)

    def __enter__(self) -> SmtpReceiver:
        self._controller.start()
        return self

    def __exit__(self, *exc: object) -> None:
        self._controller.stop()


def _authenticator(users: dict[str, str]) -> Callable[..., AuthResult]:
    def check(server: SMTP, session: Session, envelope: Envelope, mechanism: str, data: Any) -> AuthResult:
        ok = isinstance(data, LoginPassword) and users.get(data.login.decode()) == data.password.decode()
        return AuthResult(success=ok, handled=False, auth_data=data.login if ok else None)

    return check


def self_signed_cert(directory: Path) -> tuple[Path, Path]:
    """A self-signed certificate for 127.0.0.1 and localhost, made with the openssl CLI: (cert, key)."""
    if shutil.which("openssl") is None:
        pytest.skip("the openssl command is needed to make a test certificate")
    cert, key = directory / "cert.pem", directory / "key.pem"
    subprocess.run(
        ["openssl", "req", "-x509", "-newkey", "rsa:2048", "-nodes", "-days", "2", "-subj", "/CN=localhost",
         "-addext", "subjectAltName=IP:127.0.0.1,DNS:localhost", "-keyout", str(key), "-out", str(cert)],
        check=True,
        capture_output=True,
    )  # fmt: skip
    return cert, key


def server_context(cert: Path, key: Path) -> ssl.SSLContext:
    """A server-side TLS context for the receivers."""
    context = ssl.create_default_context(ssl.Purpose.CLIENT_AUTH)
    context.load_cert_chain(cert, key)
    return context
