"""`coldchain detect`: streaming excursion detection, alerts and notifications."""

from __future__ import annotations

import asyncio
from typing import Annotated

import typer

from cli.options import (
    CatalogUrl,
    ConfigFile,
    DataDir,
    InfluxDb,
    InfluxUrl,
    MqttUrl,
    build_settings,
)


def detect(
    mqtt_url: MqttUrl = None,
    catalog_url: CatalogUrl = None,
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
    site: Annotated[
        list[str] | None,
        typer.Option(
            "--site",
            help="watch only this site (repeat for several): one partition of the detector",
        ),
    ] = None,
    client_id: Annotated[
        str | None,
        typer.Option("--client-id", help="MQTT client id; one per partition"),
    ] = None,
) -> None:
    """Watch every sensor's readings, raise and resolve alerts, and notify people.

    InfluxDB only receives the detector's counters and alert display points; alerts never
    wait for it.
    """
    # Imported here so other verbs do not load the detector (numpy, SQLAlchemy).
    from alerting.service import run_detector

    settings = build_settings(
        config,
        mqtt_url=mqtt_url,
        catalog_url=catalog_url,
        influx_url=influx_url,
        influx_db=influx_db,
        data_dir=data_dir,
        detect_sites=site or None,
        detect_client_id=client_id,
    )
    asyncio.run(run_detector(settings))
