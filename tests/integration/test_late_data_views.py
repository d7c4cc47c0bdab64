"""Late readings reach every view a person reads: a USB logger's five days, published weeks
after the fact through real mosquitto and ingest, are within 30 s in the API's history at
1 min, 15 min and 1 h and in every Grafana panel query of the unit board (expanded as
Grafana expands it, run as InfluxQL on the real influxd), bucket for bucket equal to a
computation from the readings sent."""

from __future__ import annotations

import asyncio
import itertools
import statistics
import time
from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import orjson
import pytest

from coldchain.fleet import load_fleet
from coldchain.influx import InfluxClient
from coldchain.times import rfc3339_ms, to_ms
from dashboards.check import check_dashboard
from dashboards.inputs import inputs_from_fleet
from dashboards.render import build_dashboards
from tests.support.api_world import World, api_world, fleet_yaml
from tests.support.pipeline import IngestProcess, Publisher
from tests.support.servers import InfluxServer, running_mosquitto

pytestmark = pytest.mark.integration

_MINUTE_MS = 60_000
_DAY_MS = 24 * 60 * _MINUTE_MS
_STEP_MS = 5 * _MINUTE_MS  # a USB logger's interval
_Buckets = dict[int, tuple[float, float, float]]


@pytest.fixture(scope="module")
def world(influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    with api_world(tmp_path_factory.mktemp("late-views"), influxd.url, "late_views") as built:
        yield built


def _late_readings(now: datetime, sensor: str, days_ago: int) -> list[dict[str, object]]:
    """Five days of one of FRIDGE-01's probes, `days_ago` days back: readings nobody had
    uploaded until now (each test its own probe and days, so neither sees the other's)."""
    first = to_ms(now - timedelta(days=days_ago)) // _DAY_MS * _DAY_MS
    return [
        {"sensor": sensor, "ts": at, "temp_c": round(4.0 + (n % 23) / 10, 2), "seq": n}
        for n, at in enumerate(range(first, first + 5 * _DAY_MS, _STEP_MS))
    ]


def _expected(readings: list[dict[str, object]], bucket_ms: int) -> _Buckets:
    values: defaultdict[int, list[float]] = defaultdict(list)
    for r in readings:
        ts = int(str(r["ts"]))
        values[ts - ts % bucket_ms].append(float(str(r["temp_c"])))
    return {at: (min(v), max(v), statistics.fmean(v)) for at, v in values.items()}


@contextmanager
def _published(world: World, readings: list[dict[str, object]], tmp_path: Path) -> Iterator[None]:
    """Ingest running on a real broker, the readings published and acked."""
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        ingest = IngestProcess(
            broker.url,
            world.settings.influx_url,
            world.settings.influx_db,
            tmp_path / "var",
            extra_env={"COLDCHAIN_INGEST_DOWNSAMPLE_PERIOD_S": "1"},
        )
        ingest.start()
        publisher = Publisher(broker.port)
        try:
            for first in range(0, len(readings), 200):
                payload = {"device": "FRIDGE-01", "readings": readings[first : first + 200]}
                publisher.publish("coldchain/v1/BSL/unit/FRIDGE-01/readings", orjson.dumps(payload))
            publisher.wait_acked()
            yield
        finally:
            publisher.close()
            ingest.stop()


def _history(world: World, start_ms: int, end_ms: int, buckets: int) -> dict[str, Any]:
    answer = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-01/history",
        params={"from": rfc3339_ms(start_ms), "to": rfc3339_ms(end_ms), "buckets": buckets},
        headers=world.headers("quinn"),
    )
    assert answer.status_code == 200, answer.text
    found: dict[str, Any] = answer.json()
    return found


def _api_buckets(history: dict[str, Any]) -> _Buckets:
    points = [p for s in history["series"] if s["sensor"] == "p1" for p in s["points"]]
    return {int(t): (lo, hi, mean) for t, lo, hi, mean in points}


def _same(found: _Buckets, expected: _Buckets) -> bool:
    return found.keys() == expected.keys() and all(
        found[t][:2] == expected[t][:2] and found[t][2] == pytest.approx(expected[t][2])
        for t in expected
    )


