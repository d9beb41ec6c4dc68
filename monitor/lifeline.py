"""Child processes that end when the daemon ends, however it ends (`kill -9` included).

A parse worker is a grandchild of the daemon (the daemon -> multiprocessing's fork server -> the
worker), so nothing ties it to the daemon by default: after a `kill -9` the workers, the fork server
(which lives while a worker holds its pipe) and the resource tracker would run for good. So:

- the fork server watches the daemon from a thread (`exit_when_gone`): a pidfd, which becomes
  readable when that process exits (Linux 5.3+; it cannot be fooled by a reused pid), else a check
  every second; when the daemon is gone it kills its own children (a worker still starting up has
  not set its death signal yet) and exits (`monitor.forkserverwatch` arms this);
- each worker asks the kernel for SIGKILL when its parent, the fork server, dies
  (`die_with_parent`: `PR_SET_PDEATHSIG`). A worker runs no thread of its own: with a second thread,
  glibc's malloc under the worker's address-space cap crawls instead of failing fast;
- the resource tracker exits by itself once every process holding its pipe is gone.
"""

from __future__ import annotations

import contextlib
import ctypes
import ctypes.util
import os
import select
import signal
import threading
import time

OWNER = "MONITOR_FORKSERVER_OWNER"  # the pid the fork server watches (set before it starts)
PR_SET_PDEATHSIG = 1
M_ARENA_MAX = -8
POLL_SECONDS = 1.0


def _libc() -> ctypes.CDLL:
    return ctypes.CDLL(ctypes.util.find_library("c") or None, use_errno=True)


def die_with_parent(sig: int = signal.SIGKILL) -> bool:
    """Have the kernel send `sig` to this process when its parent exits; False where unsupported."""
    try:
        return bool(_libc().prctl(PR_SET_PDEATHSIG, sig, 0, 0, 0) == 0)
    except (OSError, AttributeError):  # not Linux, or no prctl
        return False


def exit_when_gone(pid: int) -> None:
    """End this process (exit status 1) as soon as process `pid` has exited; returns at once.

    The watching thread shares the main malloc arena (`M_ARENA_MAX` 1): an arena of its own would be
    inherited by every process forked from here and let a parse worker run past its memory cap.
    """
    with contextlib.suppress(OSError, AttributeError):  # not glibc: no arenas to share
        _libc().mallopt(M_ARENA_MAX, 1)
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
    _kill_children()  # a worker still starting up has not asked for PR_SET_PDEATHSIG yet
    os._exit(1)  # no cleanup to run: the daemon that asked for this work is gone


def _kill_children() -> None:
    """SIGKILL every process whose parent is this one (read from /proc; nothing where there is none)."""
    me = os.getpid()
    with contextlib.suppress(OSError):
        for entry in os.scandir("/proc"):
            if not entry.name.isdigit():
                continue
            try:
                with open(f"/proc/{entry.name}/stat", "rb") as stat:
                    ppid = int(stat.read().rsplit(b")", 1)[1].split()[1])
                if ppid == me:
                    os.kill(int(entry.name), signal.SIGKILL)
            except (OSError, ValueError, IndexError):
                continue


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # exists, owned by someone else (our pid was reused)
        return False
    return True
