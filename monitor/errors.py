"""The exception tree of monitor.

    MonitorError
    ├── ConfigError          file:line:col: message (one problem in rules/*.yaml or alerts/channels.yaml)
    │   └── ConfigErrors     several ConfigError at once (every error found is reported)
    ├── QuerySyntaxError     a query that does not parse, with its column inside the query
    ├── FetchError           a feed could not be fetched (names the URL)
    ├── ParseError           fetched bytes that are not a feed (names the URL)
    ├── DeliveryError        a channel could not send an alert
    │   ├── RetryLater       transient: try again after `after` seconds (None: use backoff)
    │   └── Rejected         permanent: the delivery is failed at once
    ├── InstanceError        a second instance on one SQLite file
    └── SettingError         a setting that cannot be used: MONITOR_HTTP busy or invalid, MONITOR_DB
                             unreachable or malformed, a bad MONITOR_LOG_LEVEL (one line, no secret)

Normal outcomes (304 Not Modified, no match, nothing due) are values, never exceptions.
"""

from __future__ import annotations


class MonitorError(Exception):
    """Base class of every error monitor raises on purpose."""


class ConfigError(MonitorError):
    """One problem in a configuration file, located at file:line:col (1-based)."""

    def __init__(self, file: str, line: int, col: int, message: str) -> None:
        self.file, self.line, self.col, self.message = file, line, col, message
        super().__init__(f"{file}:{line}:{col}: {message}")


class ConfigErrors(MonitorError):
    """Every problem found while loading the configuration, in file order."""

    def __init__(self, errors: list[ConfigError]) -> None:
        self.errors = errors
        super().__init__("\n".join(str(e) for e in errors))


class QuerySyntaxError(MonitorError):
    """A query that does not parse; `col` is 1-based within the query text."""

    def __init__(self, col: int, message: str) -> None:
        self.col, self.message = col, message
        super().__init__(f"column {col}: {message}")


class FetchError(MonitorError):
    """A feed could not be fetched. `retry_after` is set when the server asked for a pause."""

    def __init__(self, url: str, reason: str, *, status: int | None = None, retry_after: float | None = None):
        self.url, self.reason, self.status, self.retry_after = url, reason, status, retry_after
        super().__init__(f"{url}: {reason}")


class ParseError(MonitorError):
    """Fetched bytes that are not a feed."""

    def __init__(self, url: str, reason: str) -> None:
        self.url, self.reason = url, reason
        super().__init__(f"{url}: {reason}")


class DeliveryError(MonitorError):
    """A channel could not send an alert. Messages never contain secrets."""


class RetryLater(DeliveryError):
    """A transient failure; `after` is the server's Retry-After in seconds, if it gave one."""

    def __init__(self, reason: str, after: float | None = None) -> None:
        self.reason, self.after = reason, after
        super().__init__(reason)


class Rejected(DeliveryError):
    """A permanent failure (HTTP 400/401/403/404/410, SMTP 5xx): retrying will not help."""

    def __init__(self, reason: str) -> None:
        self.reason = reason
        super().__init__(reason)


class InstanceError(MonitorError):
    """A second `monitor run` on one SQLite file."""


class SettingError(MonitorError):
    """A setting (environment variable or CLI option) that cannot be used; the message names it."""
