"""`monitor mute RULE [--for 2h]`: muted rules still match (recorded, shown as muted), never deliver.

A mute is a row in the database, so it survives restarts and holds on every instance at once.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor.models import RuleMute, utcnow


def active(session: Session, now: datetime) -> dict[str, datetime | None]:
    """The rules muted at `now`, each with when its mute ends (None: until unmuted)."""
    until = col(RuleMute.until)
    stmt = select(RuleMute).where(sa.or_(until.is_(None), until > now))
    return {mute.rule: mute.until for mute in session.exec(stmt)}


def mute(engine: sa.Engine, rule: str, duration: timedelta | None) -> datetime | None:
    """Mute `rule` from now, for `duration` or until unmuted; return when it ends."""
    now = utcnow()
    until = now + duration if duration else None
    with Session(engine) as session:
        session.execute(sa.delete(RuleMute).where(col(RuleMute.rule) == rule))
        session.add(RuleMute(rule=rule, until=until, muted_at=now))
        session.commit()
    return until


def unmute(engine: sa.Engine, rule: str) -> bool:
    """End `rule`'s mute; False when it was not muted."""
    with Session(engine) as session:
        was = rule in active(session, utcnow())
        session.execute(sa.delete(RuleMute).where(col(RuleMute.rule) == rule))
        session.commit()
    return was
