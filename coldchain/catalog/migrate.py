"""Apply the catalog's Alembic migrations from Python, so no `alembic` CLI or ini is needed."""

from __future__ import annotations

from pathlib import Path

from alembic import command
from alembic.config import Config
from alembic.runtime.migration import MigrationContext
from alembic.script import ScriptDirectory
from sqlalchemy import Engine
from sqlalchemy.exc import SQLAlchemyError

from coldchain.catalog.store import create_catalog_engine, translate_sqlalchemy_error

__all__ = ["MIGRATIONS", "alembic_config", "catalog_revision", "head_revision", "upgrade_catalog"]

MIGRATIONS = Path(__file__).resolve().parent / "migrations"


def alembic_config() -> Config:
    """An Alembic config pointing at this package's migrations, with no ini file."""
    config = Config()
    config.set_main_option("script_location", str(MIGRATIONS))
    return config


def head_revision() -> str | None:
    return ScriptDirectory.from_config(alembic_config()).get_current_head()


def upgrade_catalog(url_or_engine: str | Engine, revision: str = "head") -> None:
    """Bring the catalog at `url_or_engine` up to `revision`; safe to call on every start.

    Raises:
        CatalogUnavailable: the database could not be reached.
    """
    engine = (
        create_catalog_engine(url_or_engine) if isinstance(url_or_engine, str) else url_or_engine
    )
    config = alembic_config()
    try:
        with engine.begin() as connection:
            config.attributes["connection"] = connection
            command.upgrade(config, revision)
    except SQLAlchemyError as exc:
        raise translate_sqlalchemy_error(exc) from exc
    finally:
        if isinstance(url_or_engine, str):
            engine.dispose()


def catalog_revision(engine: Engine) -> str | None:
    """The revision the database is at (None: never migrated)."""
    try:
        with engine.connect() as connection:
            return MigrationContext.configure(connection).get_current_revision()
    except SQLAlchemyError as exc:
        raise translate_sqlalchemy_error(exc) from exc
