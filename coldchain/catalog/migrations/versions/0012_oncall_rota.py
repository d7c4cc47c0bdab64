"""On-call rota and escalation per site (#22).

- `oncall_rotas`: a site's rota and its `escalate_after_min`.
- `oncall_shifts`: its shifts in order, absolute (`starts_at`..`ends_at`) or weekly
  (`weekdays`, `day_from`..`day_to` in the site's zone).
- `oncall_contacts`: each shift's escalation chain, one contact per level.

A site without a rota escalates along the global `notify_*` settings, as before.

Revision ID: 0012
Revises: 0011
Create Date: 2026-12-06
"""

from __future__ import annotations

import sqlalchemy as sa
from alembic import op

revision = "0012"
down_revision = "0011"
branch_labels = None
depends_on = None


def upgrade() -> None:
    op.create_table(
        "oncall_rotas",
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("escalate_after_min", sa.Float(), nullable=False),
        sa.ForeignKeyConstraint(
            ["site_id"], ["sites.id"], name=op.f("fk_oncall_rotas_site_id_sites")
        ),
        sa.PrimaryKeyConstraint("site_id", name=op.f("pk_oncall_rotas")),
    )
    op.create_table(
        "oncall_shifts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("site_id", sa.String(length=64), nullable=False),
        sa.Column("position", sa.Integer(), nullable=False),
        sa.Column("starts_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("ends_at", sa.DateTime(timezone=True), nullable=True),
        sa.Column("weekdays", sa.String(length=32), nullable=True),
        sa.Column("day_from", sa.String(length=5), nullable=True),
        sa.Column("day_to", sa.String(length=5), nullable=True),
        sa.ForeignKeyConstraint(
            ["site_id"],
            ["oncall_rotas.site_id"],
            name=op.f("fk_oncall_shifts_site_id_oncall_rotas"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_shifts")),
    )
    op.create_index(op.f("ix_oncall_shifts_site_id"), "oncall_shifts", ["site_id"], unique=False)
    op.create_table(
        "oncall_contacts",
        sa.Column("id", sa.Integer(), autoincrement=True, nullable=False),
        sa.Column("shift_id", sa.Integer(), nullable=False),
        sa.Column("level", sa.Integer(), nullable=False),
        sa.Column("name", sa.String(length=200), nullable=False),
        sa.Column("channel", sa.String(length=16), nullable=False),
        sa.Column("destination", sa.String(length=400), nullable=False),
        sa.CheckConstraint(
            "channel IN ('webhook', 'email')", name=op.f("ck_oncall_contacts_channel")
        ),
        sa.ForeignKeyConstraint(
            ["shift_id"],
            ["oncall_shifts.id"],
            name=op.f("fk_oncall_contacts_shift_id_oncall_shifts"),
        ),
        sa.PrimaryKeyConstraint("id", name=op.f("pk_oncall_contacts")),
        sa.UniqueConstraint("shift_id", "level", name=op.f("uq_oncall_contacts_shift_id")),
    )
    op.create_index(
        op.f("ix_oncall_contacts_shift_id"), "oncall_contacts", ["shift_id"], unique=False
    )


def downgrade() -> None:
    op.drop_index(op.f("ix_oncall_contacts_shift_id"), table_name="oncall_contacts")
    op.drop_table("oncall_contacts")
    op.drop_index(op.f("ix_oncall_shifts_site_id"), table_name="oncall_shifts")
    op.drop_table("oncall_shifts")
    op.drop_table("oncall_rotas")