def test_a_late_upload_is_in_the_api_history_at_every_resolution_within_30_s(
    world: World, tmp_path: Path
) -> None:
    readings = _late_readings(world.now, "p1", 40)
    first, last = int(str(readings[0]["ts"])), int(str(readings[-1]["ts"])) + _STEP_MS
    # Each window asks for one answer bucket per source bucket of the resolution it reads.
    windows = {
        "1m": (first + _DAY_MS, first + 2 * _DAY_MS, 1440),
        "15m": (first, last, 480),
        "1h": (first - 30 * _DAY_MS, last, 840),
    }
    with _published(world, readings, tmp_path):
        published = time.monotonic()
        for resolution, (start_ms, end_ms, buckets) in windows.items():
            while True:
                history = _history(world, start_ms, end_ms, buckets)
                assert history["resolution"] == resolution
                sent = [r for r in readings if start_ms <= int(str(r["ts"])) < end_ms]
                expected = _expected(sent, int(history["bucket_ms"]))
                if _same(_api_buckets(history), expected):
                    break
                assert time.monotonic() - published < 30, (resolution, history["bucket_ms"])
                time.sleep(0.5)


def test_every_unit_board_panel_shows_the_late_upload_bucket_for_bucket(
    world: World, tmp_path: Path
) -> None:
    fleet_file = tmp_path / "fleet.yaml"
    fleet_file.write_text(fleet_yaml(world.now), encoding="utf-8")
    board = build_dashboards(inputs_from_fleet(load_fleet(fleet_file)))["coldchain-unit"]
    readings = _late_readings(world.now, "p2", 80)
    first, last = int(str(readings[0]["ts"])), int(str(readings[-1]["ts"])) + _STEP_MS
    with _published(world, readings, tmp_path):
        checks = asyncio.run(_panel_queries(world, board, first, last))
        # Grafana's first unit of the first site, as a dashboard opens: BSL/FRIDGE-01; the
        # band panel once per resolution (a custom variable's every option is checked).
        shown = [c for c in checks if "temp_c" in c.query and "/^FRIDGE-01$/" in c.query]
        assert sorted(c.options for c in shown if "ds_" in c.query) == [
            "resolution=15m",
            "resolution=1h",
            "resolution=1m",
        ], [c.describe() for c in checks]
        published = time.monotonic()
        for check in shown:
            while not asyncio.run(_panel_matches(world, check.query, readings)):
                assert time.monotonic() - published < 30, check.describe()
                time.sleep(0.5)


async def _panel_queries(world: World, board: dict[str, Any], first: int, last: int) -> list[Any]:
    async with InfluxClient(world.settings.influx_url, world.settings.influx_db) as influx:
        return await check_dashboard(
            influx,
            board,
            now_ms=to_ms(datetime.now(UTC)),
            time_from=str(first),
            time_to=str(last),
        )


async def _panel_matches(world: World, query: str, readings: list[dict[str, object]]) -> bool:
    """Whether a panel query, run as Grafana runs it, shows `readings` (probe p2): every
    reading as stored, or each bucket's min, max and mean as computed from them."""
    async with InfluxClient(world.settings.influx_url, world.settings.influx_db) as influx:
        series = [s for s in await influx.query(query) if s.tags.get("sensor") == "p2"]
    rows = [
        row for s in series for row in s.rows if s.tags.get("device", "FRIDGE-01") == "FRIDGE-01"
    ]
    if not rows:
        return False
    if "temp_c" in rows[0] and "min" not in rows[0]:  # every reading, as stored
        stored = {int(r["time"]): float(r["temp_c"]) for r in rows}
        return all(stored.get(int(str(r["ts"]))) == r["temp_c"] for r in readings)
    times = sorted(int(r["time"]) for r in rows)
    interval = min(b - a for a, b in itertools.pairwise(times)) if len(times) > 1 else 0
    expected = _expected(readings, interval) if interval else {}
    found = {int(r["time"]): (r["min"], r["max"], r["mean"]) for r in rows if r["min"] is not None}
    return _same(found, expected)
