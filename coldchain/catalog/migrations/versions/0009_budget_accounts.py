"""Stability budget accounts (#22): bands, freeze events, manual time out of refrigeration,
carried-in time.

- `products`, `product_conditions`: `budget_bands_json` (the budget as a list of bands; the
  old `budget_*` columns stay and keep saying the old single form), `freeze_c` and
  `freeze_events`, versioned with the rest of the condition.
- `tor_entries`: time out of refrigeration recorded by hand; never rewritten, a correction
  voids an entry by a new one (`voids_id`, unique: an entry is voided once).
- `budget_carried_in`: budget consumed before the batch reached this site.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None

_CONDITION_TABLES = ("products", "product_conditions")


def upgrade() -> None:
    for table in _CONDITION_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.add_column(sa.Column("budget_bands_json", sa.Text(), nullable=True))
            batch.add_column(sa.Column("freeze_c", sa.Float(), nullable=True))
            batch.add_column(sa.Column("freeze_events", sa.Integer(), nullable=True))
    op.create_table(
        "tor_entries",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("start_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("end_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("max_c", sa.Float(), nullable=False),
        sa.Column("reason", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("voids_id", sa.Integer(), nullable=True),
        sa.CheckConstraint("end_at > start_at", name=op.f("ck_tor_entries_ordered")),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_tor_entries_batch_id_batches")
        ),
        sa.ForeignKeyConstraint(
            ["voids_id"], ["tor_entries.id"], name=op.f("fk_tor_entries_voids_id_tor_entries")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_tor_entries")),
        sa.UniqueConstraint("voids_id", name=op.f("uq_tor_entries_voids_id")),
    )
    op.create_index(op.f("ix_tor_entries_batch_id"), "tor_entries", ["batch_id"], unique=False)
    op.create_table(
        "budget_carried_in",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("batch_id", sa.String(length=64), nullable=False),
        sa.Column("band_min_c", sa.Float(), nullable=False),
        sa.Column("band_max_c", sa.Float(), nullable=False),
        sa.Column("hours", sa.Float(), nullable=False),
        sa.Column("freeze_events", sa.Integer(), nullable=False),
        sa.Column("source", sa.Text(), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("band_min_c < band_max_c", name=op.f("ck_budget_carried_in_band")),
        sa.CheckConstraint(
            "hours >= 0 AND freeze_events >= 0", name=op.f("ck_budget_carried_in_amounts")
        ),
        sa.ForeignKeyConstraint(
            ["batch_id"], ["batches.id"], name=op.f("fk_budget_carried_in_batch_id_batches")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_budget_carried_in")),
    )
    op.create_index(
        op.f("ix_budget_carried_in_batch_id"), "budget_carried_in", ["batch_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_budget_carried_in_batch_id"), table_name="budget_carried_in")
    op.drop_table("budget_carried_in")
    op.drop_index(op.f("ix_tor_entries_batch_id"), table_name="tor_entries")
    op.drop_table("tor_entries")
    for table in _CONDITION_TABLES:
        with op.batch_alter_table(table) as batch:
            batch.drop_column("freeze_events")
            batch.drop_column("freeze_c")
            batch.drop_column("budget_bands_json")
