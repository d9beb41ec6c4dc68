"""The channel interface: what every alert channel (built-in or plugin) provides."""

from __future__ import annotations

import builtins
from typing import ClassVar, Protocol

from pydantic import BaseModel, ConfigDict

from monitor.records import Alert


class ChannelOptions(BaseModel):
    """Base of every channel's Options: unknown keys are errors; `max_attempts` and `rate` are common."""

    model_config = ConfigDict(extra="forbid", frozen=True)
    max_attempts: int = 8
    min_interval: float = 0.0  # seconds between two sends on this channel (rate limit); 0: none


DEFAULT_OPTIONS = ChannelOptions()  # the defaults, for a plugin channel whose options lack one


class Channel(Protocol):
    """An alert channel. `send` returns on success, raises RetryLater(after) or Rejected(reason)."""

    type: ClassVar[str]
    Options: ClassVar[builtins.type[ChannelOptions]]

    def send(self, alert: Alert) -> None: ...
