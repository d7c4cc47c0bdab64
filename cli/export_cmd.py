"""`coldchain export BATCH` and `coldchain verify FILE`: the signed QA batch-release record
(docs/design.md §7, §9) and the check that a file is still what was exported."""

from __future__ import annotations

import asyncio
import gc
import os
from pathlib import Path
from typing import Annotated, NoReturn

import typer
from sqlalchemy import Engine

from api.export import (
    FORMATS,
    PUBLIC_KEY_NAME,
    ExportDone,
    ExportError,
    ExportSigner,
    KeyMissing,
    VerifyError,
    export_batch,
    load_public_key,
)
from api.export.esignatures import verify_export
from api.export.findings import SCREEN
from cli.options import (
    Actor,
    CatalogUrl,
    ConfigFile,
    DataDir,
    InfluxDb,
    InfluxUrl,
    audit_actor,
    build_settings,
    catalog_engine,
    fail,
)
from cli.progress import Tracker, progress_on_stderr
from coldchain.catalog import CatalogError
from coldchain.catalog.errors import CatalogNotFound
from coldchain.config import Settings
from coldchain.errors import ConfigError, StoreError
from coldchain.influx import InfluxClient

__all__ = ["export", "verify"]

Format = Annotated[str, typer.Option("--format", "-f", help=" | ".join(FORMATS))]
Output = Annotated[Path, typer.Option("--output", "-o", help="the file to write")]
PublicKey = Annotated[
    Path | None,
    typer.Option("--public-key", help=f"trusted key (default: DATA_DIR/keys/{PUBLIC_KEY_NAME})"),
]


def export(
    batch: Annotated[str, typer.Argument(metavar="BATCH", help="the batch (lot) id")],
    output: Output,
    fmt: Format = "csv",
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
) -> None:
    """Write the signed record of BATCH (every placement, reading, gap, excursion, MKT,
    budget, finding and the automated screen's verdict) to OUTPUT, and record the export in
    the audit trail."""
    settings = build_settings(
        config,
        influx_url=influx_url,
        influx_db=influx_db,
        catalog_url=catalog_url,
        data_dir=data_dir,
    )
    # Written beside the target and renamed when complete: a failed export leaves no file
    # that looks like a record.
    partial = output.with_name(f".{output.name}.partial")
    # Everything imported so far lives as long as the process: out of the collector's
    # sight, full collections triggered by parsing millions of readings stay cheap.
    gc.freeze()
    try:
        with (
            catalog_engine(settings, exit_on_error=False) as engine,
            progress_on_stderr() as tracker,
        ):
            who = audit_actor(engine, actor)
            done = asyncio.run(_export(settings, engine, batch, fmt, partial, who, tracker))
        partial.replace(output)
    except (ConfigError, ExportError) as exc:
        _fail(partial, f"refused: {exc}", 2)
    except CatalogNotFound as exc:
        _fail(partial, f"not found: {exc}", 1)
    except (CatalogError, StoreError) as exc:
        _fail(partial, f"export failed, no file written: {exc}", 1)
    except OSError as exc:
        _fail(partial, f"cannot write {output}: {exc}", 1)
    typer.echo(
        f"exported batch {batch} as {fmt} to {output}: sha256 {done.sha256}, "
        f"audit entry {done.audit_seq}"
    )
    typer.echo(f"verdict: {done.verdict} ({SCREEN})")
    for finding in done.findings:
        typer.echo(f"  - {finding}")
    typer.echo(
        f"exported {batch} as {fmt}: {done.readings:,} readings in {tracker.elapsed_s:.1f} s, "
        f"sha256 {done.sha256}"
    )


def _fail(partial: Path, message: str, code: int) -> NoReturn:
    partial.unlink(missing_ok=True)
    fail(message, code)


async def _export(
    settings: Settings,
    engine: Engine,
    batch: str,
    fmt: str,
    path: Path,
    actor: str,
    tracker: Tracker,
) -> ExportDone:
    done = ExportDone()
    signer = await asyncio.to_thread(ExportSigner.load_or_create, settings.data_dir, catalog=engine)
    async with InfluxClient.for_settings(settings) as influx:
        with path.open("wb") as handle:
            stream = export_batch(
                batch,
                fmt,
                influx=influx,
                catalog_engine=engine,
                signer=signer,
                actor=actor,
                done=done,
                settings=settings,
                progress=tracker,
            )
            async for chunk in stream:
                handle.write(chunk)
            handle.flush()
            os.fsync(handle.fileno())
    return done


def verify(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="an exported CSV, JSON or PDF")],
    public_key: PublicKey = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Check that FILE is intact: its SHA-256 digest and the server's signature, then list
    and check each electronic signature of its manifest (one line each). Exit 0 if intact,
    1 if changed, not a signed export, or a signature fails (its content, its seal, or it
    binds another record), 2 if there is no trusted key to check with."""
    settings = build_settings(config, data_dir=data_dir)
    key_path = public_key or settings.data_dir / "keys" / PUBLIC_KEY_NAME
    try:
        key = load_public_key(key_path)
    except KeyMissing as exc:
        fail(f"cannot verify {file}: {exc}", 2)
    try:
        result, signatures = verify_export(file, key)
    except VerifyError as exc:
        fail(f"NOT INTACT: {file}: {exc}", 1)
    failed = [s for s in signatures or () if s.problems]
    if not failed:
        typer.echo(
            f"intact: {file} ({result.fmt}, {result.body_bytes} bytes signed), "
            f"sha256 {result.sha256}, signed by key {result.key_id}"
        )
    if signatures is None:
        typer.echo("signatures: none listed (exported before records carried a manifest)")
    elif not signatures:
        typer.echo("signatures: none (nothing about this batch was signed when exported)")
    for check in signatures or ():
        typer.echo(check.line())
    if failed:
        fail(
            f"NOT INTACT: {file}: the seal holds, but "
            + "; ".join(f"signature {s.number}: {'; '.join(s.problems)}" for s in failed),
            1,
        )
