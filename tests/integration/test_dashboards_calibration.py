"""The Grafana dashboards draw a probe's readings corrected by its calibration certificates
(#22), as the API's history chart and live view show them and the detector and the record
judge them, on a real influxd and a real catalog (the API world, tests/support/api_world.py).

BSL/FRIDGE-01/p1 gets a certificate of +0.5 °C and the logger SHP-A/LOG-A/p1 one of
-0.3 °C, both calibrated yesterday (midnight in Zurich), recorded in the catalog as
`coldchain calibration add` does; the dashboards are built from that catalog
(`coldchain dashboards build --catalog-url`), every query is run by `dashboards check`'s
code (variables and macros expanded as Grafana does) over the six hours either side of the
calibration, and the answers are compared with the API's and with the pure rule
(`Calibration.corrected`).
"""

from __future__ import annotations

import asyncio
import json
from dataclasses import dataclass
from datetime import UTC, date, datetime, timedelta
from typing import Any
from zoneinfo import ZoneInfo

import httpx
import numpy as np
import pytest
from typer.testing import CliRunner

from cli.dashboards_cmd import dashboards_app
from coldchain.alert_points import alert_line
from coldchain.catalog import catalog_session
from coldchain.catalog.calibration import (
    NewCertificate,
    calibrations,
    find_probe,
    record_certificate,
)
from coldchain.downsampling import DEFAULT_VALIDITY
from coldchain.fleet import moment_utc
from coldchain.influx import InfluxClient, Series
from coldchain.judgement.calibration import Calibration
from coldchain.models import SensorKey
from coldchain.times import rfc3339_ms, to_ms
from dashboards.check import QueryCheck, check_dashboard
from dashboards.influxql import MIN_INTERVAL
from tests.support.api_world import World, write_reading

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
UNIT_P1 = SensorKey("BSL", "unit", "FRIDGE-01", "p1")
UNIT_P2 = SensorKey("BSL", "unit", "FRIDGE-01", "p2")
LOGGER_P1 = SensorKey("BSL", "logger", "LOG-A", "p1")
# Readings come every 10 min (STEP_MIN): 5-minute history buckets hold one reading each.
HISTORY_BUCKET_MS = 300_000


@dataclass(frozen=True)
class Built:
    """The dashboards built from the world's catalog, the certificates' calibration time,
    and every panel query as `dashboards check` ran it over [calibrated - 6 h,
    calibrated + 6 h] (and the fleet board's over its own range, ending now)."""

    calibrated_ms: int
    checks: list[QueryCheck]
    current: list[QueryCheck]
    calibration: dict[SensorKey, Calibration]


def _record(world: World, probe: str, certificate: str, calibrated: date, offset_c: float) -> None:
    with catalog_session(world.engine) as session:
        record_certificate(
            session,
            find_probe(session, probe),
            NewCertificate(certificate, "Metrolab", calibrated, date(2099, 1, 1), offset_c),
            actor="quinn",
            at=datetime.now(UTC),
        )


def _seed_alert(world: World, at_ms: int) -> None:
    """One alert point, so the alert annotation and the open-alerts tile have a series."""
    line = alert_line(
        alert_id="A-DASH-1",
        kind="excursion",
        severity="alarm",
        state="open",
        site="BSL",
        source="unit",
        device="FRIDGE-01",
        sensor="p1",
        start_ms=at_ms,
        end_ms=None,
        peak_c=9.1,
        retrospective=False,
        changed_ms=at_ms,
    )
    response = httpx.post(
        f"{world.settings.influx_url}/write",
        params={"db": world.settings.influx_db, "precision": "ms"},
        content=line,
    )
    assert response.status_code == 204, response.text


async def _run_checks(
    world: World, dashboards: dict[str, dict[str, Any]], calibrated_ms: int
) -> tuple[list[QueryCheck], list[QueryCheck]]:
    now_ms = to_ms(datetime.now(UTC))
    around = (str(calibrated_ms - 6 * HOUR_MS), str(calibrated_ms + 6 * HOUR_MS))
    async with InfluxClient.for_settings(world.settings) as influx:
        checks: list[QueryCheck] = []
        for uid in ("coldchain-fleet", "coldchain-unit", "coldchain-shipment"):
            checks += await check_dashboard(
                influx,
                dashboards[uid],
                now_ms=now_ms,
                min_interval=MIN_INTERVAL,
                time_from=around[0],
                time_to=around[1],
            )
        current = await check_dashboard(
            influx, dashboards["coldchain-fleet"], now_ms=now_ms, min_interval=MIN_INTERVAL
        )
    return checks, current


