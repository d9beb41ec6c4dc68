"""The running state one process shares between its timers: database, active rules, channels."""

from __future__ import annotations

import os
import socket
import threading
import uuid
from dataclasses import dataclass, field
from typing import Any

import sqlalchemy as sa

from monitor.channels import make_channel
from monitor.config import Config
from monitor.match import build_matcher
from monitor.query import Matcher, StemCounts


@dataclass(frozen=True)
class Active:
    """One consistent generation of configuration: swapped whole on a good reload."""

    config: Config
    matcher: Matcher  # the index of config's rules
    channels: dict[str, Any]

    @classmethod
    def build(cls, config: Config, learning: StemCounts | None = None) -> Active:
        """The generation of `config`; its matcher learns word frequencies into `learning`, if given
        (a reload passes the previous generation's)."""
        channels = {
            name: make_channel(name, ch.type, ch.options, config.templates_dir)  # type: ignore[arg-type]  # options: a ChannelOptions typed BaseModel
            for name, ch in config.channels.items()
            if ch.enabled
        }
        return cls(config, build_matcher(config, learning), channels)


def new_owner() -> str:
    """A name for this process's leases: host, pid and a random part."""
    return f"{socket.gethostname()}:{os.getpid()}:{uuid.uuid4().hex[:6]}"


@dataclass
class Runtime:
    """Engine, instance id and the active configuration (replaced atomically by reload)."""

    engine: sa.Engine
    active: Active
    owner: str = field(default_factory=new_owner)
    stopping: threading.Event = field(default_factory=threading.Event)
    articles_due: threading.Event = field(
        default_factory=threading.Event
    )  # set when items await their article
    article_per_host: int = 4  # article pages in flight per host (MONITOR_ARTICLE_PER_HOST)

    @property
    def config(self) -> Config:
        return self.active.config
