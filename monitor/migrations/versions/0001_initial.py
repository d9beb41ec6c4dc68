"""The initial schema: feeds, items, matches, deliveries, events, rule states (as create_all made it).

Revision ID: 0001
Revises:
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0001"
down_revision: str | None = None
branch_labels: str | None = None
depends_on: str | None = None


def _when(name: str, *, nullable: bool = True) -> sa.Column[object]:
    return sa.Column(name, sa.DateTime(timezone=True), nullable=nullable)


def _text(name: str, *, nullable: bool = False) -> sa.Column[object]:
    return sa.Column(name, sa.String(), nullable=nullable)


def upgrade() -> None:
    """Create the six tables with their unique constraints and indexes."""
    # The tables are alike by shape, on purpose: a migration spells each one out as it was, frozen.
    op.create_table(
        "feedstate",
        _text("name"),
        _text("url"),
        _text("status"),
        _text("reason", nullable=True),
        sa.Column("failures", sa.Integer(), nullable=False),
        sa.Column("items", sa.Integer(), nullable=False),
        sa.Column("polled", sa.Boolean(), nullable=False),
        _text("etag", nullable=True),
        _text("last_modified", nullable=True),
        _text("body_hash", nullable=True),
        _when("last_poll_at"),
        _when("last_ok_at"),
        _when("next_poll_at"),
        _text("lease_owner", nullable=True),
        _when("lease_until"),
        sa.PrimaryKeyConstraint("name"),
    )
    op.create_index("ix_feedstate_next_poll_at", "feedstate", ["next_poll_at"])
    op.create_table(
        "item",
        _text("id"),
        _text("feed"),
        _text("guid", nullable=True),
        _text("link", nullable=True),
        _text("title"),
        _text("summary"),
        _text("content"),
        _text("author"),
        sa.Column("categories", sa.JSON(), nullable=False),
        _when("published"),
        _when("first_seen", nullable=False),
        _text("link_key", nullable=True),
        _text("title_key"),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_item_feed", "item", ["feed"])
    op.create_index("ix_item_first_seen", "item", ["first_seen"])
    op.create_table(
        "match",
        _text("id"),
        _text("rule"),
        _text("item_id"),
        _text("link_key", nullable=True),
        _text("title_key"),
        sa.Column("matched_terms", sa.JSON(), nullable=False),
        sa.Column("snippet", sa.JSON(), nullable=False),
        _when("created_at", nullable=False),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("rule", "link_key", name="uq_match_rule_link"),
        sa.UniqueConstraint("rule", "title_key", name="uq_match_rule_title"),
    )
    op.create_index("ix_match_rule", "match", ["rule"])
    op.create_index("ix_match_item_id", "match", ["item_id"])
    op.create_index("ix_match_created_at", "match", ["created_at"])
    op.create_table(
        "delivery",
        _text("id"),
        _text("match_id"),
        _text("rule"),
        _text("channel"),
        _text("status"),
        sa.Column("attempts", sa.Integer(), nullable=False),
        _text("group_key", nullable=True),
        _when("next_attempt_at", nullable=False),
        _when("created_at", nullable=False),
        _when("sent_at"),
        _text("last_error", nullable=True),
        _text("lease_owner", nullable=True),
        _when("lease_until"),
        sa.PrimaryKeyConstraint("id"),
        sa.UniqueConstraint("match_id", "channel", name="uq_delivery_match_channel"),
    )
    op.create_index("ix_delivery_match_id", "delivery", ["match_id"])
    op.create_index("ix_delivery_channel", "delivery", ["channel"])
    op.create_index("ix_delivery_status", "delivery", ["status"])
    op.create_index("ix_delivery_next_attempt_at", "delivery", ["next_attempt_at"])
    op.create_table(
        "event",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        _when("at", nullable=False),
        _text("kind"),
        _text("feed", nullable=True),
        _text("rule", nullable=True),
        _text("item_id", nullable=True),
        _text("channel", nullable=True),
        _text("delivery_id", nullable=True),
        _text("message"),
        sa.Column("data", sa.JSON(), nullable=False),
        sa.PrimaryKeyConstraint("id"),
    )
    op.create_index("ix_event_at", "event", ["at"])
    op.create_index("ix_event_kind", "event", ["kind"])
    op.create_table(
        "rulestate",
        _text("name"),
        _text("fingerprint"),
        _when("applied_at", nullable=False),
        sa.PrimaryKeyConstraint("name"),
    )


def downgrade() -> None:
    """Drop every table (and so every row)."""
    for table in ("rulestate", "event", "delivery", "match", "item", "feedstate"):
        op.drop_table(table)
