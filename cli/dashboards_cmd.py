"""`coldchain dashboards build|check|setup-influx|provision`: Grafana dashboards as code."""

from __future__ import annotations

import asyncio
import json
from dataclasses import replace
from pathlib import Path
from typing import Annotated, Any

import typer

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
from coldchain import times
from coldchain.config import Settings
from coldchain.downsampling import downsample_range, ensure_downsampling
from coldchain.errors import ConfigError, StoreError
from coldchain.fleet import load_fleet
from coldchain.influx import InfluxClient
from coldchain.judgement.calibration import Calibration
from coldchain.judgement.validity import ReadingValidity
from coldchain.models import SensorKey
from dashboards.check import check_dashboards
from dashboards.influxql import MIN_INTERVAL
from dashboards.inputs import BuildInputs, inputs_from_fleet
from dashboards.limits import DEFAULT_ALERT_MARGIN_C
from dashboards.macros import parse_interval_ms
from dashboards.provision import ProvisionError, provision
from dashboards.render import build_dashboards, generated_markdown, update_readme, write_dashboards

dashboards_app = typer.Typer(no_args_is_help=True, help="Grafana dashboards as code.")

FleetOption = Annotated[
    Path | None, typer.Option("--fleet", help="fleet file: per-unit limits and shipments")
]
DirOption = Annotated[Path, typer.Option("--dir", "-o", help="directory of the built JSON")]
CatalogOption = Annotated[
    bool,
    typer.Option(
        "--catalog",
        help="calibration certificates from the catalog (the settings' catalog URL) instead "
        "of the fleet file; implied by --catalog-url",
    ),
]


def _inputs(fleet: Path | None, alert_margin: float, validity: ReadingValidity) -> BuildInputs:
    if fleet is None:
        return BuildInputs(validity=validity)
    try:
        return inputs_from_fleet(load_fleet(fleet), alert_margin, validity)
    except ConfigError as exc:
        fail(f"fleet error: {exc}", 2)


def _catalog_corrections(settings: Settings) -> dict[SensorKey, Calibration]:
    """The catalog's probes whose certificates correct their readings: those of the fleet
    file as imported and every one `coldchain calibration add` recorded since. Read only:
    a catalog the migrations have not made is an error (exit 1), not an empty one."""
    # Imported here: the other verbs of this group need no SQLAlchemy.
    from coldchain.catalog import catalog_session
    from coldchain.catalog.calibration import calibrations

    with catalog_engine(settings, migrate=False) as engine, catalog_session(engine) as session:
        found = calibrations(session)
    return {key: c for key, c in sorted(found.items()) if c.corrects}


