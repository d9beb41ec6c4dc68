"""The `monitor` command: the click group in `main`, the helpers of its read-only commands beside it."""

from monitor.cli.main import main

__all__ = ["main"]
