"""Backup and restore of one installation: data-dir state, catalog and InfluxDB.

Backup order: the data-dir files first (a spool copied before InfluxDB is read holds
everything not yet in InfluxDB then), the catalog in one read transaction, then InfluxDB,
and the manifest last. A backup that fails leaves nothing behind: what it wrote is removed,
and without a manifest no directory can pass for a finished backup.

Restore order: every digest is checked before anything is written (`open_backup`), then
every target is checked to be empty (unless `force`), then the catalog (one transaction),
InfluxDB and the data-dir files. Each part is verified as it is written (row counts and
the audit chain's head; point counts per file).
"""

from __future__ import annotations

import asyncio
import importlib.metadata
import logging
import os
import shutil
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path

from sqlalchemy import Engine

from backup.catalog import dump_catalog, first_nonempty_table, load_catalog
from backup.errors import BackupIncompatible, RestoreIncomplete, TargetNotEmpty
from backup.files import backup_data_dir, data_dir_holdings, restore_data_dir
from backup.influx_dump import DEFAULT_SLICE_MS, dump_influx
from backup.influx_load import SeriesRestored, database_holdings, restore_influx
from backup.manifest import (
    FORMAT,
    VERSION,
    Manifest,
    Sources,
    read_manifest,
    redact_url,
    verify_files,
    write_manifest,
)
from backup.output import private_directory
from backup.progress import Progress, no_progress
from coldchain.catalog.migrate import head_revision, upgrade_catalog
from coldchain.errors import StoreUnavailable
from coldchain.influx import InfluxClient

__all__ = ["RestoreReport", "VerifiedBackup", "create_backup", "open_backup", "restore_backup"]

log = logging.getLogger(__name__)


def _version() -> str:
    try:
        return importlib.metadata.version("coldchain")
    except importlib.metadata.PackageNotFoundError:
        return "unknown"


async def _require_influx(influx: InfluxClient) -> None:
    if not await influx.ping():
        raise StoreUnavailable(f"InfluxDB at {redact_url(influx.url)} does not answer /ping")


def _prepare_directory(directory: Path) -> bool:
    """Make sure `directory` is new or empty (a backup never mixes with another);
    returns whether it was created here."""
    if directory.exists():
        if not directory.is_dir() or any(directory.iterdir()):
            raise TargetNotEmpty(
                f"{directory} is not an empty directory: a backup goes into a new or empty one"
            )
        directory.chmod(0o700)
        return False
    private_directory(directory)
    return True


def _discard(directory: Path, created: bool) -> None:
    if created:
        shutil.rmtree(directory, ignore_errors=True)
        return
    for child in directory.iterdir():
        if child.is_dir() and not child.is_symlink():
            shutil.rmtree(child, ignore_errors=True)
        else:
            child.unlink(missing_ok=True)


async def create_backup(
    directory: Path,
    *,
    catalog_engine: Engine,
    influx: InfluxClient,
    data_dir: Path,
    slice_ms: int = DEFAULT_SLICE_MS,
    progress: Progress = no_progress,
) -> Manifest:
    """Write a complete backup into `directory` (new or empty); returns its manifest;
    `progress` hears each step and each series' points as they are written.

    Raises:
        TargetNotEmpty: `directory` holds something.
        BackupIncompatible: the catalog is not at this coldchain's schema revision.
        StoreError / CatalogError / BackupError / OSError: a source failed; nothing is kept.
    """
    await _require_influx(influx)
    source_dir = await asyncio.to_thread(os.path.abspath, data_dir)
    created = await asyncio.to_thread(_prepare_directory, directory)
    try:
        started = datetime.now(UTC)
        progress("data dir", 0, None)
        data, data_files = await asyncio.to_thread(backup_data_dir, data_dir, directory)
        progress("catalog", 0, None)
        catalog, catalog_files = await asyncio.to_thread(dump_catalog, catalog_engine, directory)
        series, influx_files = await dump_influx(
            influx, directory, slice_ms=slice_ms, progress=progress
        )
        manifest = Manifest(
            format=FORMAT,
            version=VERSION,
            created_at=started,
            completed_at=datetime.now(UTC),
            coldchain_version=_version(),
            sources=Sources(
                catalog_url=catalog_engine.url.set(password=None).render_as_string(
                    hide_password=False
                ),
                influx_url=redact_url(influx.url),
                influx_database=influx.database,
                data_dir=source_dir,
            ),
            catalog=catalog,
            influx=series,
            data=data,
            files=[*data_files, *catalog_files, *influx_files],
        )
        await asyncio.to_thread(write_manifest, directory, manifest)
    except BaseException:
        _discard(directory, created)  # also on Ctrl-C: no half backup stays behind
        raise
    log.info("backup: complete directory=%s files=%d", directory, len(manifest.files))
    return manifest


