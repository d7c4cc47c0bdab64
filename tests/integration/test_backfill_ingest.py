"""Simulator -> real mosquitto -> ingest -> real influxd: a logger's backfill, which arrives
late, out of order and partly twice, ends up in InfluxDB exactly as the logger recorded it,
every reading sent twice counted once as a duplicate by ingest."""

from __future__ import annotations

import asyncio
from pathlib import Path

import httpx
import orjson
import pytest

from coldchain.config import MqttEndpoint
from coldchain.fleet import Fleet
from simulators.engine import Simulation
from simulators.outbound import ReadingsMessage
from simulators.plan import build_plan
from simulators.runner import run_to_mqtt
from tests.support.pipeline import IngestProcess, wait_until
from tests.support.servers import InfluxServer, running_mosquitto

pytestmark = pytest.mark.integration

START_MS = 1_767_225_600_000
HOUR_MS = 3_600_000

FLEET = Fleet.model_validate(
    {
        "sites": [
            {
                "id": "BSL",
                "units": [
                    {
                        "id": "F1",
                        "kind": "refrigerator",
                        "setpoint_c": 5.0,
                        "sensors": [{"id": "p1"}, {"id": "p2"}],
                    },
                ],
            }
        ],
        "shipments": [
            {
                "id": "SHP-1",
                "origin": "BSL",
                "destination": "BSL",
                "loggers": [{"id": "LOG-1", "sensors": [{"id": "p1"}], "log_interval_s": 120}],
                "simulation": {
                    "burst_size": 5,
                    "duplicate_probability": 0.5,
                    "lane": [
                        {"name": "dock", "duration": "30m", "ambient_c": 20},
                        {"name": "flight", "duration": "3h", "ambient_c": 10, "connected": False},
                        {"name": "road", "duration": "1h", "ambient_c": 25},
                    ],
                },
            }
        ],
    }
)


def _stored_temperatures(influx_url: str, db: str) -> dict[tuple[str, str, int], float]:
    response = httpx.post(
        f"{influx_url}/query",
        data={
            "q": 'SELECT temp_c FROM "reading" GROUP BY "device", "sensor"',
            "db": db,
            "epoch": "ms",
        },
        timeout=30,
    )
    stored: dict[tuple[str, str, int], float] = {}
    for series in orjson.loads(response.content)["results"][0]["series"]:
        device, sensor = series["tags"]["device"], series["tags"]["sensor"]
        for time_ms, temp_c in series["values"]:
            stored[(device, sensor, time_ms)] = temp_c
    return stored


def test_logger_backfill_lands_exactly_once(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    plan = build_plan(FLEET, START_MS, START_MS + 5 * HOUR_MS, 4)
    recorded: dict[tuple[str, str, int], float] = {}
    duplicates = 0
    for chunk in Simulation(plan).chunks():
        for message in chunk.messages:
            if isinstance(message, ReadingsMessage):
                duplicates += message.duplicate
                for r in message.readings:
                    recorded[(r.device, r.sensor, r.ts_ms)] = r.temp_c
    assert duplicates > 0, "the scenario must resend some batches"

    with running_mosquitto(tmp_path / "mosquitto") as broker:
        ingest = IngestProcess(broker.url, influxd.url, influx_db, tmp_path / "var")
        ingest.start()
        try:
            stats = asyncio.run(
                run_to_mqtt(
                    Simulation(plan), MqttEndpoint(broker.url), speed=0, client_prefix="backfill"
                )
            )
            assert stats.readings > len(recorded)  # duplicates were really sent

            def processed() -> bool:
                metrics = ingest.metrics()
                return (
                    metrics.get("readings_received") == stats.readings
                    and metrics.get("spool_depth_bytes") == 0
                )

            wait_until(processed, 60, "ingest to receive and deliver every reading sent")
            assert ingest.metrics()["duplicates"] == stats.readings - len(recorded)
            assert ingest.dead_letters() == []
            stored = _stored_temperatures(influxd.url, influx_db)
            assert stored == recorded
            logger = [key for key in stored if key[0] == "LOG-1"]
            assert len(logger) == sum(1 for key in recorded if key[0] == "LOG-1") > 100
        finally:
            ingest.stop()
