"""The channel registry: built-in channels and `monitor.channels` entry points, looked up the same way."""

from __future__ import annotations

from collections.abc import Mapping
from importlib.metadata import EntryPoint, entry_points
from pathlib import Path
from typing import Any

from monitor.channels.base import Channel, ChannelOptions

GROUP = "monitor.channels"

_BUILTINS: dict[str, str] = {
    "console": "monitor.channels.console:ConsoleChannel",
    "slack": "monitor.channels.slack:SlackChannel",
    "email": "monitor.channels.email:EmailChannel",
    "webhook": "monitor.channels.webhook:WebhookChannel",
    "apprise": "monitor.channels.apprise:AppriseChannel",
}


def _entry_points() -> dict[str, EntryPoint]:
    """Every known channel entry point by type name; a built-in wins over a plugin of the same name."""
    found = {ep.name: ep for ep in entry_points(group=GROUP)}
    found.update({name: EntryPoint(name, value, GROUP) for name, value in _BUILTINS.items()})
    return found


def available_types() -> list[str]:
    """The type names usable in channels.yaml, sorted."""
    return sorted(_entry_points())


def channel_class(type_name: str) -> type:
    """The channel class registered as `type_name`; KeyError if no channel has that type."""
    entry = _entry_points().get(type_name)
    if entry is None:
        raise KeyError(type_name)
    return entry.load()  # type: ignore[no-any-return]


def make_channel(
    name: str,
    type_name: str,
    options: ChannelOptions | Mapping[str, Any],
    templates_dir: Path | None,
) -> Channel:
    """Build the channel `name` of type `type_name`, rendering with the templates of `templates_dir`."""
    from monitor.render import Renderer

    cls: Any = channel_class(type_name)
    if not isinstance(options, cls.Options):
        raw = options.model_dump(by_alias=True) if isinstance(options, ChannelOptions) else dict(options)
        options = cls.Options.model_validate(raw)
    return cls(name, options, Renderer(templates_dir))  # type: ignore[no-any-return]
