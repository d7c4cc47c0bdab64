"""Entry point of the `coldchain` command; each verb lives in a module of its own."""

from __future__ import annotations

import logging
from typing import Annotated

import typer

from cli import (
    api_cmd,
    backup_cmd,
    broker_cmd,
    budget_cmd,
    calibration_cmd,
    catalog_cmd,
    dashboards_cmd,
    deadletters_cmd,
    detect_cmd,
    export_cmd,
    health_cmd,
    ingest_cmd,
    logger_cmd,
    simulate_cmd,
    sponsor_cmd,
    up_cmd,
)

app = typer.Typer(no_args_is_help=True, add_completion=False)


@app.callback()
def coldchain(
    log_level: Annotated[str, typer.Option("--log-level", envvar="COLDCHAIN_LOG_LEVEL")] = "INFO",
) -> None:
    """Cold-chain telemetry pipeline: ingest, detect, serve, simulate, export."""
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s level=%(levelname)s logger=%(name)s %(message)s",
    )
    # One line per HTTP request to InfluxDB would drown the pipeline's own events.
    logging.getLogger("httpx").setLevel(logging.WARNING)


app.command("ingest")(ingest_cmd.ingest)
app.command("simulate")(simulate_cmd.simulate)
app.command("up")(up_cmd.up)
app.command("detect")(detect_cmd.detect)
app.command("export")(export_cmd.export)
app.command("verify")(export_cmd.verify)
app.command("api")(api_cmd.api)
app.command("backup")(backup_cmd.backup)
app.command("restore")(backup_cmd.restore)
app.command("health")(health_cmd.health)

app.add_typer(catalog_cmd.catalog_app, name="catalog")
app.add_typer(catalog_cmd.audit_app, name="audit")
app.add_typer(catalog_cmd.user_app, name="user")
app.add_typer(catalog_cmd.token_app, name="token")
app.add_typer(deadletters_cmd.deadletters_app, name="deadletters")
app.add_typer(dashboards_cmd.dashboards_app, name="dashboards")
app.add_typer(broker_cmd.broker_app, name="broker")
app.add_typer(broker_cmd.gateway_app, name="gateway")
app.add_typer(broker_cmd.influx_app, name="influx")
app.add_typer(logger_cmd.logger_app, name="logger")
app.add_typer(sponsor_cmd.sponsor_app, name="sponsor")
app.add_typer(calibration_cmd.calibration_app, name="calibration")
app.add_typer(budget_cmd.budget_app, name="budget")

if __name__ == "__main__":
    app()
