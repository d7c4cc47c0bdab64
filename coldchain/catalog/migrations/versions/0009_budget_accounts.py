"""Stability budget accounts (#22): bands, freeze events, manual time out of refrigeration,
carried-in time.

Filled in by the #22 work on it; until then it changes nothing.

Revision ID: 0009
Revises: 0008
Create Date: 2026-12-06
"""

from __future__ import annotations

revision = "0009"
down_revision = "0008"
branch_labels = None
depends_on = None


def upgrade() -> None:
    pass


def downgrade() -> None:
    pass
