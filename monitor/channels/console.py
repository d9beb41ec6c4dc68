"""The console channel: a readable alert on standard output."""

from __future__ import annotations

import sys
from typing import TYPE_CHECKING, ClassVar, Literal

from monitor.channels.base import ChannelOptions
from monitor.records import Alert

if TYPE_CHECKING:
    from monitor.render import Renderer


class ConsoleOptions(ChannelOptions):
    """Options of the console channel: which standard stream to write to."""

    stream: Literal["stdout", "stderr"] = "stdout"


# Alike by shape with every channel, on purpose: the Channel protocol (base.py), one class per module.
class ConsoleChannel:
    """Writes each alert as plain text to stdout (or stderr), control characters stripped."""

    type: ClassVar[str] = "console"
    Options = ConsoleOptions

    def __init__(self, name: str, options: ConsoleOptions, renderer: Renderer) -> None:
        self.name, self.options, self.renderer = name, options, renderer

    def send(self, alert: Alert) -> None:
        """Write the rendered alert and flush."""
        stream = sys.stdout if self.options.stream == "stdout" else sys.stderr
        stream.write(self.renderer.console(alert))
        stream.flush()
