"""Backup and restore (`coldchain backup DIR`, `coldchain restore DIR`): the catalog as
rows, InfluxDB as line protocol over the v1 API, and the data dir's state, with a manifest
of digests. See README.md in this folder."""

from backup.errors import (
    BackupDamaged,
    BackupError,
    BackupIncompatible,
    RestoreIncomplete,
    TargetNotEmpty,
)
from backup.influx_dump import DEFAULT_SLICE_MS
from backup.influx_load import SeriesRestored
from backup.manifest import MANIFEST_NAME, Manifest
from backup.service import (
    RestoreReport,
    VerifiedBackup,
    create_backup,
    open_backup,
    restore_backup,
)

__all__ = [
    "DEFAULT_SLICE_MS",
    "MANIFEST_NAME",
    "BackupDamaged",
    "BackupError",
    "BackupIncompatible",
    "Manifest",
    "RestoreIncomplete",
    "RestoreReport",
    "SeriesRestored",
    "TargetNotEmpty",
    "VerifiedBackup",
    "create_backup",
    "open_backup",
    "restore_backup",
]
