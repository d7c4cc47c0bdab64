"""Retention policies, continuous queries and the history backfill on a real influxd."""

from __future__ import annotations

import logging
from collections.abc import AsyncIterator

import pytest

from coldchain.downsampling import (
    RESOLUTIONS,
    continuous_query,
    downsample_range,
    ensure_downsampling,
)
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


async def test_setup_is_idempotent_and_creates_three_policies_and_queries(
    influx: InfluxClient, caplog: pytest.LogCaptureFixture
) -> None:
    await ensure_downsampling(influx)
    first_cqs = await _names(influx, "SHOW CONTINUOUS QUERIES")
    caplog.set_level(logging.INFO, logger="coldchain.downsampling")
    await ensure_downsampling(influx)
    assert await _names(influx, "SHOW CONTINUOUS QUERIES") == first_cqs
    assert "replacing" not in caplog.text  # the second run changed nothing
    assert set(first_cqs) == {"cq_reading_1m", "cq_reading_15m", "cq_reading_1h"}
    policies = await _names(influx, "SHOW RETENTION POLICIES")
    assert policies["ds_1m"] == "2160h0m0s"
    assert policies["ds_1h"] == "0s"  # INF
    assert policies["autogen"] == "0s"  # raw readings are never shortened


async def test_a_changed_definition_is_replaced(influx: InfluxClient) -> None:
    await ensure_downsampling(influx)
    await influx.query(f'DROP CONTINUOUS QUERY "cq_reading_1m" ON "{influx.database}"')
    stale = continuous_query(influx.database, RESOLUTIONS[0]).replace("FOR 2h", "FOR 5m")
    await influx.query(stale)
    await influx.query(f'ALTER RETENTION POLICY "ds_1m" ON "{influx.database}" DURATION 1d')
    await ensure_downsampling(influx)
    cqs = await _names(influx, "SHOW CONTINUOUS QUERIES")
    assert "FOR 2h" in cqs["cq_reading_1m"]
    assert (await _names(influx, "SHOW RETENTION POLICIES"))["ds_1m"] == "2160h0m0s"


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
