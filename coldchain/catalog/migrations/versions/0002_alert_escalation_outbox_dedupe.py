"""Alerts escalate along a contact chain; outbox rows carry a key that suppresses repeats.

Revision ID: 0002
Revises: 0001
Create Date: 2026-11-27
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0002"
down_revision = "0001"
branch_labels = None
depends_on = None


def upgrade() -> None:
    # Batch mode: SQLite cannot add a unique constraint to an existing table in place.
    with op.batch_alter_table("alerts") as batch:
        batch.add_column(
            sa.Column("escalation_level", sa.Integer(), nullable=False, server_default="0")
        )
        batch.add_column(sa.Column("next_escalation_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("detail_json", sa.Text(), nullable=True))
    with op.batch_alter_table("notification_outbox") as batch:
        batch.add_column(sa.Column("dedupe_key", sa.String(length=200), nullable=True))
        batch.create_unique_constraint(op.f("uq_notification_outbox_dedupe_key"), ["dedupe_key"])


def downgrade() -> None:
    with op.batch_alter_table("notification_outbox") as batch:
        batch.drop_constraint(op.f("uq_notification_outbox_dedupe_key"), type_="unique")
        batch.drop_column("dedupe_key")
    with op.batch_alter_table("alerts") as batch:
        batch.drop_column("detail_json")
        batch.drop_column("next_escalation_at")
        batch.drop_column("escalation_level")
