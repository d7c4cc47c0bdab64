"""The Alembic migrations build exactly the tables `schema.py` declares."""

from __future__ import annotations

from pathlib import Path

import pytest
from alembic.autogenerate import compare_metadata
from alembic.runtime.migration import MigrationContext
from sqlalchemy import Engine

from coldchain.catalog import (
    CatalogNotMigrated,
    catalog_session,
    create_catalog_engine,
    upgrade_catalog,
)
from coldchain.catalog.migrate import catalog_revision, head_revision
from coldchain.catalog.schema import Base, SponsorRow


def test_migrated_database_matches_the_models(engine: Engine) -> None:
    with engine.connect() as connection:
        context = MigrationContext.configure(connection, opts={"compare_type": True})
        assert compare_metadata(context, Base.metadata) == []
    assert catalog_revision(engine) == head_revision()


def test_upgrade_is_safe_to_repeat(engine: Engine) -> None:
    upgrade_catalog(engine)
    assert catalog_revision(engine) == head_revision()


def test_an_unmigrated_database_says_so(tmp_path: Path) -> None:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'empty.sqlite3'}")
    try:
        with (
            pytest.raises(CatalogNotMigrated, match="run the migrations"),
            catalog_session(engine) as session,
        ):
            session.get(SponsorRow, "ACME")
    finally:
        engine.dispose()


def test_a_new_sqlite_catalog_is_readable_by_its_owner_only(tmp_path: Path) -> None:
    """It holds argon2 and gateway password hashes."""
    path = tmp_path / "var" / "catalog.sqlite3"
    engine = create_catalog_engine(f"sqlite:///{path}")
    upgrade_catalog(engine)
    engine.dispose()
    assert path.stat().st_mode & 0o777 == 0o600
