"""Deliver: claim due deliveries, render, send outside any transaction, then mark sent, retry or failed.

Each channel sends from its own worker, with up to its `concurrency` messages in flight (their starts
`min_interval` apart, and again as each goes out, after its rows are read), so a slow or dead channel
never holds up the others. With concurrency above 1,
"in order" means the order sends are started: each channel's groups are taken one by one in claim order,
and a later one may finish first; a group is still one message, and every member's retries, ids and
events are those of a one-at-a-time send. Deliveries sharing a `group_key` (a digest, or a burst: see
grouping.py) go out as one alert, fixed on the rows before any send. The operator's re-sends and
`alerts test` are in redeliver.py.
"""

from __future__ import annotations

import hashlib
import threading
import time
from collections import defaultdict
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import nullcontext, suppress
from datetime import UTC, datetime, timedelta
from typing import Any, NamedTuple

import sqlalchemy as sa
from sqlmodel import Session, select

from monitor import db, events, grouping, schedule, sendpool
from monitor.channels import base
from monitor.channels.base import DEFAULT_OPTIONS, close_channel
from monitor.errors import Rejected, RetryLater
from monitor.match import snippet
from monitor.models import Delivery, Item, Match, utcnow
from monitor.records import Alert, AlertItem
from monitor.runtime import Runtime
from monitor.scrub import scrub

CLAIM_LIMIT = 200


class Prepared(NamedTuple):
    """A group ready to send: the members whose leases this instance holds, and their alert (None when
    it holds none of them)."""

    members: list[Delivery]
    alert: Alert | None


