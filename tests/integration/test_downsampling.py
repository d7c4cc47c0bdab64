"""Retention policies and the computation of downsampled buckets on a real influxd."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from coldchain.downsampling import downsample_range, downsampling_present, ensure_downsampling
from coldchain.influx import InfluxClient
from coldchain.times import now_ms
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
START_MS = (now_ms() // HOUR_MS - 5) * HOUR_MS  # whole hours, inside every RP


@pytest.fixture
async def influx(influxd: InfluxServer, influx_db: str) -> AsyncIterator[InfluxClient]:
    async with InfluxClient(influxd.url, influx_db) as client:
        yield client


async def _names(influx: InfluxClient, statement: str) -> dict[str, str]:
    return {
        str(row["name"]): str(row.get("query", row.get("duration")))
        for series in await influx.query(statement)
        if statement.endswith("POLICIES") or series.name == influx.database
        for row in series.rows
    }


async def test_setup_is_idempotent_creates_three_policies_and_drops_the_old_cqs(
    influx: InfluxClient, caplog: pytest.LogCaptureFixture
) -> None:
    await ensure_downsampling(influx)  # the policies an earlier release made, and its CQ
    await influx.query(_OLD_CQ_1M.format(db=influx.database))
    caplog.set_level(logging.INFO, logger="coldchain.downsampling")
    await ensure_downsampling(influx)
    assert "dropping continuous query cq_reading_1m" in caplog.text
    assert await _names(influx, "SHOW CONTINUOUS QUERIES") == {}
    caplog.clear()
    await ensure_downsampling(influx)
    assert "dropping" not in caplog.text  # the second run changed nothing
    policies = await _names(influx, "SHOW RETENTION POLICIES")
    assert policies["ds_1m"] == "2160h0m0s"
    assert policies["ds_1h"] == "0s"  # INF
    assert policies["autogen"] == "0s"  # raw readings are never shortened
    assert await downsampling_present(influx)


async def test_a_changed_policy_is_restored(influx: InfluxClient) -> None:
    await ensure_downsampling(influx)
    await influx.query(f'ALTER RETENTION POLICY "ds_1m" ON "{influx.database}" DURATION 1d')
    await ensure_downsampling(influx)
    assert (await _names(influx, "SHOW RETENTION POLICIES"))["ds_1m"] == "2160h0m0s"


async def test_without_the_policies_downsampling_is_not_present(influx: InfluxClient) -> None:
    await influx.create_database()
    assert not await downsampling_present(influx)


async def test_backfill_keeps_the_peak_that_a_mean_would_hide(influx: InfluxClient) -> None:
    await ensure_downsampling(influx)
    # Two hours of one probe at 5.0 °C every minute, one 12.5 °C spike at 00:37.
    lines = [
        f"reading,site=S,source=unit,device=F1,sensor=p1 temp_c={12.5 if i == 37 else 5.0}"
        f" {START_MS + i * 60_000}"
        for i in range(120)
    ]
    await influx.write_lines(lines)
    written = await downsample_range(influx, START_MS + 10 * 60_000, START_MS + 90 * 60_000)
    assert written == 120 + 8 + 2  # bounds widened to whole hours
    for name, buckets in (("ds_1m", 120), ("ds_15m", 8), ("ds_1h", 2)):
        series = await influx.query(
            f'SELECT temp_c_min, temp_c_max, temp_c_mean FROM "{name}"."reading"'
            " WHERE device = 'F1' AND sensor = 'p1'"
        )
        rows = series[0].rows
        assert len(rows) == buckets
        assert max(r["temp_c_max"] for r in rows) == 12.5
        assert min(r["temp_c_min"] for r in rows) == 5.0
    hourly = (await influx.query('SELECT temp_c_mean FROM "ds_1h"."reading"'))[0].rows
    assert hourly[0]["temp_c_mean"] == pytest.approx((59 * 5.0 + 12.5) / 60)
    # a rerun overwrites the same buckets
    await downsample_range(influx, START_MS, START_MS + 2 * 3_600_000)
    count = await influx.query('SELECT count(temp_c_max) FROM "ds_1m"."reading"')
    assert count[0].values[0][1] == 120


# -- reading validity (docs/design.md §11): an error code is never a bucket's min or max ----

# A continuous query as releases before issue #19 created it.
_OLD_CQ_1M = (
    'CREATE CONTINUOUS QUERY "cq_reading_1m" ON "{db}" RESAMPLE EVERY 1m FOR 2h BEGIN'
    ' SELECT min("temp_c") AS "temp_c_min", max("temp_c") AS "temp_c_max",'
    ' mean("temp_c") AS "temp_c_mean" INTO "{db}"."ds_1m"."reading"'
    ' FROM "{db}"."autogen"."reading" GROUP BY time(1m), * END'
)


def _with_faults(first_ms: int, minutes: int, device: str) -> list[str]:
    """A reading of 5.0 °C every 10 s; at minute 2 one 85.0 (a DS18B20 that lost power), at
    minute 3 one -127.0 (a disconnected one), and minute 4 made of error codes only."""
    lines = []
    for i in range(minutes * 6):
        at = first_ms + i * 10_000
        value = 5.0
        if i == 13:
            value = 85.0
        elif i == 19:
            value = -127.0
        elif 24 <= i < 30:
            value = 85.0
        lines.append(f"reading,site=S,source=unit,device={device},sensor=p1 temp_c={value} {at}")
    return lines


async def _buckets(influx: InfluxClient, policy: str, device: str) -> list[dict[str, float]]:
    series = await influx.query(
        f'SELECT temp_c_min, temp_c_max, temp_c_mean FROM "{policy}"."reading"'
        f" WHERE device = '{device}'"
    )
    return series[0].rows if series else []


async def test_backfill_keeps_error_codes_out_of_every_bucket(influx: InfluxClient) -> None:
    await ensure_downsampling(influx)
    await influx.write_lines(_with_faults(START_MS, 6, "F9"))
    await downsample_range(influx, START_MS, START_MS + HOUR_MS)
    for policy, buckets in (("ds_1m", 5), ("ds_15m", 1), ("ds_1h", 1)):
        rows = await _buckets(influx, policy, "F9")
        assert len(rows) == buckets  # minute 4 held only error codes: no bucket, missing
        assert {r["temp_c_max"] for r in rows} == {5.0}, policy
        assert {r["temp_c_min"] for r in rows} == {5.0}, policy
        assert {r["temp_c_mean"] for r in rows} == {5.0}, policy


async def test_a_device_recompute_writes_only_that_devices_buckets(influx: InfluxClient) -> None:
    await ensure_downsampling(influx)
    await influx.write_lines(_with_faults(START_MS, 6, "D1") + _with_faults(START_MS, 6, "D2"))
    written = await downsample_range(
        influx,
        START_MS,
        START_MS + HOUR_MS,
        devices=[{"site": "S", "source": "unit", "device": "D1"}],
    )
    assert written == 5 + 1 + 1
    assert len(await _buckets(influx, "ds_1m", "D1")) == 5
    assert await _buckets(influx, "ds_1m", "D2") == []
