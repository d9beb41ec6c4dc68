"""Imported by multiprocessing's fork server only (parsepool preloads it): the analyzer's caches warm.

The fork server reads the stem cache named by the environment (`stemcache.ENV`, which parsepool sets
before the fork server starts, when the data folder has one) once; every parse worker forked from it
then starts with those chunks known, at no cost of its own. Nothing else imports this module.
"""

from __future__ import annotations

from monitor.query import stemcache

if (path := stemcache.from_environment()) is not None:
    stemcache.load(path)
