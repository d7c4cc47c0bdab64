"""Calibration certificates (#22): `calibration_certificates`, one row per certificate of a
probe (id, lab, calibrated on, due, correction, who recorded it and when), never rewritten;
a later certificate supersedes an earlier one from its calibration date.

Revision ID: 0010
Revises: 0009
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0010"
down_revision = "0009"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "calibration_certificates",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("sensor_id", sa.Integer(), nullable=False),
        sa.Column("certificate", sa.String(length=64), nullable=False),
        sa.Column("lab", sa.String(length=200), nullable=False),
        sa.Column("calibrated_on", sa.Date(), nullable=False),
        sa.Column("due_on", sa.Date(), nullable=False),
        sa.Column("calibrated_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("due_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("offset_c", sa.Float(), nullable=True),
        sa.Column("recorded_at", sa.DateTime(timezone=True), nullable=False),
        sa.Column("recorded_by", sa.String(length=64), nullable=False),
        sa.CheckConstraint("due_on > calibrated_on", name=op.f("ck_calibration_certificates_due")),
        sa.ForeignKeyConstraint(
            ["sensor_id"],
            ["sensors.id"],
            name=op.f("fk_calibration_certificates_sensor_id_sensors"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_calibration_certificates")),
        sa.UniqueConstraint(
            "sensor_id", "certificate", name=op.f("uq_calibration_certificates_sensor_id")
        ),
    )


def downgrade() -> None:
    op.drop_table("calibration_certificates")
