"""An index on delivery(status, next_attempt_at): the claim of due deliveries reads exactly that.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-25
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision: str = "0002"
down_revision: str | None = "0001"
branch_labels: str | None = None
depends_on: str | None = None

INDEX = "ix_delivery_status_next_attempt_at"


def upgrade() -> None:
    """Create the index, unless create_all already made it (a database stamped at 0001)."""
    existing = {index["name"] for index in sa.inspect(op.get_bind()).get_indexes("delivery")}
    if INDEX not in existing:
        op.create_index(INDEX, "delivery", ["status", "next_attempt_at"])


def downgrade() -> None:
    """Drop the index."""
    op.drop_index(INDEX, table_name="delivery")