@dashboards_app.command("build")
def build(
    out: DirOption,
    fleet: FleetOption = None,
    readme: Annotated[
        Path | None, typer.Option("--readme", help="update the generated part of this README")
    ] = None,
    alert_margin: Annotated[
        float, typer.Option("--alert-margin", min=0, help="alert limits this far inside, °C")
    ] = DEFAULT_ALERT_MARGIN_C,
    catalog: CatalogOption = False,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Render every dashboard to OUT/{uid}.json (deterministic) and the panel list; panels
    leave out readings that are not temperatures by the settings' reading-validity rule
    (`detect_error_values_c`, `detect_sensor_min_c`/`_max_c`) and draw each probe's
    readings corrected by its calibration certificates: the fleet file's
    (`sensors[].calibration`), or with --catalog/--catalog-url the catalog's, the record
    (exit 1 when it cannot be read, 2 for a bad catalog URL)."""
    settings = build_settings(config, catalog_url=catalog_url, data_dir=data_dir)
    validity = ReadingValidity.from_settings(settings)
    inputs = _inputs(fleet, alert_margin, validity)
    source = "the fleet file" if fleet is not None else None
    if catalog or catalog_url is not None:
        inputs = replace(inputs, corrections=_catalog_corrections(settings))
        source = "the catalog"
    if source is not None:
        typer.echo(f"calibration corrections of {len(inputs.corrections)} probes, from {source}")
    dashboards = build_dashboards(inputs)
    for path in write_dashboards(dashboards, out):
        typer.echo(f"wrote {path}")
    markdown = generated_markdown(dashboards, inputs)
    (out / "panels.md").write_text(markdown, encoding="utf-8")
    if readme is not None and update_readme(readme, markdown):
        typer.echo(f"updated {readme}")


def _load_dir(directory: Path) -> dict[str, dict[str, Any]]:
    dashboards: dict[str, dict[str, Any]] = {}
    for path in sorted(directory.glob("*.json")):
        data = json.loads(path.read_text(encoding="utf-8"))
        dashboards[str(data["uid"])] = data
    if not dashboards:
        fail(f"no dashboard JSON in {directory}", 2)
    return dashboards


@dashboards_app.command("setup-influx")
def setup_influx(
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    config: ConfigFile = None,
    backfill: Annotated[
        str | None, typer.Option("--backfill", help="also downsample history: e.g. 7d back")
    ] = None,
) -> None:
    """Create the downsampled series' retention policies (idempotent, needs an admin);
    --backfill recomputes the downsampled buckets of that much history (ingest computes
    the buckets of what it writes)."""
    settings = build_settings(config, influx_url=influx_url, influx_db=influx_db)
    validity = ReadingValidity.from_settings(settings)

    async def run() -> None:
        async with InfluxClient.for_settings(settings) as influx:
            await ensure_downsampling(influx)
            if backfill:
                now_ms = times.now_ms()
                written = await downsample_range(
                    influx, now_ms - parse_interval_ms(backfill), now_ms, validity=validity
                )
                typer.echo(f"backfilled {written} downsampled points")

    try:
        asyncio.run(run())
    except (StoreError, ValueError) as exc:
        fail(f"setup-influx: {exc}", 1)
    typer.echo(f"downsampling ready in {settings.influx_db}")


@dashboards_app.command("check")
def check(
    directory: DirOption = Path("deploy/grafana/dashboards"),
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    config: ConfigFile = None,
    time_from: Annotated[
        str | None, typer.Option("--from", help="override each dashboard's range start")
    ] = None,
    setup: Annotated[
        bool, typer.Option("--setup/--no-setup", help="create the RPs and backfill the range")
    ] = True,
    verbose: Annotated[bool, typer.Option("--verbose", "-v")] = False,
) -> None:
    """Run every panel query of the built JSON against InfluxDB, expanded like Grafana.

    Exits 1 naming each panel whose query errors or returns no series.
    """
    settings = build_settings(config, influx_url=influx_url, influx_db=influx_db)
    validity = ReadingValidity.from_settings(settings)
    dashboards = _load_dir(directory)

    async def run() -> list[Any]:
        now_ms = times.now_ms()
        async with InfluxClient.for_settings(settings) as influx:
            if setup:  # the band panels read the downsampled RPs: fill them for the range
                await ensure_downsampling(influx)
                await downsample_range(influx, now_ms - 8 * 86_400_000, now_ms, validity=validity)
            return await check_dashboards(
                influx, dashboards, now_ms=now_ms, min_interval=MIN_INTERVAL, time_from=time_from
            )

    try:
        results = asyncio.run(run())
    except StoreError as exc:
        fail(f"check: {exc}", 1)
    failed = [r for r in results if not r.ok]
    for result in results:
        if verbose or not result.ok:
            typer.echo(("FAIL " if not result.ok else "ok   ") + result.describe())
    typer.echo(f"{len(results) - len(failed)} of {len(results)} queries returned series")
    if failed:
        raise typer.Exit(1)


@dashboards_app.command("provision")
def provision_cmd(
    grafana_url: Annotated[str, typer.Option("--grafana-url", help="http://grafana:3000")],
    token: Annotated[str, typer.Option("--token", envvar="GRAFANA_TOKEN", help="service token")],
    directory: DirOption = Path("deploy/grafana/dashboards"),
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    config: ConfigFile = None,
) -> None:
    """Push the data source and the built dashboards to a running Grafana."""
    settings = build_settings(config, influx_url=influx_url, influx_db=influx_db)
    try:
        for line in provision(grafana_url, token, settings, _load_dir(directory)):
            typer.echo(line)
    except ProvisionError as exc:
        fail(f"provision: {exc}", 1)
