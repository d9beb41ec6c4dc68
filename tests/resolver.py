"""Scripted name lookups for tests: `Dns` answers chosen host names, the real resolver every other."""

from __future__ import annotations

import socket
from typing import Any

import pytest


class Dns:
    """The process's name lookups (`socket.getaddrinfo`, which asyncio and anyio call) answered for
    test host names from a script of answers, one per lookup (the last one repeats); every other
    name goes to the real resolver. No test can run a DNS server the system resolver would ask."""

    def __init__(self, monkeypatch: pytest.MonkeyPatch) -> None:
        self._answers: dict[str, list[str]] = {}
        self.asked: dict[str, int] = {}
        real = socket.getaddrinfo

        def getaddrinfo(host: Any, port: Any, *args: Any, **kwargs: Any) -> Any:
            name = host.decode() if isinstance(host, bytes) else host
            if name not in self._answers:
                return real(host, port, *args, **kwargs)
            self.asked[name] = self.asked.get(name, 0) + 1
            answers = self._answers[name]
            return [_addrinfo(a, port or 0) for a in answers[min(self.asked[name], len(answers)) - 1].split()]

        monkeypatch.setattr(socket, "getaddrinfo", getaddrinfo)

    def answer(self, name: str, *answers: str) -> None:
        """One answer per lookup, each one or more addresses separated by spaces."""
        self._answers[name] = list(answers)


def _addrinfo(address: str, port: int) -> tuple[Any, ...]:
    if ":" in address:
        return (socket.AF_INET6, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port, 0, 0))
    return (socket.AF_INET, socket.SOCK_STREAM, socket.IPPROTO_TCP, "", (address, port))
