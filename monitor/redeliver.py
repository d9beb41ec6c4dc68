"""The operator's deliveries: `deliveries retry` (failed ones pending again), `deliveries resend`
(a rule's matches again, under new ids) and `alerts test` (a made-up alert through one channel)."""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import replace
from datetime import timedelta
from typing import Any

import sqlalchemy as sa
from sqlmodel import Session, select

from monitor import events
from monitor.channels.base import close_channel
from monitor.config import Config
from monitor.models import Delivery, Match, utcnow
from monitor.render import sample_alert
from monitor.route import delivery_id
from monitor.runtime import Active


def retry_failed(engine: sa.Engine, ids: Sequence[str] | None) -> list[str]:
    """Make failed deliveries pending again (all of them when `ids` is None); return their ids."""
    now = utcnow()
    with Session(engine) as session:
        stmt = select(Delivery).where(Delivery.status == "failed")
        if ids is not None:
            stmt = stmt.where(Delivery.id.in_(list(ids)))  # type: ignore[attr-defined]
        rows = list(session.exec(stmt))
        retried = [row.id for row in rows]
        for row in rows:
            row.status, row.attempts, row.next_attempt_at = "pending", 0, now
            session.add(row)
        session.commit()
    return retried


def send_test(config: Config, channel: str) -> None:
    """Send a made-up alert through one channel now (`monitor alerts test`); raises DeliveryError."""
    alert = replace(sample_alert(1, kind="test"), id=f"msg_test_{utcnow():%Y%m%d%H%M%S}")
    sender = Active.build(config).channels[channel]
    try:
        sender.send(alert)
    finally:
        close_channel(sender)


def resend(engine: sa.Engine, rule: str, channel: str, since: timedelta) -> int:
    """`deliveries resend`: send the rule's matches of the window to `channel` again, under new ids.

    A delivery that exists is made pending again with a new id (a receiver that drops repeated ids
    would drop a deliberate re-send); a missing one is made. Muted matches stay undelivered.
    """
    now = utcnow()
    with Session(engine) as session:
        stmt = select(Match).where(
            Match.rule == rule,
            Match.muted == False,  # noqa: E712
            Match.created_at >= now - since,
        )
        matches = list(session.exec(stmt))
        existing = {
            d.match_id: d
            for d in session.exec(
                select(Delivery).where(
                    Delivery.channel == channel,
                    Delivery.match_id.in_([m.id for m in matches]),  # type: ignore[attr-defined]
                )
            )
        }
        stamp = now.isoformat()
        for match in matches:
            new_id = delivery_id(match.id, f"{channel}\x1fresend {stamp}")
            values: dict[str, Any] = {
                "id": new_id,
                "status": "pending",
                "attempts": 0,
                "next_attempt_at": now,
            }
            values |= {"group_key": None, "sent_at": None, "last_error": None, "lease_owner": None}
            if match.id in existing:
                session.execute(
                    sa.update(Delivery).where(Delivery.id == existing[match.id].id).values(**values)  # type: ignore[arg-type]
                )
            else:
                session.add(Delivery(match_id=match.id, rule=rule, channel=channel, created_at=now, **values))
        if matches:
            events.record(
                session,
                "delivery",
                f"{rule}: {len(matches)} match(es) queued again for {channel} (deliveries resend)",
                rule=rule,
                channel=channel,
                resent=len(matches),
            )
        session.commit()
    return len(matches)
