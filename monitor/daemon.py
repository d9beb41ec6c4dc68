"""The daemon: a poller sleeping until the next feed is due (poller.py) on one long-lived fetch loop
(fetchloop.py); APScheduler 3 timers for delivery, reload and pruning; SIGTERM drains; --once."""

from __future__ import annotations

import gc
import logging
import signal
import threading
from datetime import UTC
from types import FrameType
from typing import TYPE_CHECKING

from sqlmodel import Session

from monitor import db, opendb, parsepool, pipeline
from monitor.config import load_config
from monitor.models import utcnow
from monitor.query import StemCounts, stemcache
from monitor.query.cache import cache_path
from monitor.runtime import Active, Runtime, new_owner
from monitor.settings import Settings

if TYPE_CHECKING:  # the scheduler, the reloader and the web server are the daemon's, not --once's
    from monitor.reload import Reloader

log = logging.getLogger("monitor.daemon")


def start(
    settings: Settings, *, learn: bool = True, poll_every_feed: bool = False
) -> tuple[Runtime, db.InstanceLock, pipeline.Polling | None]:
    """Open the database (one instance per SQLite file), load the rules, catch up on lookback.

    `learn`: the matcher learns word frequencies from the items it matches and files its rules
    again as it learns; a single poll (--once) would pay for the re-filing and never gain from it.
    `poll_every_feed` (--once): every feed's fetch and parse begin as soon as the feeds are known,
    while the rules are indexed and their lookback runs; the poll under way is returned.
    """
    # Rules, their index and the parsed items are many small long-lived objects: collect young
    # objects less often, and keep the loaded rules out of every later collection (gc.freeze).
    gc.set_threshold(50_000, 50, 100)
    parsepool.use_stem_cache(stemcache.path_for(settings.db))  # read as the fork server starts
    parsepool.warm_up()  # the parse workers start while the rules load (unless `monitor run` did already)
    config = load_config(settings.rules, settings.channels, cache=cache_path(settings.db))
    engine = opendb.engine_for(settings.db)
    lock = db.InstanceLock(engine)
    lock.acquire()
    opendb.upgrade(engine)
    owner = new_owner()
    if db.is_sqlite(engine):
        with Session(engine) as session:
            db.release_leases(session)
    pipeline.sync_feeds(engine, config)
    polling = None
    if poll_every_feed:
        limit = max(len(config.feeds), 1)
        claimed = pipeline.claim_due(engine, config, owner, every_feed=True, limit=limit)
        # a matcher that does not learn matches a large feed a chunk at a time as the worker sends it
        polling = pipeline.begin_poll(claimed, config, stream=not learn)
    try:
        active = Active.build(config, StemCounts() if learn else None)
        rt = Runtime(engine, active, owner=owner, article_per_host=settings.article_per_host)
        gc.freeze()
        for warning in config.warnings:
            log.warning(warning)
        pipeline.lookback(rt)
    except BaseException:
        if polling is not None:  # nothing of it is ingested: its feeds are free for the next start
            pipeline.release_feeds(engine, owner, polling.names)
        raise
    return rt, lock, polling


def run_once(settings: Settings) -> int:
    """Poll every feed once, deliver what is due, exit 0 (even if some feeds failed)."""
    rt, lock, polling = start(settings, learn=False, poll_every_feed=True)
    try:
        # imported here, while the parse workers read the feeds: the poll began without them
        from monitor.articlefetch import ArticleFetcher
        from monitor.deliver import Deliverer

        assert polling is not None
        pipeline.finish_poll(rt, polling)
        ArticleFetcher(rt).run_until_idle()  # items of fulltext feeds are matched once their page is read
        deliverer = Deliverer(rt)
        deliverer.run_until_idle()
        deliverer.drain()
    finally:
        lock.release()
    return 0


