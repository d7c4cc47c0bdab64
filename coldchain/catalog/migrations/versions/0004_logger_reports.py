"""USB logger reports imported with their device summary; shipments get rules of their own.

Revision ID: 0004
Revises: 0003
Create Date: 2026-11-29
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0004"
down_revision = "0003"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "logger_reports",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shipment_id", sa.String(length=64), nullable=True),
        sa.Column("unit_id", sa.Integer(), nullable=True),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("source", sa.String(length=16), nullable=False),
        sa.Column("device", sa.String(length=64), nullable=False),
        sa.Column("sensor", sa.String(length=64), nullable=False),
        sa.Column("format", sa.String(length=32), nullable=False),
        sa.Column("device_model", sa.String(length=200), nullable=False),
        sa.Column("serial", sa.String(length=64), nullable=False),
        sa.Column("file_sha256", sa.String(length=64), nullable=False),
        sa.Column("file_name", sa.String(length=400), nullable=False),
        sa.Column("timezone", sa.String(length=64), nullable=False),
        sa.Column("log_interval_s", sa.Integer(), nullable=True),
        sa.Column("readings", sa.Integer(), nullable=False),
        sa.Column("first_reading_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("last_reading_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("imported_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("imported_by", sa.String(length=64), nullable=False),
        sa.Column("summary_json", sa.Text(), nullable=False),
        sa.Column("events_json", sa.Text(), nullable=False),
        sa.Column("rules_json", sa.Text(), nullable=False),
        sa.CheckConstraint(
            "(shipment_id IS NULL) != (unit_id IS NULL)",
            name=op.f("ck_logger_reports_one_target"),
        ),
        sa.ForeignKeyConstraint(
            ["shipment_id"], ["shipments.id"], name=op.f("fk_logger_reports_shipment_id_shipments")
        ),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_logger_reports_site_id_sites")
        ),
        sa.ForeignKeyConstraint(
            ["unit_id"],
            ["storage_units.id"],
            name=op.f("fk_logger_reports_unit_id_storage_units"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_logger_reports")),
        sa.UniqueConstraint(
            "shipment_id", "file_sha256", name=op.f("uq_logger_reports_shipment_id")
        ),
        sa.UniqueConstraint("unit_id", "file_sha256", name=op.f("uq_logger_reports_unit_id")),
    )
    # Batch mode: SQLite cannot add a foreign key to an existing table in place.
    with op.batch_alter_table("alert_rules") as batch:
        batch.add_column(sa.Column("shipment_id", sa.String(length=64), nullable=True))
        batch.create_foreign_key(
            op.f("fk_alert_rules_shipment_id_shipments"), "shipments", ["shipment_id"], ["id"]
        )


def downgrade() -> None:
    with op.batch_alter_table("alert_rules") as batch:
        batch.drop_constraint(op.f("fk_alert_rules_shipment_id_shipments"), type_="foreignkey")
        batch.drop_column("shipment_id")
    op.drop_table("logger_reports")
