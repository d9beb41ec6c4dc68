"""Child processes that end when the daemon ends, however it ends (`kill -9` included).

A parse worker is a grandchild of the daemon (the daemon -> multiprocessing's fork server -> the
worker), so nothing in the kernel ties it to the daemon by default: after a `kill -9` the workers,
the fork server (which lives while a worker holds its pipe) and the resource tracker would run for
good. Each worker therefore:

- asks the kernel for SIGKILL when its parent (the fork server) dies (`PR_SET_PDEATHSIG`, Linux), and
- watches the daemon itself from a thread: a pidfd, which becomes readable when that process exits
  (Linux 5.3+, and it cannot be fooled by a reused pid), else a check every second.

When the workers are gone, the fork server and the resource tracker see their pipes close and exit.
"""

from __future__ import annotations

import ctypes
import ctypes.util
import os
import select
import signal
import threading
import time

PR_SET_PDEATHSIG = 1
POLL_SECONDS = 1.0


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send `sig` to this process when its parent exits; False where unsupported."""
    try:
        libc = ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)
        return bool(libc.prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # not Linux, or no prctl
        return False


def exit_when_gone(pid: int) -> None:
    """End this process (exit status 1) as soon as process `pid` has exited; returns at once."""
    threading.Thread(target=_watch, args=(pid,), name=f"lifeline-{pid}", daemon=True).start()


def _watch(pid: int) -> None:
    try:
        fd = os.pidfd_open(pid)
    except (AttributeError, OSError):  # no pidfd (old kernel, not Linux), or already gone
        fd = None
    if fd is not None:
        select.select([fd], [], [])  # readable once the process has exited
    else:
        while _alive(pid):
            time.sleep(POLL_SECONDS)
    os._exit(1)  # no cleanup to run: the daemon that asked for this work is gone


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (our pid was reused)
        return False
    return True
