"""Alarm profiles (#22), versioned like storage conditions.

- `alarm_profiles`: every version of a product's or a storage unit's alarm profile (alert
  limits, high/low delays, critical limits, latching) with the moment it took effect. No
  rows at first: without a profile a place is judged as before.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0011"
down_revision = "0010"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "alarm_profiles",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("warning_low_c", sa.Float(), nullable=True),
        sa.Column("warning_high_c", sa.Float(), nullable=True),
        sa.Column("high_delay_min", sa.Float(), nullable=True),
        sa.Column("low_delay_min", sa.Float(), nullable=True),
        sa.Column("critical_low_c", sa.Float(), nullable=True),
        sa.Column("critical_high_c", sa.Float(), nullable=True),
        sa.Column("latching", sa.Boolean(), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint(
            "(product_id IS NULL) <> (unit_id IS NULL)", name=op.f("ck_alarm_profiles_owner")
        ),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_alarm_profiles_product_id_products")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"], ["storage_units.id"], name=op.f("fk_alarm_profiles_unit_id_storage_units")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_alarm_profiles")),
    )
    op.create_index(op.f("ix_alarm_profiles_product_id"), "alarm_profiles", ["product_id"])
    op.create_index(op.f("ix_alarm_profiles_unit_id"), "alarm_profiles", ["unit_id"])


def downgrade() -> None:
    op.drop_index(op.f("ix_alarm_profiles_unit_id"), table_name="alarm_profiles")
    op.drop_index(op.f("ix_alarm_profiles_product_id"), table_name="alarm_profiles")
    op.drop_table("alarm_profiles")
