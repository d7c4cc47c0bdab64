"""Exceptions of the catalog, split by what the caller must do.

    ColdchainError
    └── CatalogError             anything the catalog refuses or cannot do
        ├── CatalogUnavailable   the database did not answer (or is locked): retry later
        ├── CatalogConflict      the change contradicts what is recorded: refuse it
        │   │                    (duplicate id, overlapping placement, rewriting history)
        │   ├── ReasonRequired   a change of record asked for without a reason for change
        │   └── SegregationOfDuties  one person would take two steps that need two
        ├── CatalogNotFound      unknown id, or one the viewer may not see (the API's 404)
        ├── CatalogNotMigrated   the database has no catalog schema: run `upgrade_catalog`
        └── SignatureRefused     an electronic signature was refused (wrong password, a
                                 role that may not sign it, the same person twice)

A bad fleet file is a `coldchain.errors.ConfigError` (refuse to start), as everywhere else.
SQLAlchemy's exceptions are translated into these in one place: `store.catalog_session`.
"""

from __future__ import annotations

from collections.abc import Sequence

from coldchain.errors import ColdchainError

__all__ = [
    "CatalogConflict",
    "CatalogError",
    "CatalogNotFound",
    "CatalogNotMigrated",
    "CatalogUnavailable",
    "ReasonRequired",
    "SegregationOfDuties",
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


class ReasonRequired(CatalogConflict):
    """A change to the record (a product's storage condition, a placement's end, a user's
    role, sponsor or sites) was asked for without a reason for change (21 CFR 11.10(e),
    EU GMP Annex 11 §9): nothing was written. `changes` names each change in words."""

    def __init__(self, changes: Sequence[str]) -> None:
        self.changes = tuple(changes)
        super().__init__("a reason for change is required for: " + "; ".join(self.changes))


class SegregationOfDuties(CatalogConflict):
    """One person would take two steps that need two persons (e.g. acknowledge an alert
    and then close it as QA): refused, nothing written."""


class SignatureRefused(CatalogError):
    """A signature was not made: the password was wrong, the signer's role may not sign
    this, or the two-person rule forbids it. Nothing was written (the API's 403)."""
