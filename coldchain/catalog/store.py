"""Engines and sessions for the catalog, and the one place SQLAlchemy errors are translated."""

from __future__ import annotations

import logging
import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any

from sqlalchemy import Engine, create_engine, event
from sqlalchemy.engine import make_url
from sqlalchemy.exc import (
    ArgumentError,
    DBAPIError,
    IntegrityError,
    NoSuchModuleError,
    OperationalError,
    ProgrammingError,
    SQLAlchemyError,
)
from sqlalchemy.orm import Session, sessionmaker

from coldchain.catalog.errors import (
    CatalogConflict,
    CatalogError,
    CatalogNotMigrated,
    CatalogUnavailable,
)
from coldchain.errors import ConfigError
from coldchain.security.redact import redact_text

__all__ = ["catalog_session", "create_catalog_engine", "translate_sqlalchemy_error"]

log = logging.getLogger(__name__)


def create_catalog_engine(url: str, **engine_options: Any) -> Engine:
    """An engine for `url`: a SQLite file (its folder created) or PostgreSQL via psycopg 3.

    `postgresql://` URLs are pointed at psycopg 3, the driver this project installs;
    SQLite gets foreign keys switched on (off by default there) and a busy timeout, so a
    second writer waits for the lock instead of failing at once.
    """
    try:
        parsed = make_url(url)
    except (ArgumentError, ValueError):  # ValueError: e.g. a port that is not a number
        raise ConfigError(f"catalog_url: not a SQLAlchemy URL: {redact_text(url)!r}") from None
    if parsed.drivername == "postgresql":
        parsed = parsed.set(drivername="postgresql+psycopg")
    if parsed.get_backend_name() == "sqlite" and parsed.database not in (None, "", ":memory:"):
        _create_private_file(Path(str(parsed.database)))
    try:
        engine = create_engine(parsed, **engine_options)
    except (ArgumentError, NoSuchModuleError) as exc:
        raise ConfigError(f"catalog_url: cannot use {parsed!r}: {exc}") from exc
    if engine.dialect.name == "sqlite":
        event.listen(engine, "connect", _sqlite_pragmas)
    return engine


def _create_private_file(path: Path) -> None:
    """A new catalog file is readable by its owner only: it holds password and gateway
    hashes. SQLite takes an empty file as a new database, and its journal files copy the
    database file's mode."""
    path.parent.mkdir(parents=True, exist_ok=True)
    if not path.exists():
        os.close(os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600))


def _sqlite_pragmas(dbapi_connection: Any, _record: Any) -> None:
    cursor = dbapi_connection.cursor()
    cursor.execute("PRAGMA foreign_keys=ON")
    cursor.execute("PRAGMA busy_timeout=10000")
    cursor.close()


@contextmanager
def catalog_session(engine: Engine) -> Iterator[Session]:
    """One transaction: committed when the block ends, rolled back if it raises.

    Everything inside sees SQLAlchemy exceptions; nothing outside does, because they are
    translated here into `CatalogError` types (STYLE.md: one place per client).
    """
    factory = sessionmaker(engine, expire_on_commit=False)
    session = factory()
    try:
        yield session
        session.commit()
    except SQLAlchemyError as exc:
        session.rollback()
        raise translate_sqlalchemy_error(exc) from exc
    except BaseException:
        session.rollback()
        raise
    finally:
        session.close()


def translate_sqlalchemy_error(exc: SQLAlchemyError) -> CatalogError:
    """The catalog error that tells the caller what to do about `exc`."""
    detail = str(exc.orig) if isinstance(exc, DBAPIError) else str(exc)
    detail = detail.strip().splitlines()[0] if detail.strip() else type(exc).__name__
    if isinstance(exc, IntegrityError):
        return CatalogConflict(f"the catalog refused the change: {detail}")
    if _missing_table(detail):
        return CatalogNotMigrated(f"catalog schema missing ({detail}): run the migrations")
    if isinstance(exc, OperationalError | ProgrammingError | DBAPIError):
        return CatalogUnavailable(f"catalog database unavailable: {detail}")
    return CatalogError(f"catalog error: {detail}")


def _missing_table(detail: str) -> bool:
    # SQLite: "no such table: x"; PostgreSQL: 'relation "x" does not exist'.
    return "no such table" in detail or ("relation" in detail and "does not exist" in detail)
