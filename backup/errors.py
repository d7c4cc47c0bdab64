"""Errors of backup and restore, split by what the operator must do.

BackupError (ColdchainError)
├── BackupDamaged       a file is missing or differs from its digest, or the manifest is
│                       unreadable: this backup cannot be trusted; use another one
├── BackupIncompatible  a format version or catalog revision this coldchain cannot restore
├── TargetNotEmpty      the backup directory, catalog, database or data dir already holds
│                       data; nothing was written (restore: `--force` replaces it)
└── RestoreIncomplete   a restore failed after writing a part: fix the cause, then restore
                        again with `--force`, which replaces that part

Store and catalog failures keep their own types (`StoreError`, `CatalogError`): retry.
"""

from __future__ import annotations

from coldchain.errors import ColdchainError

__all__ = [
    "BackupDamaged",
    "BackupError",
    "BackupIncompatible",
    "RestoreIncomplete",
    "TargetNotEmpty",
]


class BackupError(ColdchainError):
    """Root of the errors below."""


class BackupDamaged(BackupError):
    """The backup does not match its manifest; the message names the file."""


class BackupIncompatible(BackupError):
    """The backup was written by a version this one cannot restore."""


class TargetNotEmpty(BackupError):
    """Writing would overwrite or mix with data that is already there."""


class RestoreIncomplete(BackupError):
    """A restore stopped part-way; the message says what was already written."""
