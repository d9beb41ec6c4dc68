"""Read-only views of the database for the CLI: feed health, the event log, deliveries, matches, rules."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from sqlmodel import Session, col, select

from monitor import mutes
from monitor.config import Config
from monitor.models import Delivery, Event, FeedState, Item, Match, utcnow


@dataclass(frozen=True)
class FeedHealth:
    """One row of `monitor feeds`: `reason` is the last error (failing) or why the feed is degraded or moved."""

    name: str
    url: str
    status: str
    reason: str | None
    failures: int
    items: int
    last_poll_at: datetime | None
    last_ok_at: datetime | None
    next_poll_at: datetime | None
    configured: bool
    enabled: bool = True
    fulltext: bool = False  # the feed reads its items' article pages
    article_failures: int = 0  # article pages that could not be read, in all


def feed_health(engine: sa.Engine, config: Config | None) -> list[FeedHealth]:
    """Every feed the configuration names (and any the database still knows), with its health."""
    with Session(engine) as session:
        states = {s.name: s for s in session.exec(select(FeedState))}
    names = list(config.feeds) if config else []
    names += sorted(set(states) - set(names))
    rows = []
    for name in names:
        state = states.get(name) or FeedState(name=name, url=config.feeds[name].url if config else "")
        rows.append(
            FeedHealth(
                name=name,
                url=config.feeds[name].url if config and name in config.feeds else state.url,
                status=state.status,
                reason=state.reason,
                failures=state.failures,
                items=state.items,
                last_poll_at=state.last_poll_at,
                last_ok_at=state.last_ok_at,
                next_poll_at=state.next_poll_at,
                configured=bool(config and name in config.feeds),
                enabled=bool(config and name in config.feeds and config.feeds[name].enabled),
                fulltext=bool(config and name in config.feeds and config.feeds[name].fulltext),
                article_failures=state.article_failures,
            )
        )
    return rows


def list_events(
    engine: sa.Engine, since: timedelta | None, kind: str | None, limit: int | None
) -> list[Event]:
    """Events in the window, oldest first (the newest `limit` when a limit is given)."""
    stmt = select(Event)
    if since is not None:
        stmt = stmt.where(Event.at >= utcnow() - since)
    if kind:
        stmt = stmt.where(Event.kind == kind)
    stmt = stmt.order_by(Event.id.desc())  # type: ignore[union-attr]
    if limit:
        stmt = stmt.limit(limit)
    with Session(engine) as session:
        return list(reversed(list(session.exec(stmt))))


def list_deliveries(engine: sa.Engine, failed_only: bool, limit: int = 1000) -> list[Delivery]:
    """Deliveries, newest first; only the failed ones with `failed_only`."""
    stmt = select(Delivery).order_by(Delivery.created_at.desc()).limit(limit)  # type: ignore[attr-defined]
    if failed_only:
        stmt = stmt.where(Delivery.status == "failed")
    with Session(engine) as session:
        return list(session.exec(stmt))


@dataclass(frozen=True)
class MatchRow:
    """One row of `monitor matches`: what a rule caught, and where each channel's alert stands."""

    rule: str
    title: str
    link: str | None
    feed: str
    published: datetime | None
    matched_at: datetime
    matched_terms: list[str]
    muted: bool
    deliveries: list[dict[str, str]]  # {channel, status}; a muted match has none


def list_matches(engine: sa.Engine, rule: str | None, since: timedelta | None, limit: int) -> list[MatchRow]:
    """Matches, newest first, with their item and each delivery's status."""
    stmt = select(Match, Item).join(Item, col(Item.id) == col(Match.item_id))
    if rule:
        stmt = stmt.where(col(Match.rule) == rule)
    if since is not None:
        stmt = stmt.where(col(Match.created_at) >= utcnow() - since)
    stmt = stmt.order_by(col(Match.created_at).desc(), col(Match.id)).limit(limit)
    with Session(engine) as session:
        found = list(session.exec(stmt))
        ids = [match.id for match, _ in found]
        sent: dict[str, list[dict[str, str]]] = {}
        for start in range(0, len(ids), 500):
            part = select(Delivery).where(col(Delivery.match_id).in_(ids[start : start + 500]))
            for d in session.exec(part.order_by(col(Delivery.channel))):
                sent.setdefault(d.match_id, []).append({"channel": d.channel, "status": d.status})
    return [
        MatchRow(
            rule=match.rule,
            title=item.title,
            link=item.link,
            feed=item.feed,
            published=item.published,
            matched_at=match.created_at,
            matched_terms=list(match.matched_terms),
            muted=match.muted,
            deliveries=sent.get(match.id, []),
        )
        for match, item in found
    ]


@dataclass(frozen=True)
class RuleRow:
    """One row of `monitor rules`."""

    name: str
    channels: list[str]
    disabled_channels: list[str]  # those of `channels` with `enabled: false` (nothing is sent to them)
    matches_24h: int
    matches_7d: int
    last_match: datetime | None
    enabled: bool
    muted: bool
    muted_until: datetime | None  # None while muted: until `monitor unmute`


def rule_summary(engine: sa.Engine, config: Config | None) -> list[RuleRow]:
    """Every configured rule (and any rule a mute or a match still names), with its recent matches."""
    now = utcnow()
    counts = sa.select(
        col(Match.rule),
        sa.func.count().filter(col(Match.created_at) >= now - timedelta(days=1)),
        sa.func.count(),
    )
    counts = counts.where(col(Match.created_at) >= now - timedelta(days=7)).group_by(col(Match.rule))
    with Session(engine) as session:
        stats = {row[0]: (row[1], row[2]) for row in session.execute(counts)}
        newest = sa.select(col(Match.rule), sa.func.max(col(Match.created_at))).group_by(col(Match.rule))
        last: dict[str, datetime] = {row[0]: row[1] for row in session.execute(newest)}
        muted = mutes.active(session, now)
    rules = config.rules if config else {}
    names = [*rules, *sorted((set(muted) | set(stats)) - set(rules))]
    rows = []
    for name in names:
        rule = rules.get(name)
        day, week = stats.get(name, (0, 0))
        rows.append(
            RuleRow(
                name=name,
                channels=list(rule.alert) if rule else [],
                disabled_channels=[
                    c
                    for c in (rule.alert if rule else ())
                    if config and c in config.channels and not config.channels[c].enabled
                ],
                matches_24h=day,
                matches_7d=week,
                last_match=last.get(name),
                enabled=rule.enabled if rule else False,
                muted=name in muted,
                muted_until=muted.get(name),
            )
        )
    return rows
