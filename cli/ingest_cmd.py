"""`coldchain ingest`: MQTT -> spool -> InfluxDB."""

from __future__ import annotations

import asyncio

from cli.options import ConfigFile, DataDir, InfluxDb, InfluxUrl, MqttUrl, build_settings
from ingest.service import run_ingest


def ingest(
    mqtt_url: MqttUrl = None,
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Subscribe to readings and write them durably into InfluxDB, losing none."""
    settings = build_settings(
        config, mqtt_url=mqtt_url, influx_url=influx_url, influx_db=influx_db, data_dir=data_dir
    )
    asyncio.run(run_ingest(settings))
