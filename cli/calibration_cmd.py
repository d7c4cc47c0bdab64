"""`coldchain calibration add PROBE …` and `coldchain calibration list [PROBE]`: a probe's
calibration certificates (#22, docs/design.md §9), recorded once and audited; a new
certificate supersedes the one before from its calibration date."""

from __future__ import annotations

from datetime import UTC, date, datetime
from typing import Annotated

import typer

from cli.options import (
    Actor,
    CatalogUrl,
    ConfigFile,
    DataDir,
    audit_actor,
    build_settings,
    catalog_engine,
    fail,
)
from coldchain.catalog import catalog_session
from coldchain.catalog.calibration import (
    NewCertificate,
    find_probe,
    list_certificates,
    record_certificate,
)
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound

__all__ = ["calibration_app"]

calibration_app = typer.Typer(
    no_args_is_help=True, help="Calibration certificates of probes (they correct readings)."
)

Probe = Annotated[
    str,
    typer.Argument(metavar="PROBE", help="SITE/UNIT/SENSOR or SHIPMENT/LOGGER/SENSOR"),
]


def _date(option: str, text: str) -> date:
    try:
        return date.fromisoformat(text)
    except ValueError:
        fail(f"{option} {text!r}: expected a date like 2026-03-01", 2)


@calibration_app.command("add")
def add(
    probe: Probe,
    certificate: Annotated[str, typer.Option("--certificate", help="the certificate's id")],
    lab: Annotated[str, typer.Option("--lab", help="the laboratory that issued it")],
    calibrated: Annotated[str, typer.Option("--calibrated", help="date of calibration")],
    due: Annotated[str, typer.Option("--due", help="date the next calibration is due")],
    offset_c: Annotated[
        float | None,
        typer.Option("--offset-c", help="correction in °C the certificate gives (added)"),
    ] = None,
    actor: Actor = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Record a certificate of PROBE; its dates are midnights at the probe's site. Exit 2
    for an unknown probe, a bad date, a due date not after the calibration, or a
    certificate of that id already recorded with other values (never rewritten)."""
    new = NewCertificate(
        certificate, lab, _date("--calibrated", calibrated), _date("--due", due), offset_c
    )
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        who = audit_actor(engine, actor)
        try:
            with catalog_session(engine) as session:
                found = find_probe(session, probe)
                created = record_certificate(session, found, new, actor=who, at=datetime.now(UTC))
        except (CatalogNotFound, CatalogConflict) as exc:
            fail(f"calibration add: {exc}", 2)
    if created:
        typer.echo(f"recorded certificate {certificate} of {probe}")
    else:
        typer.echo(f"certificate {certificate} of {probe} is recorded already: nothing changed")


@calibration_app.command("list")
def list_(
    probe: Annotated[
        str | None,
        typer.Argument(metavar="[PROBE]", help="only this probe's (default: every probe's)"),
    ] = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Recorded certificates, one line each, by probe and calibration date. Exit 2 for an
    unknown probe."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    with catalog_engine(settings) as engine:
        try:
            with catalog_session(engine) as session:
                found = None if probe is None else find_probe(session, probe)
                entries = list_certificates(session, found)
        except (CatalogNotFound, CatalogConflict) as exc:
            fail(f"calibration list: {exc}", 2)
    if not entries:
        typer.echo("no calibration certificates recorded")
    for e in entries:
        offset = "none" if e.offset_c is None else f"{e.offset_c:+g} °C"
        typer.echo(
            f"{e.probe}\t{e.certificate}\tlab {e.lab}\tcalibrated {e.calibrated}\t"
            f"due {e.due}\tcorrection {offset}\trecorded {e.recorded_at:%Y-%m-%dT%H:%M:%SZ} "
            f"by {e.recorded_by}"
        )