@pytest.fixture(scope="module")
def built(world: World, tmp_path_factory: pytest.TempPathFactory) -> Built:
    zurich = ZoneInfo("Europe/Zurich")
    calibrated = (world.now.astimezone(zurich) - timedelta(days=1)).date()
    calibrated_ms = to_ms(moment_utc(calibrated, "Europe/Zurich"))
    _record(world, "BSL/FRIDGE-01/p1", "CAL-DASH-1", calibrated, 0.5)
    _record(world, "SHP-A/LOG-A/p1", "CAL-DASH-2", calibrated, -0.3)
    # An error code under the certificate: never drawn, corrected or not (+1 ms: the
    # world's readings are on whole seconds, so it overwrites none).
    error_at = datetime.fromtimestamp((calibrated_ms + 30 * 60_000 + 1) / 1000, UTC)
    write_reading(world.settings, "FRIDGE-01", "p1", 85.0, at=error_at)
    _seed_alert(world, calibrated_ms + HOUR_MS)
    out = tmp_path_factory.mktemp("dashboards-calibration")
    result = CliRunner().invoke(
        dashboards_app,
        ["build", "-o", str(out), "--catalog-url", str(world.settings.catalog_url)],
    )
    assert result.exit_code == 0, result.output
    assert "calibration corrections of 2 probes, from the catalog" in result.output
    dashboards = {
        data["uid"]: data
        for data in (json.loads(p.read_text()) for p in sorted(out.glob("coldchain-*.json")))
    }
    checks, current = asyncio.run(_run_checks(world, dashboards, calibrated_ms))
    with catalog_session(world.engine) as session:
        calibration = calibrations(session)
    return Built(calibrated_ms, checks, current, calibration)


def _query(world: World, query: str) -> list[Series]:
    async def run() -> list[Series]:
        async with InfluxClient.for_settings(world.settings) as influx:
            return await influx.query(query)

    return asyncio.run(run())


def _panel_series(world: World, checks: list[QueryCheck], panel: str) -> dict[str, Series]:
    """The series of the first run of `panel`'s query, by sensor (`device sensor`)."""
    query = next(c.query for c in checks if c.panel == panel)
    return {f"{s.tags['device']} {s.tags['sensor']}": s for s in _query(world, query)}


def _raw(world: World, key: SensorKey, start_ms: int, end_ms: int) -> tuple[list[int], list[float]]:
    """The probe's readings as sent, error codes included."""
    [series] = _query(
        world,
        'SELECT "temp_c" FROM "reading"'
        f" WHERE \"site\" = '{key.site}' AND \"source\" = '{key.source}'"
        f" AND \"device\" = '{key.device}' AND \"sensor\" = '{key.sensor}'"
        f" AND time >= {start_ms}ms AND time <= {end_ms}ms",
    )
    return [int(row[0]) for row in series.values], [float(row[1]) for row in series.values]


def _around(built: Built) -> tuple[int, int]:
    """The range the queries ran over: six hours either side of the calibration."""
    return built.calibrated_ms - 6 * HOUR_MS, built.calibrated_ms + 6 * HOUR_MS


def _valid(built: Built, world: World, key: SensorKey) -> tuple[dict[int, float], dict[int, float]]:
    """(as sent, as the pure rule corrects them) of each reading of the range that is a
    temperature."""
    times, temps = _raw(world, key, *_around(built))
    calibration = built.calibration.get(key, Calibration.of([]))
    corrected = calibration.corrected(
        np.array(times, dtype=np.int64), np.array(temps), DEFAULT_VALIDITY
    )
    valid = DEFAULT_VALIDITY.valid(np.array(temps)).tolist()
    sent = {t: v for t, v, ok in zip(times, temps, valid, strict=True) if ok}
    rule = {t: float(v) for t, v, ok in zip(times, corrected, valid, strict=True) if ok}
    return sent, rule


def _points(series: Series) -> dict[int, float]:
    """{time: value} of a series, which holds each reading once (as sent or corrected,
    never both)."""
    times = [int(row[0]) for row in series.values]
    assert len(times) == len(set(times)), "a reading drawn twice"
    return {int(row[0]): float(row[1]) for row in series.values if row[1] is not None}


def test_every_query_but_arrival_times_returns_series_with_corrections_baked_in(
    built: Built,
) -> None:
    # The world writes its readings without `received_ms` (ingest's arrival time), so the
    # two panels of arrival times have nothing to show here (tests/integration/
    # test_dashboards_check.py proves them on ingested readings).
    every = [*built.checks, *built.current]
    arrivals = {c.panel for c in every if '"received_ms"' in c.query}
    assert arrivals == {
        "Units with no data: minutes since the last reading arrived",
        "Arrival delay: backfilled readings (orange) came from logger memory",
    }
    failed = [c.describe() for c in every if c.panel not in arrivals and not c.ok]
    assert not failed, "\n".join(failed)


def test_unit_probe_reads_raw_before_the_certificate_and_raw_plus_offset_after(
    built: Built, world: World
) -> None:
    drawn = _panel_series(world, built.checks, "Probe temperatures (every reading)")
    p1 = _points(drawn["FRIDGE-01 p1"])
    sent, rule = _valid(built, world, UNIT_P1)
    assert p1 == rule
    assert 85.0 not in p1.values()
    assert 85.5 not in p1.values()
    before = [t for t in p1 if t < built.calibrated_ms]
    after = [t for t in p1 if t >= built.calibrated_ms]
    assert before
    assert after
    assert [p1[t] for t in before] == [sent[t] for t in before]
    assert [p1[t] for t in after] == [sent[t] + 0.5 for t in after]
    # the unit's other probe has no certificate: drawn as sent
    p2_sent, _ = _valid(built, world, UNIT_P2)
    assert _points(drawn["FRIDGE-01 p2"]) == p2_sent


