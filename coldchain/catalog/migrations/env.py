"""Alembic environment: run against the connection `upgrade_catalog` hands over.

There is no alembic.ini and no URL here; the caller opens the connection (so SQLite
pragmas and the psycopg driver apply) and passes it in `config.attributes["connection"]`.
"""

from __future__ import annotations

from alembic import context

from coldchain.catalog.schema import Base

connection = context.config.attributes["connection"]
context.configure(
    connection=connection,
    target_metadata=Base.metadata,
    render_as_batch=True,  # SQLite can only ALTER by copying the table
    compare_type=True,
)
with context.begin_transaction():
    context.run_migrations()
