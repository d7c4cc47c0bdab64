"""Revocable login sessions and expiring API tokens.

- `users.sessions_valid_from`: login tokens issued before this moment are void (logout,
  password change, an admin ending a user's sessions); NULL: none revoked yet.
- `api_tokens.expires_at`: every API token expires. Tokens issued before this migration
  had no expiry; they get one 90 days after the migration (the default lifetime of a new
  token), so no script breaks on the day of the upgrade and no token lives forever.

Revision ID: 0006
Revises: 0005
Create Date: 2026-12-06
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import sqlalchemy as sa
from alembic import op

revision = "0006"
down_revision = "0005"
branch_labels = None
depends_on = None

# Spelled out, not imported from coldchain.catalog.credentials: a migration must stay what
# it was.
EXISTING_TOKEN_LIFETIME = timedelta(days=90)


def upgrade() -> None:
    with op.batch_alter_table("users") as batch:
        batch.add_column(
            sa.Column("sessions_valid_from", sa.DateTime(timezone=True), nullable=True)
        )
    with op.batch_alter_table("api_tokens") as batch:
        batch.add_column(sa.Column("expires_at", sa.DateTime(timezone=True), nullable=True))
    tokens = sa.table("api_tokens", sa.column("expires_at", sa.DateTime(timezone=True)))
    # Aware UTC datetimes bind as UTC on PostgreSQL and as the UTC wall time on SQLite,
    # which is how the catalog's UtcDateTime stores them on each.
    expiry = datetime.now(UTC) + EXISTING_TOKEN_LIFETIME
    op.execute(tokens.update().values(expires_at=expiry))
    with op.batch_alter_table("api_tokens") as batch:
        batch.alter_column("expires_at", existing_type=sa.DateTime(timezone=True), nullable=False)


def downgrade() -> None:
    with op.batch_alter_table("api_tokens") as batch:
        batch.drop_column("expires_at")
    with op.batch_alter_table("users") as batch:
        batch.drop_column("sessions_valid_from")
