"""`coldchain detect`: streaming excursion detection, alerts and notifications."""

from __future__ import annotations

import asyncio

from alerting.service import run_detector
from cli.options import CatalogUrl, ConfigFile, DataDir, MqttUrl, build_settings


def detect(
    mqtt_url: MqttUrl = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Watch every sensor's readings, raise and resolve alerts, and notify people."""
    settings = build_settings(config, mqtt_url=mqtt_url, catalog_url=catalog_url, data_dir=data_dir)
    asyncio.run(run_detector(settings))
