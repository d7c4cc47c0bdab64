"""Late readings reach every resolution: a USB logger's five-day backfill and a gateway's
three-hour backlog, published after the fact through real mosquitto and ingest into a real
influxd, are in the 1 min, 15 min and 1 h buckets within 30 s, bucket for bucket equal to
a computation from the readings sent (continuous queries saw only their last hours)."""

from __future__ import annotations

import asyncio
import statistics
import time
from collections import defaultdict
from pathlib import Path

import httpx
import orjson
import pytest

from coldchain.downsampling import RESOLUTIONS, ensure_downsampling
from coldchain.influx import InfluxClient
from coldchain.times import now_ms
from tests.support.pipeline import IngestProcess, Publisher, wait_until
from tests.support.servers import InfluxServer, running_mosquitto

pytestmark = pytest.mark.integration

HOUR_MS = 3_600_000
_Bucket = tuple[str, int]  # (device, bucket start)


def _readings(first_ms: int, last_ms: int, step_ms: int) -> list[dict[str, object]]:
    """A probe's readings: a slow wave with one spike, so min, max and mean all differ."""
    readings: list[dict[str, object]] = []
    for seq, at in enumerate(range(first_ms, last_ms, step_ms)):
        temp = 5.0 + (seq % 37) / 10 + (6.0 if seq == 400 else 0.0)
        readings.append({"sensor": "p1", "ts": at, "temp_c": round(temp, 2), "seq": seq})
    return readings


def _expected(
    sent: dict[str, list[dict[str, object]]], bucket_ms: int
) -> dict[_Bucket, tuple[float, float, float]]:
    values: defaultdict[_Bucket, list[float]] = defaultdict(list)
    for device, readings in sent.items():
        for r in readings:
            ts = int(r["ts"])  # type: ignore[call-overload]
            values[(device, ts - ts % bucket_ms)].append(float(r["temp_c"]))  # type: ignore[arg-type]
    return {k: (min(v), max(v), statistics.fmean(v)) for k, v in values.items()}


def _stored(influx_url: str, db: str, policy: str) -> dict[_Bucket, tuple[float, float, float]]:
    answer = httpx.post(
        f"{influx_url}/query",
        data={
            "q": f'SELECT temp_c_min, temp_c_max, temp_c_mean FROM "{policy}"."reading" '
            'GROUP BY "device"',
            "db": db,
            "epoch": "ms",
        },
        timeout=30,
    )
    stored: dict[_Bucket, tuple[float, float, float]] = {}
    for series in orjson.loads(answer.content)["results"][0].get("series", []):
        for at, lo, hi, mean in series["values"]:
            stored[(series["tags"]["device"], at)] = (lo, hi, mean)
    return stored


def _equal(
    stored: dict[_Bucket, tuple[float, float, float]],
    expected: dict[_Bucket, tuple[float, float, float]],
) -> bool:
    return stored.keys() == expected.keys() and all(
        stored[k][:2] == expected[k][:2] and stored[k][2] == pytest.approx(expected[k][2])
        for k in expected
    )


async def _setup(influx_url: str, db: str) -> None:
    async with InfluxClient(influx_url, db) as influx:
        await ensure_downsampling(influx)


def test_a_backfill_and_a_backlog_reach_every_resolution_within_30_s(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    asyncio.run(_setup(influxd.url, influx_db))
    now = now_ms() // 60_000 * 60_000
    sent = {
        # a USB logger read out at arrival: five days, every 5 min
        "LOG-7": _readings(now - 5 * 24 * HOUR_MS, now - HOUR_MS, 300_000),
        # a fridge whose gateway was offline for three hours: every minute
        "F1": _readings(now - 3 * HOUR_MS, now, 60_000),
    }
    topics = {
        "LOG-7": "coldchain/v1/BSL/logger/LOG-7/readings",
        "F1": "coldchain/v1/BSL/unit/F1/readings",
    }
    with running_mosquitto(tmp_path / "mosquitto") as broker:
        ingest = IngestProcess(
            broker.url,
            influxd.url,
            influx_db,
            tmp_path / "var",
            extra_env={"COLDCHAIN_INGEST_DOWNSAMPLE_PERIOD_S": "1"},
        )
        ingest.start()
        publisher = Publisher(broker.port)
        try:
            for device, readings in sent.items():
                for first in range(0, len(readings), 200):
                    chunk = readings[first : first + 200]
                    payload = orjson.dumps({"device": device, "readings": chunk})
                    publisher.publish(topics[device], payload)
            publisher.wait_acked()
            published = time.monotonic()
            expected = {r.name: _expected(sent, r.bucket_ms) for r in RESOLUTIONS}
            policies = {r.name: r.retention_policy for r in RESOLUTIONS}
            while True:
                stored = {
                    name: _stored(influxd.url, influx_db, str(policies[name])) for name in expected
                }
                if all(_equal(stored[n], expected[n]) for n in expected):
                    break
                if time.monotonic() - published > 30:
                    missing = {n: len(expected[n].keys() - stored[n].keys()) for n in expected}
                    pytest.fail(f"buckets not equal after 30 s; missing per resolution {missing}")
                time.sleep(0.5)
            lag = time.monotonic() - published
            print(f"late readings in every resolution {lag:.1f} s after publishing")
            # What an operator watches: every bucket point counted, nothing left marked.
            points = sum(len(e) for e in expected.values())

            def counted() -> bool:
                metrics = ingest.metrics()
                done = int(str(metrics.get("downsample_points", 0))) >= points
                return done and metrics.get("downsample_hours_marked") == 0

            wait_until(counted, 10, "the downsampler's work in its counters")
        finally:
            publisher.close()
            ingest.stop()
