"""`coldchain logger import FILE`: a USB logger's own export into the pipeline.

The receiving warehouse plugs the logger in; its file is the only record of that leg. The
readings go over MQTT as a logger backfill (ingest and the detector treat them like any
late upload), the device's own summary and alarm record go into the catalog beside the
shipment or unit. The order that keeps it all-or-nothing is logger_import/importer.py's.
It publishes as the import account `coldchain-import` (logger_import/connection.py), never
with a site's gateway password.
"""

from __future__ import annotations

import asyncio
import os
from dataclasses import replace
from pathlib import Path
from typing import Annotated

import typer
from sqlalchemy import Engine

from cli.options import (
    Actor,
    CatalogUrl,
    ConfigFile,
    DataDir,
    MqttUrl,
    audit_actor,
    build_settings,
    catalog_engine,
    fail,
)
from cli.progress import Tracker, progress_on_stderr
from coldchain.catalog.errors import CatalogNotFound
from coldchain.config import MqttEndpoint
from coldchain.errors import ConfigError, MqttPublishFailed
from coldchain.loggers import LoggerFileError
from logger_import.connection import ImportConnection, import_endpoint
from logger_import.importer import (
    ImportOutcome,
    PreparedImport,
    import_rules_only,
    prepare_import,
    publish_backfill,
    record_import,
)

__all__ = ["logger_app"]

logger_app = typer.Typer(no_args_is_help=True, help="USB data loggers' own exports.")


@logger_app.command("import")
def logger_import(
    file: Annotated[Path, typer.Argument(metavar="FILE", help="the logger's text export")],
    shipment: Annotated[
        str | None, typer.Option("--shipment", help="the shipment the logger travelled with")
    ] = None,
    unit: Annotated[
        str | None, typer.Option("--unit", help="SITE/UNIT, for a logger kept in a unit")
    ] = None,
    logger: Annotated[
        str | None,
        typer.Option(
            "--logger",
            help="the shipment's logger id (default: its only one, or "
            "the one whose id is the device's serial)",
        ),
    ] = None,
    sensor: Annotated[str | None, typer.Option("--sensor", help="default: the only one")] = None,
    timezone: Annotated[
        str | None,
        typer.Option("--timezone", help="IANA zone of the device clock (default: the site's)"),
    ] = None,
    import_rules: Annotated[
        bool,
        typer.Option("--import-rules", help="store the device's alarm rules as the target's"),
    ] = False,
    timeout_s: Annotated[float, typer.Option("--timeout", help="seconds to wait for acks")] = 60.0,
    mqtt_url: MqttUrl = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    actor: Actor = None,
) -> None:
    """Import FILE (Berlinger Fridge-tag / Q-tag text export): refuse it whole if it is not
    intact, else publish its readings as a logger backfill and record the device's own
    summary, alarm record (and with --import-rules its alarm rules) in the catalog.
    Importing the same file again changes nothing."""
    settings = build_settings(config, mqtt_url=mqtt_url, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        try:
            prepared = prepare_import(
                engine,
                file,
                shipment=shipment,
                unit=unit,
                logger=logger,
                sensor=sensor,
                timezone=timezone,
            )
            _describe(prepared)
            if prepared.existing is not None:
                _already(engine, prepared, who, import_rules)
                return
            rules_first: tuple[int, ...] = ()
            if import_rules:
                # Before the readings, so the detector judges them by the device's rules
                # too: the first message tells it to reload the catalog (storing is
                # idempotent, so a failed publish and a re-run do not add the rules twice).
                rules_first = import_rules_only(engine, prepared, actor=who)
            try:
                with progress_on_stderr() as tracker:
                    sent = asyncio.run(
                        _publish(
                            prepared,
                            import_endpoint(settings),
                            timeout_s,
                            tracker,
                            catalog_changed=import_rules,
                        )
                    )
            except (MqttPublishFailed, TimeoutError, OSError) as exc:
                fail(
                    f"publishing failed, nothing recorded: {exc or 'timed out waiting for acks'}"
                    "; run the same import again to complete it",
                    1,
                )
            outcome = record_import(engine, prepared, actor=who, import_rules=import_rules)
            _report(prepared, replace(outcome, rule_ids=rules_first + outcome.rule_ids), sent)
            if outcome.status == "imported":
                typer.echo(
                    f"imported {file.name} to {prepared.target.label}: "
                    f"{outcome.readings:,} readings in {tracker.elapsed_s:.1f} s"
                )
        except LoggerFileError as exc:
            fail(f"refused, nothing published or recorded: {exc}", 2)
        except ConfigError as exc:
            fail(f"nothing published or recorded: {exc}", 2)
        except CatalogNotFound as exc:
            fail(f"not found: {exc}", 1)


def _describe(prepared: PreparedImport) -> None:
    f = prepared.file
    typer.echo(
        f"{prepared.path.name}: {f.device_model} {f.serial}, {len(f.readings)} readings"
        + (f" every {f.log_interval_min} min" if f.log_interval_min else "")
        + f", {len(f.rules)} alarm rules; {f.signature}"
    )
    typer.echo(f"target: {prepared.target.label}, device clock read in {prepared.target.timezone}")
    for note in f.notes:
        typer.echo(f"note: {note}")
    for other in prepared.elsewhere:
        typer.echo(f"warning: this file was also imported for {other}", err=True)


def _already(engine: Engine, prepared: PreparedImport, actor: str, import_rules: bool) -> None:
    existing = prepared.existing
    assert existing is not None
    typer.echo(
        f"already imported (report {existing.id}, sha256 {prepared.file.sha256[:12]}…, "
        f"{existing.imported_at:%Y-%m-%d %H:%M}Z by {existing.imported_by}): nothing to do"
    )
    if import_rules:
        created = import_rules_only(engine, prepared, actor=actor)
        typer.echo(
            f"alert rules added: {list(created)}" if created else "alert rules: already there"
        )


async def _publish(
    prepared: PreparedImport,
    endpoint: MqttEndpoint,
    timeout_s: float,
    tracker: Tracker,
    *,
    catalog_changed: bool,
) -> int:
    """Publish over one connection as the import account and wait for every PUBACK."""
    if not prepared.file.readings:
        return 0
    site = prepared.target.site
    client_id = f"coldchain-import-{site}-{os.getpid()}"
    async with ImportConnection(endpoint, site, client_id=client_id) as connection:
        return await publish_backfill(
            prepared,
            connection,
            timeout_s=timeout_s,
            catalog_changed=catalog_changed,
            progress=tracker,
        )


def _report(prepared: PreparedImport, outcome: ImportOutcome, sent: int) -> None:
    if outcome.status == "already imported":
        typer.echo(f"already imported meanwhile (report {outcome.report_id}): nothing recorded")
        return
    first, last = prepared.first_reading_at, prepared.last_reading_at
    if first is None or last is None:
        typer.echo("imported: no log rows, the device's daily summaries only")
    else:
        typer.echo(
            f"imported: {outcome.readings} readings in {sent} messages acknowledged by the "
            f"broker ({first:%Y-%m-%d %H:%M}Z .. {last:%Y-%m-%d %H:%M}Z)"
        )
    typer.echo(f"catalog: logger report {outcome.report_id}, audited")
    if outcome.rule_ids:
        typer.echo(f"alert rules created: {list(outcome.rule_ids)}")
