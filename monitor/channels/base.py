"""The channel interface: what every alert channel (built-in or plugin) provides."""

from __future__ import annotations

import builtins
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from contextvars import ContextVar
from typing import Annotated, ClassVar, Protocol

from pydantic import BaseModel, ConfigDict, Field

from monitor.records import Alert

Concurrency = Annotated[int, Field(ge=1, le=64)]  # sends in flight at once on one channel


class ChannelOptions(BaseModel):
    """Base of every channel's Options: unknown keys are errors; `max_attempts`, `min_interval` and
    `concurrency` are common (a channel may give `concurrency` another default, as webhook and email do)."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_attempts: int = 8
    min_interval: float = 0.0  # seconds between the starts of two sends on this channel (rate limit); 0: none
    concurrency: Concurrency = 1  # sends in flight at once on this channel (1..64)


DEFAULT_OPTIONS = ChannelOptions()  # the defaults, for a plugin channel whose options lack one


class Channel(Protocol):
    """An alert channel. `send` returns on success, raises RetryLater(after) or Rejected(reason)."""

    type: ClassVar[str]
    Options: ClassVar[builtins.type[ChannelOptions]]

    def send(self, alert: Alert) -> None: ...


def close_channel(channel: object) -> None:
    """Let a channel free what it holds (its HTTP client); a plugin without `close` holds nothing."""
    close = getattr(channel, "close", None)
    if callable(close):
        close()


_meanwhile: ContextVar[Callable[[], None] | None] = ContextVar("monitor_meanwhile", default=None)


@contextmanager
def while_waiting(meanwhile: Callable[[], None]) -> Iterator[None]:
    """Around a `send` in this thread: `meanwhile` is what `waiting()` runs (the deliverer reads the
    next message's rows there); it must not raise."""
    token = _meanwhile.set(meanwhile)
    try:
        yield
    finally:
        _meanwhile.reset(token)


def waiting() -> None:
    """A channel's message is out (nothing of it left to write) and the channel now waits for the
    receiver's answer: run the `while_waiting` work meanwhile, if any. Optional for a channel."""
    meanwhile = _meanwhile.get()
    if meanwhile is not None:
        meanwhile()
