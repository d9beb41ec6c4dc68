"""/healthz and /metrics served in-process for a test: one way to start them, shared by the web tests."""

from __future__ import annotations

import socket
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

import httpx
import sqlalchemy as sa

from monitor import db
from monitor.web import listen, serve


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


class Web:
    """The endpoints served in-process for an engine, with a switch for the scheduler's state."""

    def __init__(self, engine: sa.Engine) -> None:
        self.running = True
        self.server = serve(listen(("127.0.0.1", 0)), engine, lambda: self.running)
        self.url = f"http://127.0.0.1:{self.server.server_address[1]}"

    def get(self, path: str) -> httpx.Response:
        return httpx.get(self.url + path, timeout=5)


def migrated_engine(sqlite_file: Path) -> sa.Engine:
    engine = db.make_engine(f"sqlite:///{sqlite_file}")
    db.upgrade(engine)
    return engine


@contextmanager
def serving(engine: sa.Engine) -> Iterator[Web]:
    web = Web(engine)
    try:
        yield web
    finally:
        web.server.shutdown()
