"""Muting: `match.muted` (a match recorded while its rule was muted, never delivered) and `rulemute`.

Revision ID: 0004
Revises: 0003
Create Date: 2026-12-02
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

from monitor.models import UTCDateTime

revision: str = "0004"
down_revision: str | None = "0003"
branch_labels: str | None = None
depends_on: str | None = None


def upgrade() -> None:
    """Add the column and the table, unless create_all already made them."""
    inspector = sa.inspect(op.get_bind())
    if "muted" not in {column["name"] for column in inspector.get_columns("match")}:
        with op.batch_alter_table("match") as batch:
            batch.add_column(sa.Column("muted", sa.Boolean(), nullable=False, server_default=sa.false()))
    if not inspector.has_table("rulemute"):
        op.create_table(
            "rulemute",
            sa.Column("rule", sa.String(), primary_key=True),
            sa.Column("until", UTCDateTime(), nullable=True),
            sa.Column("muted_at", UTCDateTime(), nullable=False),
        )


def downgrade() -> None:
    """Drop them."""
    op.drop_table("rulemute")
    with op.batch_alter_table("match") as batch:
        batch.drop_column("muted")
