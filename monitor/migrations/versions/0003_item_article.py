"""Full text: an item's article page, its text and fetch state; article failures per feed.

Revision ID: 0003
Revises: 0002
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0003"
down_revision: str | None = "0002"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_item_article_status"


def _item_columns() -> list[sa.Column[object]]:
    return [
        sa.Column("page", sa.String(), nullable=True),
        sa.Column("article", sa.String(), nullable=False, server_default=""),
        sa.Column("article_status", sa.String(), nullable=True),
        sa.Column("article_alert", sa.Boolean(), nullable=False, server_default=sa.false()),
        sa.Column("lease_owner", sa.String(), nullable=True),
        sa.Column("lease_until", sa.DateTime(timezone=True), nullable=True),
    ]


def upgrade() -> None:
    """Add what is missing (create_all may have made it all): existing items are no fulltext items."""
    inspector = sa.inspect(op.get_bind())
    have = {c["name"] for c in inspector.get_columns("item")}
    with op.batch_alter_table("item") as batch:
        for column in _item_columns():
            if column.name not in have:
                batch.add_column(column)
    if INDEX not in {index["name"] for index in inspector.get_indexes("item")}:
        op.create_index(INDEX, "item", ["article_status"])
    if "article_failures" not in {c["name"] for c in inspector.get_columns("feedstate")}:
        with op.batch_alter_table("feedstate") as batch:
            batch.add_column(sa.Column("article_failures", sa.Integer(), nullable=False, server_default="0"))


def downgrade() -> None:
    """Drop them."""
    op.drop_index(INDEX, table_name="item")
    with op.batch_alter_table("item") as batch:
        for name in ("lease_until", "lease_owner", "article_alert", "article_status", "article", "page"):
            batch.drop_column(name)
    with op.batch_alter_table("feedstate") as batch:
        batch.drop_column("article_failures")
