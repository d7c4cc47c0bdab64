"""`coldchain backup DIR` and `coldchain restore DIR` (docs/design.md §9): the catalog, the
InfluxDB database and the data dir's state, with a manifest of digests (backup/).

Exit codes: 0 done; 1 failed (a store down, a damaged backup, a restore stopped part-way);
2 refused before writing anything (a target not empty, an incompatible backup, bad settings).
"""

from __future__ import annotations

import asyncio
import contextlib
from collections import defaultdict
from collections.abc import AsyncIterator, Iterable
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from backup import (
    BackupDamaged,
    BackupError,
    BackupIncompatible,
    Manifest,
    RestoreReport,
    TargetNotEmpty,
    VerifiedBackup,
    create_backup,
    open_backup,
    restore_backup,
)
from cli.options import (
    CatalogUrl,
    ConfigFile,
    DataDir,
    InfluxDb,
    InfluxUrl,
    build_settings,
    catalog_engine,
    fail,
)
from cli.progress import Tracker, progress_on_stderr
from coldchain.catalog import CatalogError
from coldchain.config import Settings
from coldchain.errors import ConfigError, StoreError
from coldchain.influx import InfluxClient

__all__ = ["backup", "restore"]

Directory = Annotated[Path, typer.Argument(metavar="DIR", help="the backup directory")]
SliceHours = Annotated[
    int,
    typer.Option(
        "--slice-hours", min=1, help="InfluxDB is read this many hours at a time (bounds memory)"
    ),
]
Force = Annotated[
    bool,
    typer.Option(
        "--force",
        help="replace what the targets hold: catalog rows, the InfluxDB database, data-dir state",
    ),
]


def backup(
    directory: Directory,
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    slice_hours: SliceHours = 24,
) -> None:
    """Back up the catalog, the InfluxDB database (every retention policy) and the data
    dir's keys, spool, detector state and dead letters into DIR (new or empty)."""
    settings = build_settings(
        config,
        influx_url=influx_url,
        influx_db=influx_db,
        catalog_url=catalog_url,
        data_dir=data_dir,
    )
    try:
        with progress_on_stderr() as tracker:
            manifest = asyncio.run(_backup(settings, directory, slice_hours * 3_600_000, tracker))
    except (ConfigError, TargetNotEmpty, BackupIncompatible) as exc:
        fail(f"backup refused: {exc}", 2)
    except (StoreError, CatalogError, BackupError, OSError) as exc:
        fail(f"backup failed, nothing kept in {directory}: {exc}", 1)
    _print_backup(directory, manifest, tracker.elapsed_s)


@contextlib.asynccontextmanager
async def _stores(settings: Settings) -> AsyncIterator[tuple[Engine, InfluxClient]]:
    """The catalog engine and the InfluxDB client a backup reads and a restore writes.

    Not migrated here: a backup leaves its source as it is (and refuses a catalog at another
    schema revision), a restore migrates its target only once InfluxDB has answered.
    """
    with catalog_engine(settings, migrate=False, exit_on_error=False) as engine:
        async with InfluxClient.for_settings(settings) as influx:
            yield engine, influx


async def _backup(settings: Settings, directory: Path, slice_ms: int, tracker: Tracker) -> Manifest:
    async with _stores(settings) as (engine, influx):
        return await create_backup(
            directory,
            catalog_engine=engine,
            influx=influx,
            data_dir=settings.data_dir,
            slice_ms=slice_ms,
            progress=tracker,
        )


def _print_backup(directory: Path, manifest: Manifest, elapsed_s: float) -> None:
    rows = sum(table.rows for table in manifest.catalog.tables)
    audit = manifest.catalog.audit
    typer.echo(f"backup complete: {directory}")
    typer.echo(
        f"  catalog: {rows} rows in {len(manifest.catalog.tables)} tables, audit trail "
        f"{audit.entries} entries, head {audit.head_hash}"
    )
    for policy, points in _points_by_policy(
        (s.retention_policy, s.points) for s in manifest.influx.series
    ).items():
        typer.echo(f"  influx {manifest.influx.database}.{policy}: {points} points")
    typer.echo(f"  data dir: {len(manifest.data.files)} files")
    typer.echo(f"  {len(manifest.files)} files, digests in manifest.json")
    points = sum(series.points for series in manifest.influx.series)
    typer.echo(
        f"backed up to {directory}: {rows:,} catalog rows, {points:,} points, "
        f"{len(manifest.data.files)} data-dir files in {elapsed_s:.1f} s"
    )


def _points_by_policy(pairs: Iterable[tuple[str, int]]) -> dict[str, int]:
    totals: dict[str, int] = defaultdict(int)
    for policy, points in pairs:
        totals[policy] += points
    return dict(totals)


def restore(
    directory: Directory,
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    force: Force = False,
) -> None:
    """Restore the backup in DIR into an empty catalog, InfluxDB database and data dir.
    Every file is checked against the manifest's digests before anything is written."""
    settings = build_settings(
        config,
        influx_url=influx_url,
        influx_db=influx_db,
        catalog_url=catalog_url,
        data_dir=data_dir,
    )
    try:
        verified = open_backup(directory)
    except BackupDamaged as exc:
        fail(f"restore refused, nothing written: damaged backup: {exc}", 1)
    except BackupIncompatible as exc:
        fail(f"restore refused, nothing written: {exc}", 2)
    try:
        with progress_on_stderr() as tracker:
            report = asyncio.run(_restore(settings, verified, force, tracker))
    except (ConfigError, TargetNotEmpty, BackupIncompatible) as exc:
        hint = "" if force else "; --force replaces it"
        fail(f"restore refused, nothing written: {exc}{hint}", 2)
    except (StoreError, CatalogError, BackupError, OSError) as exc:
        fail(f"restore failed: {exc}", 1)
    _print_restore(directory, report, tracker.elapsed_s)


async def _restore(
    settings: Settings, verified: VerifiedBackup, force: bool, tracker: Tracker
) -> RestoreReport:
    async with _stores(settings) as (engine, influx):
        return await restore_backup(
            verified,
            catalog_engine=engine,
            influx=influx,
            data_dir=settings.data_dir,
            force=force,
            progress=tracker,
        )


def _print_restore(directory: Path, report: RestoreReport, elapsed_s: float) -> None:
    typer.echo(f"restore complete from {directory}")
    typer.echo(f"  catalog: {sum(report.tables.values())} rows in {len(report.tables)} tables")
    written = _points_by_policy((s.retention_policy, s.written) for s in report.series)
    expired = _points_by_policy((s.retention_policy, s.expired) for s in report.series)
    for policy, points in written.items():
        skipped = (
            f" ({expired[policy]} past the retention policy, skipped)" if expired[policy] else ""
        )
        typer.echo(f"  influx {policy}: {points} points{skipped}")
    typer.echo(f"  data dir: {report.files} files")
    typer.echo(
        f"restored from {directory}: {sum(report.tables.values()):,} catalog rows, "
        f"{sum(written.values()):,} points, {report.files} data-dir files in {elapsed_s:.1f} s"
    )
