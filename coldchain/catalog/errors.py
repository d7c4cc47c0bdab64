"""Exceptions of the catalog, split by what the caller must do.

    ColdchainError
    └── CatalogError             anything the catalog refuses or cannot do
        ├── CatalogUnavailable   the database did not answer (or is locked): retry later
        ├── CatalogConflict      the change contradicts what is recorded: refuse it
        │                        (duplicate id, overlapping placement, rewriting history)
        ├── CatalogNotFound      unknown id, or one the viewer may not see (the API's 404)
        └── CatalogNotMigrated   the database has no catalog schema: run `upgrade_catalog`

A bad fleet file is a `coldchain.errors.ConfigError` (refuse to start), as everywhere else.
SQLAlchemy's exceptions are translated into these in one place: `store.catalog_session`.
"""

from __future__ import annotations

from coldchain.errors import ColdchainError

__all__ = [
    "CatalogConflict",
    "CatalogError",
    "CatalogNotFound",
    "CatalogNotMigrated",
    "CatalogUnavailable",
]


class CatalogError(ColdchainError):
    """The catalog could not do what was asked; the message names the ids involved."""


class CatalogUnavailable(CatalogError):
    """Connection refused, timed out or the database was locked: nothing was written."""


class CatalogConflict(CatalogError):
    """The change would contradict the record (constraint, overlap, overwritten history)."""


class CatalogNotFound(CatalogError):
    """No such id, or the viewer may not see it: both answer the same, so ids do not leak."""


class CatalogNotMigrated(CatalogError):
    """The catalog tables are missing or older than this code: run the migrations."""
