"""Issue #18 on a real influxd: a reading that is not a temperature (an error code such as
85.0 °C, a DS18B20 that lost power, or -127.0 °C, a disconnected one; docs/design.md §11)
never becomes a min, max or mean in the charts. The API's history answer leaves it out of
its buckets at the raw and at a downsampled resolution; the Grafana panels, expanded and
run as Grafana runs them (`coldchain dashboards check`), leave it out of probe curves, the
current temperature, the downsampled band and the logger curves."""

from __future__ import annotations

import asyncio
from collections.abc import AsyncIterator
from datetime import datetime, timedelta
from typing import Any

import pytest

from coldchain import times
from coldchain.downsampling import downsample_range, ensure_downsampling
from coldchain.influx import InfluxClient
from coldchain.times import to_ms
from dashboards.check import check_dashboards
from dashboards.influxql import MIN_INTERVAL
from dashboards.inputs import BuildInputs
from dashboards.render import build_dashboards
from tests.support.api_world import World, write_reading
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

MINUTE_MS = 60_000
HOUR_MS = 60 * MINUTE_MS
INVALID = (85.0, -127.0)

# -- the API's history answer (the two-sponsor world: FRIDGE-02 p1 reads 5.0 °C) ---------


def _history(world: World, start: datetime, end: datetime, buckets: int) -> dict[str, Any]:
    answer = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-02/history",
        params={"from": start.isoformat(), "to": end.isoformat(), "buckets": buckets},
        headers=world.headers("omar"),
    )
    assert answer.status_code == 200, answer.text
    body: dict[str, Any] = answer.json()
    return body


@pytest.fixture(scope="module")
def error_codes_in_fridge_02(world: World) -> datetime:
    """An 85.0 and a -127.0 between the 5.0 °C readings (every 10 min) of FRIDGE-02 p1 30 h
    ago, downsampled again as the ingest or an operator would after a late write."""
    at = world.now - timedelta(hours=30, minutes=3)
    write_reading(world.settings, "FRIDGE-02", "p1", 85.0, at=at)
    write_reading(world.settings, "FRIDGE-02", "p1", -127.0, at=at + timedelta(minutes=4))

    async def downsample() -> None:
        async with InfluxClient(world.settings.influx_url, world.settings.influx_db) as influx:
            await downsample_range(influx, to_ms(at) - HOUR_MS, to_ms(at) + HOUR_MS)

    asyncio.run(downsample())
    return at


def _extremes(answer: dict[str, Any]) -> tuple[float, float, int]:
    points = [p for s in answer["series"] if s["sensor"] == "p1" for p in s["points"]]
    return min(p[1] for p in points), max(p[2] for p in points), len(points)


def test_raw_history_keeps_error_codes_out_of_every_bucket(
    world: World, error_codes_in_fridge_02: datetime
) -> None:
    at = error_codes_in_fridge_02
    answer = _history(world, at - timedelta(hours=2), at + timedelta(hours=2), 1000)
    assert answer["resolution"] == "raw"
    lo, hi, count = _extremes(answer)
    assert count >= 20  # the 5.0 °C readings around them are there
    assert (lo, hi) == (5.0, 5.0)
    means = {p[3] for s in answer["series"] for p in s["points"]}
    assert means == {5.0}


def test_downsampled_history_keeps_error_codes_out_of_every_bucket(
    world: World, error_codes_in_fridge_02: datetime
) -> None:
    answer = _history(world, world.now - timedelta(days=2, hours=12), world.now, 200)
    assert answer["resolution"] in ("1m", "15m")
    lo, hi, count = _extremes(answer)
    assert count >= 100
    assert (lo, hi) == (5.0, 5.0)


# -- the Grafana panels, expanded as Grafana does and run on the real influxd --------------


@pytest.fixture
async def influx(influxd: InfluxServer, influx_db: str) -> AsyncIterator[InfluxClient]:
    async with InfluxClient(influxd.url, influx_db) as client:
        yield client


def _lines(now_ms: int) -> list[str]:
    """Three hours of a fridge probe and a logger at 5.0 °C every minute; error codes in
    between, and an 85.0 as the newest reading of each (what a `last()` would show)."""
    first = now_ms - 3 * HOUR_MS
    lines = []
    for i in range(180):
        at = first + i * MINUTE_MS
        lines.append(f"reading,site=S,source=unit,device=F1,sensor=p1 temp_c=5.0 {at}")
        lines.append(f"reading,site=S,source=logger,device=LOG-1,sensor=p1 temp_c=5.0 {at}")
    for at, value in ((first + 90 * MINUTE_MS + 30_000, -127.0), (now_ms - 20_000, 85.0)):
        lines.append(f"reading,site=S,source=unit,device=F1,sensor=p1 temp_c={value} {at}")
        lines.append(f"reading,site=S,source=logger,device=LOG-1,sensor=p1 temp_c={value} {at}")
    return lines


TEMPERATURE_PANELS = {
    ("coldchain-fleet", "Current temperature (coloured by the unit's limits)"),
    ("coldchain-unit", "Probe temperatures (every reading)"),
    ("coldchain-unit", "Min / max / mean per $resolution (downsampled, for long ranges)"),
    ("coldchain-shipment", "Logger temperatures along the lane"),
}


async def test_no_temperature_panel_shows_an_error_code(influx: InfluxClient) -> None:
    now_ms = times.now_ms()
    await ensure_downsampling(influx)
    await influx.write_lines(_lines(now_ms))
    await downsample_range(influx, now_ms - 4 * HOUR_MS, now_ms)
    dashboards = build_dashboards(BuildInputs())  # the settings' default rule
    results = await check_dashboards(influx, dashboards, now_ms=now_ms, min_interval=MIN_INTERVAL)
    checked = [r for r in results if (r.dashboard, r.panel) in TEMPERATURE_PANELS]
    assert {(r.dashboard, r.panel) for r in checked} == TEMPERATURE_PANELS
    bands = {r.options for r in checked if r.panel.startswith("Min / max")}
    assert bands == {"resolution=1m", "resolution=15m", "resolution=1h"}
    for result in checked:
        assert result.ok, result.describe()
        values = [
            v
            for series in await influx.query(result.query)
            for row in series.values
            for v in row[1:]
            if v is not None
        ]
        assert values, result.describe()
        assert set(values) == {5.0}, result.describe()
