"""monitor: a self-hosted news and feed watcher."""

__version__ = "0.1.0"
USER_AGENT = f"monitor/{__version__} (+https://github.com/monitor-news/monitor; self-hosted feed watcher)"