def run_forever(settings: Settings) -> int:
    """Run until SIGTERM/SIGINT, then finish in-flight work and exit 0; SIGHUP reloads the configuration."""
    from apscheduler.schedulers.background import BackgroundScheduler

    from monitor.articlefetch import ArticleFetcher
    from monitor.dbhealth import DatabaseHealth
    from monitor.deliver import Deliverer
    from monitor.fetch import keepalive_for
    from monitor.fetchloop import FetchLoop
    from monitor.poller import Poller
    from monitor.reload import Reloader
    from monitor.web import listen, serve

    bound = listen(settings.http_address) if settings.http_address else None  # a busy port fails first
    try:
        rt, lock, _ = start(settings)
    except BaseException:
        if bound:
            bound.close()
        raise
    deliverer = Deliverer(rt)
    articles = ArticleFetcher(rt)
    reloader = Reloader(rt, settings.rules, settings.channels)
    scheduler = BackgroundScheduler(timezone=UTC, job_defaults={"coalesce": True, "misfire_grace_time": 30})
    stop = threading.Event()  # set by SIGTERM/SIGINT: fetches in flight are abandoned, their leases lapse
    hangup = threading.Event()  # set by SIGHUP: the next reload tick re-reads the configuration
    health = DatabaseHealth(rt.engine)  # a database outage is logged once, and once when it ends
    guard = health.guard
    # one loop and its connections for the daemon's life, idle ones kept until the feed's next poll
    rt.fetch_loop = FetchLoop(keepalive=keepalive_for(f.every for f in rt.config.feeds.values() if f.enabled))
    poller = Poller(rt, stop, guard)  # sleeps until the next feed is due
    deliverer.again = guard(deliverer.tick)  # a batch that ends claims the next at once, not a tick later
    scheduler.add_job(guard(deliverer.tick), "interval", seconds=1, id="deliver", max_instances=1)
    scheduler.add_job(
        guard(apply_reload), "interval", seconds=1, args=[rt, reloader, hangup], id="reload", max_instances=1
    )
    scheduler.add_job(guard(_prune), "interval", hours=1, args=[rt], id="prune", next_run_time=utcnow())
    _on_signals(stop, hangup)
    server = serve(bound, rt.engine, lambda: scheduler.running, health) if bound else None
    scheduler.start()
    poller.start()
    articles.start()
    log.info(
        "monitor running: %d feeds, %d rules, %d channels",
        len(rt.config.feeds),
        len(rt.config.rules),
        len(rt.config.channels),
    )
    _wait_for(stop)
    log.info("stopping: finishing in-flight work")
    articles.stop()  # pages in flight are abandoned: their items stay pending for the next start
    poller.join()  # fetches in flight are abandoned too (stop is set): their feeds are released
    scheduler.shutdown(wait=True)
    rt.fetch_loop.close()
    deliverer.drain()
    if server:
        server.shutdown()
    lock.release()
    return 0


def _wait_for(stop: threading.Event) -> None:
    """Wait in the main thread until `stop` is set, in 1 s steps: the kernel may hand a process's signal
    to any of its threads, and Python runs the handler in the main thread only once that one runs
    again; an untimed wait would never see SIGTERM then."""
    while not stop.wait(1.0):
        pass


def _on_signals(stop: threading.Event, hangup: threading.Event) -> None:
    """SIGTERM and SIGINT stop after in-flight work; SIGHUP reloads the configuration (as Alertmanager)."""

    def handler(signum: int, _frame: FrameType | None) -> None:
        stop.set()

    def reload_handler(signum: int, _frame: FrameType | None) -> None:
        hangup.set()

    signal.signal(signal.SIGTERM, handler)
    signal.signal(signal.SIGINT, handler)
    signal.signal(signal.SIGHUP, reload_handler)


def apply_reload(rt: Runtime, reloader: Reloader, hangup: threading.Event | None = None) -> None:
    """One reload tick: a good edit of the rules file is applied (feeds resynced, new rules look back);
    after SIGHUP (`hangup` set) the configuration is read again even when no file changed."""
    previous = rt.config
    forced = hangup is not None and hangup.is_set()
    if hangup is not None and forced:
        hangup.clear()
        log.info("SIGHUP: reloading the configuration")
    config = reloader.tick(force=forced)
    if config is not None:
        pipeline.sync_feeds(rt.engine, config, previous)  # reschedules only feeds whose interval changed
        rt.wakeup.soon()  # a new feed, or an edited interval, may be due before the poller's plan
        pipeline.lookback(rt)


def _prune(rt: Runtime) -> None:
    from monitor import retention

    with Session(rt.engine) as session:
        retention.prune_and_record(session, utcnow() - rt.config.retention)