class Deliverer:
    """Sends due deliveries, one worker per channel; `tick()` is called by the timer, `drain()` at exit."""

    def __init__(self, rt: Runtime, again: Callable[[], object] | None = None) -> None:
        self.rt = rt
        self.again = again  # the daemon's guarded tick: run as soon as a batch ends, not at the next timer
        self.pool = ThreadPoolExecutor(max_workers=16, thread_name_prefix="deliver")
        self.busy: dict[str, Future[None]] = {}
        self.paused_until: dict[str, float] = {}
        self.last_send: dict[str, float] = {}  # when each channel's last send was let start (its turn)
        self.last_out: dict[str, float] = {}  # when each channel's last message went out
        self.out_locks: dict[str, threading.Lock] = {}
        self.lock = threading.Lock()
        self.senders: dict[str, Any] = {}  # the channels last seen in rt.active, closed once replaced

    def tick(self) -> int:
        """Claim due deliveries for idle channels and hand each channel's batch to its worker."""
        with self.lock:
            self._close_replaced()
            self.busy = {c: f for c, f in self.busy.items() if not f.done()}
            idle = [c for c in self.rt.active.channels if c not in self.busy and not self._paused(c)]
            if not db.any_due_delivery(self.rt.engine, idle, utcnow()):  # the usual tick: one light query
                return 0
            with Session(self.rt.engine) as session:
                claimed = db.claim_due_deliveries(session, idle, self.rt.owner, utcnow(), CLAIM_LIMIT)
            claimed += grouping.complete_groups(self.rt, claimed)
            grouping.plan_groups(self.rt, claimed)
            by_channel: dict[str, list[Delivery]] = defaultdict(list)
            for delivery in claimed:
                by_channel[delivery.channel].append(delivery)
            for channel, batch in by_channel.items():
                self.busy[channel] = self.pool.submit(self.send_batch, channel, batch)
                if self.again is not None:
                    self.busy[channel].add_done_callback(self._batch_ended)
            return len(claimed)

    def _batch_ended(self, future: Future[None]) -> None:
        """A channel's batch is done: claim its next one now (on a worker, never inside `tick`'s lock)."""
        if self.again is None or self.rt.stopping.is_set() or future.cancelled() or future.exception():
            return
        with suppress(RuntimeError):  # the pool is shut down (drain): nothing more to claim
            self.pool.submit(self.again)

    def run_until_idle(self, timeout: float = 300) -> None:
        """Deliver everything due now and wait (for `monitor run --once`)."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            claimed = self.tick()
            self.wait()
            if not claimed:
                return

    def wait(self) -> None:
        for future in list(self.busy.values()):
            future.result()

    def drain(self) -> None:
        """Let in-flight sends finish (SIGTERM); claimed but unsent deliveries are released."""
        self.rt.stopping.set()
        self.wait()
        self.pool.shutdown(wait=True)
        with self.lock:
            for sender in {
                id(s): s for s in [*self.senders.values(), *self.rt.active.channels.values()]
            }.values():
                close_channel(sender)

    def _close_replaced(self) -> None:
        """Close the channels a reload replaced (each closes its client when its sends in flight end)."""
        current = self.rt.active.channels
        kept = {id(sender) for sender in current.values()}
        for sender in self.senders.values():
            if id(sender) not in kept:
                close_channel(sender)
        self.senders = dict(current)

    def _paused(self, channel: str) -> bool:
        return self.paused_until.get(channel, 0) > time.monotonic()

    def send_batch(self, channel: str, batch: Sequence[Delivery]) -> None:
        """Send a channel's claimed deliveries, one message per group, up to `concurrency` at once.

        Workers (`sendpool.send_in_order`) take the groups one by one in claim order (paced under the same
        lock, so sends start in that order); a RetryLater pause or the stop flag releases every group not
        yet taken.
        """
        groups: dict[str, list[Delivery]] = defaultdict(list)
        for delivery in batch:
            groups[delivery.group_key or delivery.id].append(delivery)

        def start(members: list[Delivery]) -> bool:
            if self.rt.stopping.is_set() or self._paused(channel):
                _release(self.rt, members)
                return False
            self._pace(channel)
            return True

        width = int(_option(self.rt.active.channels.get(channel), "concurrency"))
        sendpool.send_in_order(
            channel,
            list(groups.values()),
            width,
            start,
            self.prepare_group,
            lambda prepared, meanwhile: self.send_prepared(channel, prepared, meanwhile),
        )

    def _pace(self, channel: str) -> None:
        sender = self.rt.active.channels.get(channel)
        gap = float(_option(sender, "min_interval") or 0.0)
        wait = self.last_send.get(channel, 0) + gap - time.monotonic()
        if wait > 0:
            time.sleep(wait)
        self.last_send[channel] = time.monotonic()

    def _space_out(self, channel: str, sender: object) -> None:
        """Right before a message goes out: `min_interval` since the channel's last message went out.

        `_pace` spaces the starts in claim order, but a group read after its start (not read ahead)
        goes out later than its start by that read and its render, so the message after it, read
        ahead, would follow it by less than `min_interval`; this wait closes that gap."""
        gap = float(_option(sender, "min_interval") or 0.0)
        if gap <= 0:
            return
        with self.out_locks.setdefault(channel, threading.Lock()):  # its sends leave one at a time
            wait = self.last_out.get(channel, 0) + gap - time.monotonic()
            if wait > 0:
                time.sleep(wait)
            self.last_out[channel] = time.monotonic()

    def prepare_group(self, members: Sequence[Delivery]) -> Prepared:
        """What sending `members` needs: the ones still held (leases renewed, committed) and their alert.

        The send pool runs it for the next group while the current send is in flight; it marks nothing.
        """
        with Session(self.rt.engine) as session:  # one session: renew the leases (committed), then read
            held = _still_held(session, self.rt.owner, members)
            if not held:  # our lease ran out and another instance claimed them: its work now
                return Prepared(held, None)
            return Prepared(held, build_alert(self.rt, held, session))

    def send_prepared(self, channel: str, prepared: Prepared, meanwhile: Callable[[], None]) -> None:
        """Send a prepared group's alert on `channel` and record the outcome on every member; while the
        channel waits for the answer it runs `meanwhile` (the pool reads the next group there)."""
        members, alert = prepared
        if alert is None:
            return
        sender = self.rt.active.channels.get(channel)
        if sender is None:  # the channel was removed by a reload: keep the deliveries for later
            _release(self.rt, members)
            return
        self._space_out(channel, sender)
        try:
            with base.while_waiting(meanwhile):
                sender.send(alert)
        except RetryLater as exc:
            if exc.after:
                self.paused_until[channel] = time.monotonic() + exc.after
                hold_channel(self.rt, channel, utcnow() + timedelta(seconds=exc.after))
            _outcome(self.rt, members, error=exc.reason, after=exc.after, max_attempts=_max_attempts(sender))
        except Rejected as exc:
            _outcome(self.rt, members, error=exc.reason, final=True)
        except Exception as exc:  # a bug in a channel plugin must not kill the worker
            _outcome(
                self.rt,
                members,
                error=f"{type(exc).__name__} in channel {channel}",
                max_attempts=_max_attempts(sender),
            )
        else:
            _outcome(self.rt, members)


def hold_channel(rt: Runtime, channel: str, until: datetime) -> None:
    """A Retry-After pause: no pending delivery of `channel` is tried before `until` (by any instance)."""
    c = _columns()
    with Session(rt.engine) as session:
        session.execute(
            sa.update(Delivery)
            .where(
                c.channel == channel,
                c.status == "pending",
                c.next_attempt_at < until,
                sa.or_(c.lease_owner.is_(None), c.lease_owner == rt.owner),
            )
            .values(next_attempt_at=until)
        )
        session.commit()


def _columns() -> Any:
    """The delivery table's columns, as SQL expressions (SQLModel's attributes type as plain values)."""
    return Delivery.__table__.c  # type: ignore[attr-defined]


def _option(sender: object, name: str) -> Any:
    """A channel option every ChannelOptions has; a plugin without `options` gets ChannelOptions' default."""
    return getattr(getattr(sender, "options", None), name, getattr(DEFAULT_OPTIONS, name))