def _history(world: World, path: str, start_ms: int, end_ms: int) -> dict[str, dict[int, float]]:
    """Each sensor's history buckets of one reading each: {bucket start: the mean}, after
    checking min == max == mean."""
    answer = world.client.get(
        path,
        params={
            "from": rfc3339_ms(start_ms),
            "to": rfc3339_ms(end_ms),
            "buckets": (end_ms - start_ms) // HISTORY_BUCKET_MS,
        },
        headers=world.headers("ada"),
    )
    assert answer.status_code == 200, answer.text
    body = answer.json()
    assert body["resolution"] == "raw"
    assert body["bucket_ms"] == HISTORY_BUCKET_MS
    found: dict[str, dict[int, float]] = {}
    for series in body["series"]:
        points = found.setdefault(f"{series['device']} {series['sensor']}", {})
        for t, low, high, mean in series["points"]:
            assert low == high == pytest.approx(mean)
            points[t] = mean
    return found


def _by_bucket(points: dict[int, float], start_ms: int) -> dict[int, float]:
    return {t - (t - start_ms) % HISTORY_BUCKET_MS: v for t, v in points.items()}


def test_unit_probes_equal_the_api_history_chart(built: Built, world: World) -> None:
    start, end = _around(built)
    history = _history(world, "/v1/sites/BSL/units/FRIDGE-01/history", start, end)
    drawn = _panel_series(world, built.checks, "Probe temperatures (every reading)")
    for sensor in ("FRIDGE-01 p1", "FRIDGE-01 p2"):
        assert history[sensor], sensor
        assert _by_bucket(_points(drawn[sensor]), start) == pytest.approx(history[sensor])


def test_logger_reads_raw_before_the_certificate_and_raw_minus_offset_after(
    built: Built, world: World
) -> None:
    drawn = _panel_series(world, built.checks, "Logger temperatures along the lane")
    points = _points(drawn["LOG-A p1"])
    sent, rule = _valid(built, world, LOGGER_P1)
    assert points == rule
    before = [t for t in points if t < built.calibrated_ms]
    after = [t for t in points if t >= built.calibrated_ms]
    assert before
    assert after
    assert [points[t] for t in before] == [sent[t] for t in before]
    assert [points[t] for t in after] == [sent[t] - 0.3 for t in after]
    start, end = _around(built)
    history = _history(world, "/v1/shipments/SHP-A/history", start, end)
    assert history["LOG-A p1"]
    assert _by_bucket(points, start) == pytest.approx(history["LOG-A p1"])


def test_the_band_corrects_each_bucket_by_the_certificate_at_its_start(
    built: Built, world: World
) -> None:
    band = next(
        c.query
        for c in built.checks
        if c.panel.startswith("Min / max / mean") and "resolution=1m" in c.options
    )
    by_column = {
        s.tags["sensor"]: {row[0]: row[1:] for row in s.values if row[1] is not None}
        for s in _query(world, band)
        if s.tags["device"] == "FRIDGE-01"
    }
    start, end = _around(built)
    [buckets] = _query(
        world,
        'SELECT "temp_c_min", "temp_c_max", "temp_c_mean" FROM "ds_1m"."reading"'
        " WHERE \"device\" = 'FRIDGE-01' AND \"sensor\" = 'p1'"
        f" AND time >= {start}ms AND time <= {end}ms",
    )
    times = np.array([row[0] for row in buckets.values], dtype=np.int64)
    offsets = built.calibration[UNIT_P1].offsets(times)
    expected = {
        int(t): [float(v + offset) for v in row[1:]]
        for t, offset, row in zip(times, offsets, buckets.values, strict=True)
    }
    assert set(offsets.tolist()) == {0.0, 0.5}  # buckets on both sides of the calibration
    assert by_column["p1"] == expected


def test_fleet_current_temperature_equals_the_live_view(built: Built, world: World) -> None:
    drawn = _panel_series(
        world, built.current, "Current temperature (coloured by the unit's limits)"
    )
    live = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-01/live", headers=world.headers("ada")
    ).json()
    shown = {s["sensor"]: s["temp_c"] for place in live["places"] for s in place["sensors"]}
    for sensor in ("p1", "p2"):
        [[_, value]] = drawn[f"FRIDGE-01 {sensor}"].values
        assert value == pytest.approx(shown[sensor]), sensor
    _, raw = _raw(world, UNIT_P1, to_ms(datetime.now(UTC)) - HOUR_MS, to_ms(datetime.now(UTC)))
    assert drawn["FRIDGE-01 p1"].values[0][1] == pytest.approx(raw[-1] + 0.5)
