"""Imported by multiprocessing's fork server only (parsepool preloads it): the fork server exits with the daemon.

Importing this module ties the importing process's life to its parent's; nothing else imports it.
"""

from __future__ import annotations

import os

from monitor import lifeline

if os.getppid() == 1:  # the daemon is already gone (we were re-parented to init)
    os._exit(1)
lifeline.exit_when_gone(os.getppid())