@dataclass(frozen=True, slots=True)
class VerifiedBackup:
    """A backup whose every file matched its digest when `open_backup` read it."""

    directory: Path
    manifest: Manifest


def open_backup(directory: Path) -> VerifiedBackup:
    """Read the manifest and check every file against it, before anything is written.

    Raises:
        BackupDamaged: the manifest or a file is missing, unreadable or altered.
        BackupIncompatible: another format version or catalog schema revision.
    """
    manifest = read_manifest(directory)
    verify_files(directory, manifest)
    head = head_revision()
    if manifest.catalog.revision != head:
        raise BackupIncompatible(
            f"the backup's catalog is at schema revision {manifest.catalog.revision}, this "
            f"coldchain's at {head}: restore it with the coldchain version that wrote it"
        )
    return VerifiedBackup(directory, manifest)


@dataclass(frozen=True, slots=True)
class RestoreReport:
    """What a restore wrote: rows per table, points per series, data-dir files."""

    tables: dict[str, int]
    series: list[SeriesRestored]
    files: int


async def _refuse_occupied(catalog_engine: Engine, influx: InfluxClient, data_dir: Path) -> None:
    table = await asyncio.to_thread(first_nonempty_table, catalog_engine)
    reasons = [
        f"catalog table {table} already holds rows" if table else None,
        await database_holdings(influx),
        data_dir_holdings(data_dir),
    ]
    found = [reason for reason in reasons if reason]
    if found:
        raise TargetNotEmpty("; ".join(found))


async def restore_backup(
    backup: VerifiedBackup,
    *,
    catalog_engine: Engine,
    influx: InfluxClient,
    data_dir: Path,
    force: bool = False,
    progress: Progress = no_progress,
) -> RestoreReport:
    """Restore `backup` into the catalog, InfluxDB database and data dir given; `progress`
    hears each step and each series' points as they are written.

    Each target must be empty unless `force`, which replaces what is there (catalog rows
    deleted, InfluxDB database dropped, the data-dir areas emptied).

    Raises:
        TargetNotEmpty: a target holds data and `force` is False; nothing was written.
        RestoreIncomplete: a step failed after the catalog had been written.
        StoreError / CatalogError / BackupError: a step failed before anything was written.
    """
    await _require_influx(influx)
    await asyncio.to_thread(upgrade_catalog, catalog_engine)
    if not force:
        await _refuse_occupied(catalog_engine, influx, data_dir)
    root, manifest = backup.directory, backup.manifest
    progress("catalog", 0, None)
    await asyncio.to_thread(load_catalog, catalog_engine, root, manifest.catalog, replace=force)
    done = ["catalog"]
    try:
        series = await restore_influx(
            influx, root, manifest.influx, replace=force, progress=progress
        )
        done.append("InfluxDB")
        progress("data dir", 0, None)
        files = await asyncio.to_thread(
            restore_data_dir, root, data_dir, manifest.data, replace=force
        )
    except Exception as exc:
        raise RestoreIncomplete(
            f"{exc} (already restored: {', '.join(done)}; fix the cause, then restore "
            "again with --force)"
        ) from exc
    tables = {dump.table: dump.rows for dump in manifest.catalog.tables}
    log.info("restore: complete directory=%s", root)
    return RestoreReport(tables=tables, series=series, files=files)
