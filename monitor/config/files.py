"""Reading configuration files safely: regular files only, at most 10 MB, never blocking.

A named pipe called `x.yaml` would block a plain `open()` until someone writes to it, and a symlink to
`/dev/zero` would be read until memory runs out. `read_bytes` opens without blocking, checks on the
open descriptor (no race with a rename) that it holds a regular file, and reads at most MAX_BYTES.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

MAX_BYTES = 10 * 2**20


class Unreadable(Exception):
    """A configuration file that is not read; `reason` says why in a few words."""

    def __init__(self, reason: str, *, special: bool = False) -> None:
        self.reason, self.special = reason, special
        super().__init__(reason)


def special_kind(mode: int) -> str | None:
    """What a file that is not a regular file is, in words; None for a regular file."""
    if stat.S_ISREG(mode):
        return None
    kinds = (
        (stat.S_ISFIFO, "a named pipe"),
        (stat.S_ISCHR, "a character device"),
        (stat.S_ISBLK, "a block device"),
        (stat.S_ISSOCK, "a socket"),
        (stat.S_ISDIR, "a folder"),
    )
    return next((name for test, name in kinds if test(mode)), "not a regular file")


def skip_reason(path: Path) -> str | None:
    """Why `path` (followed through symlinks) is not a configuration file to read; None if it is one."""
    try:
        mode = path.stat().st_mode
    except FileNotFoundError:
        return "a symlink to a file that does not exist" if path.is_symlink() else None
    except OSError:
        return None  # reading it reports the error
    kind = special_kind(mode)
    return f"not a regular file ({kind})" if kind else None


def read_bytes(path: Path, limit: int = MAX_BYTES) -> bytes:
    """The file's bytes; Unreadable if it is not a regular file or is over `limit` bytes."""
    try:
        fd = os.open(path, os.O_RDONLY | os.O_NONBLOCK | os.O_NOCTTY | getattr(os, "O_CLOEXEC", 0))
    except OSError as exc:
        raise Unreadable(exc.strerror or type(exc).__name__) from None
    try:
        kind = special_kind(os.fstat(fd).st_mode)
        if kind:
            raise Unreadable(f"not a regular file ({kind})", special=True)
        chunks, size = [], 0
        while size <= limit:
            chunk = os.read(fd, min(1 << 20, limit + 1 - size))
            if not chunk:
                break
            chunks.append(chunk)
            size += len(chunk)
        if size > limit:
            raise Unreadable(f"over {limit // 2**20} MB (a configuration file is never this big)")
        return b"".join(chunks)
    except OSError as exc:
        raise Unreadable(exc.strerror or type(exc).__name__) from None
    finally:
        os.close(fd)