def _max_attempts(sender: object) -> int:
    return int(_option(sender, "max_attempts"))


def build_alert(rt: Runtime, members: Sequence[Delivery], session: Session | None = None) -> Alert:
    """The Alert for one delivery, or a digest of several (its id derived from theirs, so it is stable)."""
    with Session(rt.engine) if session is None else nullcontext(session) as session:
        wanted = [d.match_id for d in members]
        matches = {m.id: m for m in session.exec(select(Match).where(Match.id.in_(wanted)))}  # type: ignore[attr-defined]
        item_ids = [m.item_id for m in matches.values()]
        items = {i.id: i for i in session.exec(select(Item).where(Item.id.in_(item_ids)))}  # type: ignore[attr-defined]
    found = []
    for delivery in members:
        match = matches.get(delivery.match_id)
        item = items.get(match.item_id) if match else None
        if match and item:
            found.append((item, match))
    found.sort(key=lambda pair: _newest_first(pair[0]))
    alert_items = [_alert_item(item, match) for item, match in found]
    first = members[0]
    if len(members) == 1 and first.group_key in (None, first.id):
        return Alert(id=first.id, rule=first.rule, items=tuple(alert_items), created=first.created_at)
    group_id = "msg_" + hashlib.sha256("\x1f".join(sorted(d.id for d in members)).encode()).hexdigest()[:24]
    return Alert(
        id=group_id, rule=first.rule, items=tuple(alert_items), kind="digest", created=first.created_at
    )


def _newest_first(item: Item) -> tuple[float, float, str]:
    """Sort key of a grouped message's items: newest published first (an undated item counts from when
    it was first seen), then the most recently first seen."""
    seen = _aware(item.first_seen).timestamp()
    published = _aware(item.published).timestamp() if item.published else seen
    return (-published, -seen, item.id)


def _aware(moment: datetime) -> datetime:
    return moment if moment.tzinfo else moment.replace(tzinfo=UTC)


