"""`coldchain dashboards check` on a real influxd filled with a simulated day: the simulator
publishes to the real mosquitto, `coldchain ingest` writes to InfluxDB, then every panel
query of the built dashboards must return series; a broken query must fail the check.

The detector does not write `alert` points nor its `pipeline` counters yet, so this test
seeds them (with `coldchain.alert_points.alert_line`, the encoder the detector will call),
and an hour of an earlier ingest worker's counters, since this ingest runs for seconds.
"""

from __future__ import annotations

import asyncio
import json
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path

import httpx
import pytest
from typer.testing import CliRunner

from cli.dashboards_cmd import dashboards_app
from coldchain import times
from coldchain.alert_points import alert_line
from coldchain.config import MqttEndpoint
from coldchain.downsampling import DEFAULT_VALIDITY, RESOLUTIONS, valid_buckets_condition
from coldchain.fleet import Fleet
from coldchain.influx import valid_readings_condition
from coldchain.lineprotocol import encode_point
from dashboards.inputs import inputs_from_fleet
from dashboards.render import build_dashboards, write_dashboards
from simulators.engine import Simulation
from simulators.plan import build_plan
from simulators.runner import run_to_mqtt
from tests.support.pipeline import IngestProcess, count_readings, wait_until
from tests.support.servers import InfluxServer, MosquittoServer

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000


@dataclass(frozen=True)
class FilledDay:
    influx_url: str
    db: str
    dashboards_dir: Path


def _fleet(site: str) -> Fleet:
    unit = {"kind": "refrigerator", "setpoint_c": 5.0, "sensors": [{"id": "p1"}, {"id": "p2"}]}
    return Fleet.model_validate(
        {
            "sponsors": [{"id": "ACME", "name": "Acme"}],
            "sites": [
                {
                    "id": site,
                    "units": [
                        {"id": "F1", **unit},
                        {
                            "id": "Z1",
                            "kind": "freezer",
                            "setpoint_c": -20.0,
                            "sensors": [{"id": "p1"}],
                        },
                    ],
                }
            ],
            "products": [{"id": "VAX", "sponsor": "ACME", "storage": {"min_c": 2, "max_c": 8}}],
            "batches": [{"id": "LOT-1", "product": "VAX"}],
            "placements": [
                {"batch": "LOT-1", "unit": f"{site}/F1", "from": "2026-01-01T00:00:00Z"}
            ],
            "shipments": [
                {
                    "id": "SHP-1",
                    "origin": site,
                    "destination": site,
                    "loggers": [
                        {"id": f"{site}-LOG", "sensors": [{"id": "p1"}], "log_interval_s": 300}
                    ],
                    "simulation": {
                        "lane": [
                            {"name": "dock", "duration": "2h", "ambient_c": 20},
                            {
                                "name": "flight",
                                "duration": "4h",
                                "ambient_c": 10,
                                "connected": False,
                            },
                            {"name": "road", "duration": "18h", "ambient_c": 25},
                        ]
                    },
                }
            ],
        }
    )


