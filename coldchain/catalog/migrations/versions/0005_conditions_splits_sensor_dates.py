"""One judgement of a batch: versioned storage conditions, split placements, sensor dates,
offline loggers.

- `product_conditions`: every version of a product's storage condition with the moment it
  took effect; each existing product gets one version, in force since 1970-01-01 (its label
  condition is the only one it has ever had on record).
- `placements.quantity`: units of the batch in that place (NULL: the whole batch).
- `sensors.installed_at`, `sensors.removed_at`: when a probe measured (NULL: always, still).
- `loggers.offline`: the logger records to memory and is read out at the destination.

Revision ID: 0005
Revises: 0004
Create Date: 2026-12-01
"""

from __future__ import annotations

from datetime import UTC, datetime

import sqlalchemy as sa
from alembic import op

revision = "0005"
down_revision = "0004"
branch_labels = None
depends_on = None

# Spelled out, not imported from coldchain.times: a migration must stay what it was.
SINCE_EVER = datetime(1970, 1, 1, tzinfo=UTC)

CONDITION_COLUMNS = (
    "min_c",
    "max_c",
    "alarm_delay_min",
    "budget_max_c",
    "budget_min_c",
    "budget_hours",
    "label",
)


def upgrade() -> None:
    versions = op.create_table(
        "product_conditions",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("product_id", sa.String(length=64), nullable=False),
        sa.Column("valid_from", sa.DateTime(timezone=True), nullable=False),
        sa.Column("min_c", sa.Float(), nullable=False),
        sa.Column("max_c", sa.Float(), nullable=False),
        sa.Column("alarm_delay_min", sa.Float(), nullable=False),
        sa.Column("budget_max_c", sa.Float(), nullable=True),
        sa.Column("budget_min_c", sa.Float(), nullable=True),
        sa.Column("budget_hours", sa.Float(), nullable=True),
        sa.Column("label", sa.String(length=400), nullable=False),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.CheckConstraint("min_c < max_c", name=op.f("ck_product_conditions_range")),
        sa.ForeignKeyConstraint(
            ["product_id"], ["products.id"], name=op.f("fk_product_conditions_product_id_products")
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_product_conditions")),
        sa.UniqueConstraint(
            "product_id", "valid_from", name=op.f("uq_product_conditions_product_id")
        ),
    )
    products = sa.table(
        "products", sa.column("id", sa.String()), *map(sa.column, CONDITION_COLUMNS)
    )
    # Aware UTC datetimes bind as UTC on PostgreSQL and as the UTC wall time on SQLite,
    # which is how the catalog's UtcDateTime stores them on each.
    now = datetime.now(UTC)
    rows = [
        {
            "product_id": row.id,
            "valid_from": SINCE_EVER,
            **{name: getattr(row, name) for name in CONDITION_COLUMNS},
            "recorded_at": now,
        }
        for row in op.get_bind().execute(sa.select(products).order_by(products.c.id))
    ]
    if rows:
        op.bulk_insert(versions, rows)

    # Batch mode: SQLite cannot add a check constraint to an existing table in place.
    with op.batch_alter_table("placements") as batch:
        batch.add_column(sa.Column("quantity", sa.Integer(), nullable=True))
        batch.create_check_constraint(
            op.f("ck_placements_quantity"), "quantity IS NULL OR quantity > 0"
        )
    with op.batch_alter_table("sensors") as batch:
        batch.add_column(sa.Column("installed_at", sa.DateTime(timezone=True), nullable=True))
        batch.add_column(sa.Column("removed_at", sa.DateTime(timezone=True), nullable=True))
        batch.create_check_constraint(
            op.f("ck_sensors_installed"),
            "installed_at IS NULL OR removed_at IS NULL OR removed_at > installed_at",
        )
    with op.batch_alter_table("loggers") as batch:
        batch.add_column(
            sa.Column("offline", sa.Boolean(), nullable=False, server_default=sa.false())
        )


def downgrade() -> None:
    with op.batch_alter_table("loggers") as batch:
        batch.drop_column("offline")
    with op.batch_alter_table("sensors") as batch:
        batch.drop_constraint(op.f("ck_sensors_installed"), type_="check")
        batch.drop_column("removed_at")
        batch.drop_column("installed_at")
    with op.batch_alter_table("placements") as batch:
        batch.drop_constraint(op.f("ck_placements_quantity"), type_="check")
        batch.drop_column("quantity")
    op.drop_table("product_conditions")
