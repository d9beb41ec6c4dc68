"""The database tables: FeedState, Item, Match, Delivery, Event, RuleState, RuleMute.

Uniqueness lives in the schema, so no race between threads or instances can double an alert:
an Item is unique per identity, a Match per (rule, story link) and per (rule, story title),
a Delivery per (match, channel).
"""

from __future__ import annotations

from datetime import UTC, datetime
from typing import Any

import sqlalchemy as sa
from sqlmodel import Field, SQLModel


class UTCDateTime(sa.types.TypeDecorator[datetime]):
    """A timezone-aware UTC datetime on every backend (SQLite hands back naive values)."""

    impl = sa.DateTime(timezone=True)
    cache_ok = True

    def process_bind_param(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        value = value if value.tzinfo else value.replace(tzinfo=UTC)
        return (
            value.astimezone(UTC) if dialect.name != "sqlite" else value.astimezone(UTC).replace(tzinfo=None)
        )

    def process_result_value(self, value: datetime | None, dialect: sa.Dialect) -> datetime | None:
        if value is None:
            return None
        return value.replace(tzinfo=UTC) if value.tzinfo is None else value.astimezone(UTC)


def utcnow() -> datetime:
    """Now, timezone-aware UTC: the only clock the pipeline reads."""
    return datetime.now(UTC)


def _when(*, index: bool = False, nullable: bool = True) -> Any:
    return Field(default=None, sa_column=sa.Column(UTCDateTime(), index=index, nullable=nullable))


class FeedState(SQLModel, table=True):
    """What the database knows of one configured feed: schedule, validators, health and lease."""

    name: str = Field(primary_key=True)
    url: str = ""
    status: str = "new"  # new, ok, degraded, failing
    reason: str | None = None  # why degraded or failing
    failures: int = 0  # consecutive
    items: int = 0  # items stored so far
    polled: bool = False  # has had a successful first poll
    etag: str | None = None
    last_modified: str | None = None
    body_hash: str | None = None
    article_failures: int = Field(
        default=0, sa_column_kwargs={"server_default": "0"}
    )  # article pages of a `fulltext` feed that could not be fetched or read, in all
    last_poll_at: datetime | None = _when()
    last_ok_at: datetime | None = _when()
    next_poll_at: datetime | None = _when(index=True)
    lease_owner: str | None = None
    lease_until: datetime | None = _when()


class Item(SQLModel, table=True):
    """One feed item, stored once per identity (guid, else normalized link, else title)."""

    id: str = Field(primary_key=True)
    feed: str = Field(index=True)
    guid: str | None = None
    link: str | None = None
    title: str = ""
    summary: str = ""
    content: str = ""
    author: str = ""
    categories: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    published: datetime | None = _when()
    first_seen: datetime = _when(index=True, nullable=False)
    link_key: str | None = None
    title_key: str = ""
    # `fulltext` feeds: the article page (`page`), its main text, and where its fetch stands:
    # None (not a fulltext item), pending (matched once it is fetched or failed), ok, failed, skipped
    page: str | None = None
    article: str = Field(default="", sa_column_kwargs={"server_default": ""})
    article_status: str | None = Field(default=None, index=True)
    article_alert: bool = Field(
        default=False, sa_column_kwargs={"server_default": sa.false()}
    )  # match and route the item when its article is done (not stored silently)
    lease_owner: str | None = None  # the instance fetching the article
    lease_until: datetime | None = _when()


class Match(SQLModel, table=True):
    """A rule matched a story; unique per (rule, link) and per (rule, title), so a story alerts once."""

    __table_args__ = (
        sa.UniqueConstraint("rule", "link_key", name="uq_match_rule_link"),
        sa.UniqueConstraint("rule", "title_key", name="uq_match_rule_title"),
    )
    id: str = Field(primary_key=True)
    rule: str = Field(index=True)
    item_id: str = Field(index=True)
    link_key: str | None = None
    title_key: str = ""
    matched_terms: list[str] = Field(default_factory=list, sa_column=sa.Column(sa.JSON, nullable=False))
    # where the terms are: {"tokens": [[field, first, last], ...]} (token numbers within the field), or in
    # rows stored before, {"terms": [[field, start, end], ...]} (char offsets); read by match.where_terms,
    # and the quote is cut from it when an alert is built
    snippet: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))
    created_at: datetime = _when(index=True, nullable=False)
    muted: bool = Field(
        default=False, sa_column=sa.Column(sa.Boolean, nullable=False, server_default=sa.false())
    )


class Delivery(SQLModel, table=True):
    """The outbox: one row per (match, channel). `id` is stable: webhook-id and Message-ID."""

    __table_args__ = (
        sa.UniqueConstraint("match_id", "channel", name="uq_delivery_match_channel"),
        sa.Index("ix_delivery_status_next_attempt_at", "status", "next_attempt_at"),  # the claim's filter
    )
    id: str = Field(primary_key=True)
    match_id: str = Field(index=True)
    rule: str
    channel: str = Field(index=True)
    status: str = Field(default="pending", index=True)  # pending, sent, failed
    attempts: int = 0
    group_key: str | None = None  # deliveries sharing it go out as one message (digest, burst)
    next_attempt_at: datetime = _when(index=True, nullable=False)
    created_at: datetime = _when(nullable=False)
    sent_at: datetime | None = _when()
    last_error: str | None = None
    lease_owner: str | None = None
    lease_until: datetime | None = _when()


class Event(SQLModel, table=True):
    """Everything that happened, one row per event; every row is also one log line."""

    id: int | None = Field(default=None, primary_key=True)
    at: datetime = _when(index=True, nullable=False)
    kind: str = Field(index=True)
    feed: str | None = None
    rule: str | None = None
    item_id: str | None = None
    channel: str | None = None
    delivery_id: str | None = None
    message: str = ""
    data: dict[str, Any] = Field(default_factory=dict, sa_column=sa.Column(sa.JSON, nullable=False))


class RuleState(SQLModel, table=True):
    """The fingerprint each rule had when last applied; a new or changed one triggers lookback."""

    name: str = Field(primary_key=True)
    fingerprint: str
    applied_at: datetime = _when(nullable=False)


class RuleMute(SQLModel, table=True):
    """`monitor mute RULE`: kept in the database, so it survives restarts and holds on every instance."""

    rule: str = Field(primary_key=True)
    until: datetime | None = _when()  # None: until `monitor unmute`
    muted_at: datetime = _when(nullable=False)
