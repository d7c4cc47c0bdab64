"""Exceptions of the QA export, split by what the caller must do.

ExportError
├── ExportForbidden   the viewer's role may not export batches (API: 403)
├── ExportFormatError an unknown format was asked for (API: 400, CLI: exit 2)
└── VerifyError       a file is not an intact, signed export (CLI `verify`: exit 1)
    └── KeyMissing    no trusted public key to check the signature with (exit 2)

Unknown or foreign batches raise the catalog's `CatalogNotFound` (API: 404), InfluxDB
trouble the domain's `StoreUnavailable` / `StoreRejected`; neither is re-wrapped here.
"""

from __future__ import annotations

from coldchain.errors import ColdchainError

__all__ = ["ExportError", "ExportForbidden", "ExportFormatError", "KeyMissing", "VerifyError"]


class ExportError(ColdchainError):
    """Root of the export's own errors."""


class ExportForbidden(ExportError):
    """Only QA, admins and the batch's own sponsor may export a batch record."""


class ExportFormatError(ExportError):
    """The format is not one of csv, json, pdf."""


class VerifyError(ExportError):
    """The file was changed after signing, or never was a signed export."""


class KeyMissing(VerifyError):
    """The digest could be checked, the signature could not: no trusted public key."""