def _alert_item(item: Item, match: Match) -> AlertItem:
    return AlertItem(
        id=item.id,
        title=item.title,
        link=item.link,
        feed=item.feed,
        published=item.published,
        matched_terms=tuple(match.matched_terms),
        snippet=snippet(item.model_dump(), match.snippet),
    )


def _still_held(session: Session, owner: str, members: Sequence[Delivery]) -> list[Delivery]:
    """The members whose lease this instance still holds, renewed (and committed) for the send (a batch
    can outlast one)."""
    held = db.renew_leases(session, Delivery, [d.id for d in members], owner, utcnow())
    return [d for d in members if d.id in held]


def _release(rt: Runtime, members: Sequence[Delivery]) -> None:
    with Session(rt.engine) as session:
        for delivery in members:
            row = session.get(Delivery, delivery.id)
            if row is not None and row.status == "pending":
                row.lease_owner, row.lease_until = None, None
                session.add(row)
        session.commit()


def _outcome(
    rt: Runtime,
    members: Sequence[Delivery],
    *,
    error: str | None = None,
    after: float | None = None,
    final: bool = False,
    max_attempts: int = DEFAULT_OPTIONS.max_attempts,
) -> None:
    """Mark each member sent, pending again (with backoff) or failed, and record an event each."""
    now, delay = utcnow(), timedelta(seconds=after or 0)
    error = None if error is None else scrub(error)  # stored in the delivery row: no secret in it
    if error is None:
        _sent(rt, members, now)
        return
    with Session(rt.engine) as session:
        for delivery in members:
            row = session.get(Delivery, delivery.id)
            if row is None:
                continue
            row.attempts += 1
            if error is not None and not delay:  # one delay for the whole group, so it stays together
                delay = schedule.delivery_backoff(row.attempts)
            row.lease_owner, row.lease_until = None, None
            if error is None:
                row.status, row.sent_at, row.last_error = "sent", now, None
                events.record(session, "delivery", f"sent to {row.channel}", **_fields(row))
            else:
                give_up = final or row.attempts >= max_attempts
                row.last_error = error
                row.status = "failed" if give_up else "pending"
                row.next_attempt_at = now + delay
                note = "failed for good" if give_up else f"will retry in {delay.total_seconds():.0f} s"
                events.record(
                    session,
                    "delivery_failed",
                    f"{row.channel}: {error}; {note}",
                    final=give_up,
                    **_fields(row),
                )
            session.add(row)
        session.commit()


def _sent_statement() -> Any:
    """Mark deliveries `ids` sent at `now`, returning what their events need."""
    c = _columns()
    return (
        sa.update(c.id.table)
        .where(c.id.in_(sa.bindparam("ids", expanding=True)))
        .values(
            attempts=c.attempts + 1,
            lease_owner=None,
            lease_until=None,
            status="sent",
            sent_at=sa.bindparam("now", type_=c.sent_at.type),
            last_error=None,
        )
        .returning(c.id, c.rule, c.channel, c.attempts)
    )


_SENT = _sent_statement()  # built once: marking a send lies between two sends of a channel


def _sent(rt: Runtime, members: Sequence[Delivery], now: datetime) -> None:
    """`_outcome` of a send that went out: every member marked sent and its event, in one statement each
    and one transaction, on a plain connection (the same rows and events as marking each member through
    the ORM, without a Session's work around them)."""
    with rt.engine.begin() as connection:
        rows = {
            row.id: row for row in connection.execute(_SENT, {"ids": [d.id for d in members], "now": now})
        }
        found = [rows[d.id] for d in members if d.id in rows]  # the events in the members' order, as before
        events.record_all(
            connection, [events.event("delivery", f"sent to {row.channel}", **_fields(row)) for row in found]
        )


def _fields(row: Any) -> dict[str, Any]:
    return {"rule": row.rule, "channel": row.channel, "delivery_id": row.id, "attempts": row.attempts}
