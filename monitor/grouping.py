"""Which claimed deliveries go out as one message, fixed on the rows before any send.

A digest's deliveries share the `group_key` `route.py` gave them; more than BURST_THRESHOLD due at once
for one (channel, rule) become grouped messages of up to BURST_MAX items. A group is leased whole.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Sequence

import sqlalchemy as sa
from sqlmodel import Session, select

from monitor import db
from monitor.models import Delivery, utcnow
from monitor.runtime import Runtime

BURST_THRESHOLD = 5  # more than this many due at once for one (channel, rule): one grouped message
BURST_MAX = 40  # items per grouped message (Slack shows 49 sections at most)


def plan_groups(rt: Runtime, claimed: Sequence[Delivery]) -> None:
    """Fix, before any send, which claimed deliveries go out together, and persist it on the rows.

    More than BURST_THRESHOLD due at once for one (channel, rule) become grouped messages of up to
    BURST_MAX items; any other delivery is its own group. Stored in `group_key`, so a retry, or a
    re-send after a crash, sends the same group under the same id.
    """
    todo: dict[tuple[str, str], list[Delivery]] = defaultdict(list)
    for delivery in claimed:
        if delivery.group_key is None:
            todo[(delivery.channel, delivery.rule)].append(delivery)
    keys: dict[str, str] = {}
    for (_channel, rule), rows in todo.items():
        if len(rows) <= BURST_THRESHOLD:
            keys |= {d.id: d.id for d in rows}
            continue
        for start in range(0, len(rows), BURST_MAX):
            chunk = rows[start : start + BURST_MAX]
            keys |= {d.id: f"burst:{rule}:{chunk[0].id}" for d in chunk}
    if not keys:
        return
    table = Delivery.__table__  # type: ignore[attr-defined]
    stmt = (
        sa.update(table)
        .where(table.c.id == sa.bindparam("b_id"), table.c.group_key.is_(None))
        .values(group_key=sa.bindparam("b_key"))
    )
    with rt.engine.begin() as connection:
        connection.execute(stmt, [{"b_id": d, "b_key": k} for d, k in sorted(keys.items())])
    for delivery in claimed:
        delivery.group_key = keys.get(delivery.id, delivery.group_key)


def complete_groups(rt: Runtime, claimed: Sequence[Delivery]) -> list[Delivery]:
    """Lease the due members of claimed groups that the claim's limit left out, so a group goes out whole."""
    now, have = utcnow(), [d.id for d in claimed]
    groups = {(d.channel, d.group_key) for d in claimed if d.group_key and d.group_key != d.id}
    extra: list[Delivery] = []
    c = Delivery.__table__.c  # type: ignore[attr-defined]
    with Session(rt.engine) as session:
        for channel, key in sorted(groups, key=str):
            stmt = select(Delivery).where(
                c.channel == channel,
                c.group_key == key,
                c.status == "pending",
                c.next_attempt_at <= now,
                c.id.not_in(have),
                db.lease_free(c.lease_until, now),
            )
            extra += session.exec(stmt.with_for_update(skip_locked=True))
        return db.lease(session, extra, rt.owner, now)
