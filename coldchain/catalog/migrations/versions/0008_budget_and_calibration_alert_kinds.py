"""Two alert kinds (#22): `budget` (a batch's stability budget consumed past a threshold)
and `calibration_due` (a probe's calibration due soon, or past due).

The kinds are spelled out here, not imported from coldchain.catalog.schema: a migration
must stay what it was.

Revision ID: 0008
Revises: 0007
Create Date: 2026-12-06
"""

from __future__ import annotations

from alembic import op

revision = "0008"
down_revision = "0007"
branch_labels = None
depends_on = None

BEFORE = ("excursion", "missing_data", "sensor_fault", "low_battery", "rate_of_change", "forecast")
AFTER = (*BEFORE, "budget", "calibration_due")


def _kinds(kinds: tuple[str, ...]) -> str:
    return f"kind IN ({', '.join(repr(k) for k in kinds)})"


def _set_kinds(kinds: tuple[str, ...]) -> None:
    # Batch mode: SQLite cannot alter a check constraint in place (the table is copied).
    for table in ("alerts", "alert_rules"):
        with op.batch_alter_table(table) as batch:
            batch.drop_constraint(op.f(f"ck_{table}_kind"), type_="check")
            batch.create_check_constraint(op.f(f"ck_{table}_kind"), _kinds(kinds))


def upgrade() -> None:
    _set_kinds(AFTER)


def downgrade() -> None:
    _set_kinds(BEFORE)
