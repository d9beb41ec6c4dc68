"""Log lines: one per event, as text or JSON on stderr, a thread's batch written at once."""

from __future__ import annotations

import json
import logging
import sys
import threading
import time
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from datetime import datetime
from typing import Any, TextIO

from monitor.scrub import scrub


class LineHandler(logging.StreamHandler):  # type: ignore[type-arg]  # generic in typeshed only
    """A stream handler that, inside `batch()`, writes the thread's lines in one write at the end."""

    def __init__(self, stream: TextIO) -> None:
        super().__init__(stream)
        self._local = threading.local()

    def emit(self, record: logging.LogRecord) -> None:
        pending: list[str] | None = getattr(self._local, "pending", None)
        if pending is None:
            super().emit(record)
            return
        try:
            pending.append(self.format(record))
        except Exception:
            self.handleError(record)

    @contextmanager
    def batch(self) -> Iterator[None]:
        """Collect this thread's lines, then write them at once."""
        if getattr(self._local, "pending", None) is not None:  # already batching
            yield
            return
        self._local.pending = []
        try:
            yield
        finally:
            lines, self._local.pending = self._local.pending, None
            if lines:
                with self.lock:  # type: ignore[union-attr]  # set by Handler.__init__
                    self.stream.write("\n".join(lines) + self.terminator)
                    self.flush()


@contextmanager
def batched_lines() -> Iterator[None]:
    """Inside, each LineHandler writes this thread's lines in one write at the end."""
    with ExitStack() as stack:
        for handler in logging.getLogger().handlers:
            if isinstance(handler, LineHandler):
                stack.enter_context(handler.batch())
        yield


class TextFormatter(logging.Formatter):
    """`time level kind message key=value ...`"""

    def format(self, record: logging.LogRecord) -> str:
        kind = getattr(record, "event", "")
        fields = getattr(record, "fields", {})
        tail = " ".join(f"{k}={_short(v)}" for k, v in fields.items())
        head = f"{_local_time(record.created)} {record.levelname:<7} {kind or record.name}"
        line = f"{head} {record.getMessage()}" + (f"  {tail}" if tail else "")
        return scrub(line + (("\n" + self.formatException(record.exc_info)) if record.exc_info else ""))


class JsonFormatter(logging.Formatter):
    """One JSON object per line: time, level, event, message, and the event's fields."""

    def format(self, record: logging.LogRecord) -> str:
        data = {
            "time": datetime.fromtimestamp(record.created).astimezone().isoformat(timespec="milliseconds"),
            "level": record.levelname.lower(),
            "event": getattr(record, "event", record.name),
            "message": record.getMessage(),
            **getattr(record, "fields", {}),
        }
        if record.exc_info:
            data["exception"] = self.formatException(record.exc_info)
        return scrub(json.dumps(data, default=str, ensure_ascii=False))


def setup_logging(fmt: str = "text", level: str = "INFO") -> None:
    """Send log lines to stderr (alerts on the console channel go to stdout)."""
    logging.logThreads = logging.logProcesses = logging.logMultiprocessing = False  # never shown
    handler = LineHandler(sys.stderr)
    handler.setFormatter(JsonFormatter() if fmt == "json" else TextFormatter())
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    for noisy in ("apscheduler", "httpx", "httpcore"):
        logging.getLogger(noisy).setLevel(logging.WARNING)


_second: list[tuple[int, str]] = [(-1, "")]


def _local_time(created: float) -> str:
    """The local time of a record to the second (formatted once per second)."""
    second = int(created)
    cached = _second[0]
    if cached[0] != second:
        cached = _second[0] = (second, time.strftime("%Y-%m-%dT%H:%M:%S", time.localtime(second)))
    return cached[1]


def _short(value: Any) -> str:
    text = str(value)
    return repr(text) if " " in text else text
