"""Imported by multiprocessing's fork server only (parsepool preloads it): the fork server exits with the daemon.

Importing this module ties the importing process's life to the process named by `lifeline.OWNER` (an
environment variable parsepool sets before the fork server starts), else its parent; nothing else
imports it. (The daemon may be pid 1, in a container: the owner is named, not guessed.)
"""

from __future__ import annotations

import os

from monitor import lifeline

owner = int(os.environ.get(lifeline.OWNER) or os.getppid())
if os.getppid() != owner:  # the daemon died before we got here: we were re-parented already
    os._exit(1)
lifeline.exit_when_gone(owner)