def _seed_detector_points(influx_url: str, db: str, site: str, now_ms: int) -> None:
    lines = [
        alert_line(
            alert_id=f"A-{i}",
            kind="excursion",
            severity="alarm",
            state=state,
            site=site,
            source="unit",
            device="F1",
            sensor="p1",
            start_ms=now_ms - 5 * HOUR_MS,
            end_ms=None,
            peak_c=9.4,
            retrospective=False,
            changed_ms=now_ms - (4 - i) * HOUR_MS,
        )
        for i, state in enumerate(["open", "acknowledged", "resolved"])
    ]
    lines += [
        encode_point(
            "pipeline",
            {"service": "detector", "worker": "d1"},
            {"detector_lag_ms": 1200.0 + i, "outbox_depth": i % 3},
            now_ms - i * 60_000,
        )
        for i in range(120)
    ]
    # Ingest has only run for seconds: an earlier worker's hour of counters gives the rate
    # panels (a derivative needs two buckets) something to differentiate.
    lines += [
        encode_point(
            "pipeline",
            {"service": "ingest", "worker": "earlier"},
            {"readings_received": 100 * i, "lines_written": 100 * i, "dead_letters": i // 30},
            now_ms - HOUR_MS + i * 30_000,
        )
        for i in range(100)
    ]
    response = httpx.post(
        f"{influx_url}/write", params={"db": db, "precision": "ms"}, content="\n".join(lines)
    )
    assert response.status_code == 204, response.text


@pytest.fixture(scope="module")
def filled_day(
    mosquitto: MosquittoServer, influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[FilledDay]:
    site = f"D{uuid.uuid4().hex[:6].upper()}"
    db = f"test_dash_{uuid.uuid4().hex[:8]}"
    tmp = tmp_path_factory.mktemp("dashboards")
    ingest = IngestProcess(mosquitto.url, influxd.url, db, tmp / "var", client_id=f"ingest-{site}")
    ingest.start()
    try:
        now_ms = times.now_ms() // 60_000 * 60_000
        fleet = _fleet(site)
        plan = build_plan(fleet, now_ms - 24 * HOUR_MS, now_ms, 7)
        stats = asyncio.run(
            run_to_mqtt(
                Simulation(plan, batch_s=3600.0),
                MqttEndpoint(mosquitto.url),
                speed=0,
                client_prefix=f"test-{site}",
            )
        )

        def all_received() -> bool:
            received = ingest.metrics().get("readings_received", 0)
            return isinstance(received, int) and received >= stats.readings

        wait_until(all_received, 60, f"ingest to receive {stats.readings} readings")
        wait_until(
            lambda: (
                ingest.metrics().get("spool_depth_bytes") == 0
                and count_readings(influxd.url, db) > 0
            ),
            60,
            "the spool to drain",
        )
        _seed_detector_points(influxd.url, db, site, times.now_ms())
        time.sleep(1.5)  # a few more `pipeline` points from ingest (every 0.5 s in tests)
        directory = tmp / "built"
        write_dashboards(build_dashboards(inputs_from_fleet(fleet)), directory)
        yield FilledDay(influxd.url, db, directory)
    finally:
        ingest.stop()


def _check(day: FilledDay, directory: Path) -> tuple[int, str]:
    result = CliRunner().invoke(
        dashboards_app,
        [
            "check",
            "--dir",
            str(directory),
            "--influx-url",
            day.influx_url,
            "--influx-db",
            day.db,
            "--verbose",
        ],
    )
    return result.exit_code, result.output


def test_every_panel_query_returns_series_on_a_simulated_day(filled_day: FilledDay) -> None:
    code, output = _check(filled_day, filled_day.dashboards_dir)
    assert code == 0, output
    assert "FAIL" not in output
    # each downsampled resolution was checked, and the shipment by its loggers
    for resolution in ("resolution=1m", "resolution=15m", "resolution=1h"):
        assert resolution in output
    assert "shipment=" in output
    # the raw temperature panels carry the reading-validity condition, and influxd ran them
    condition = valid_readings_condition(DEFAULT_VALIDITY)
    blocks = output.split("\nok   ")
    for panel in (
        "Current temperature",
        "Probe temperatures (every reading)",
        "Logger temperatures along the lane",
    ):
        runs = [block for block in blocks if f" / {panel}" in block]
        assert runs, panel
        assert all(condition in block for block in runs), panel
    bands = [block for block in blocks if " / Min / max / mean" in block]
    assert all(valid_buckets_condition(DEFAULT_VALIDITY, RESOLUTIONS[0]) in b for b in bands)


@pytest.mark.parametrize(
    ("broken", "reason"),
    [
        ('SELECT last("temp_c" FROM "reading" WHERE $timeFilter', "error parsing query"),
        ('SELECT last("temp_c") FROM "no_such_measurement" WHERE $timeFilter', "no series"),
    ],
)
def test_check_fails_naming_the_panel_with_a_broken_query(
    filled_day: FilledDay, tmp_path: Path, broken: str, reason: str
) -> None:
    for path in filled_day.dashboards_dir.glob("*.json"):
        data = json.loads(path.read_text())
        if data["uid"] == "coldchain-pipeline":
            data["panels"][1]["targets"][0]["query"] = broken
        (tmp_path / path.name).write_text(json.dumps(data))
    code, output = _check(filled_day, tmp_path)
    assert code == 1
    failures = [line for line in output.splitlines() if line.startswith("FAIL")]
    assert len(failures) == 1, output
    assert "coldchain-pipeline / Spool depth [A]" in failures[0]
    assert reason in failures[0]
