"""Loading configuration: the rules files, the channels file, and the checks that join them.

Only configuration loading imports this package's modules; the pipeline stages see the finished `Config`.
"""

from monitor.config.model import Config, FeedConfig, RuleConfig, check_config, load_config

__all__ = ["Config", "FeedConfig", "RuleConfig", "check_config", "load_config"]
