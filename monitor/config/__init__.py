"""Loading configuration: the rules files, the channels file, and the checks that join them.

Only configuration loading imports this package's modules; the pipeline stages see the finished `Config`.
The names below are loaded on first use, so importing a light module of this package (`durations`)
does not load the whole configuration reader.
"""

from __future__ import annotations

from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from monitor.config.model import Config, FeedConfig, RuleConfig, check_config, load_config

__all__ = ["Config", "FeedConfig", "RuleConfig", "check_config", "load_config"]


def __getattr__(name: str) -> Any:
    if name in __all__:
        from monitor.config import model

        return getattr(model, name)
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
