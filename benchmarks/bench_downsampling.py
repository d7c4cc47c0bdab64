"""Late readings into every chart: how long after they are stored their downsampled buckets
are there, and what the recomputation costs ingest, on this machine.

Starts its own mosquitto and influxd (the project's configs), creates the downsampled
retention policies as the setup does, and runs `coldchain ingest` as a process. Then
publishes, after the fact, a five-day backfill of USB loggers (one reading every 5 min)
and a three-hour backlog of gateways (two probes each, one reading a minute), and prints:
the time until every reading is stored, the time until every bucket of every resolution is
there (the lag behind storage), and ingest's own count of the time it spent recomputing
(its `downsample_ms` counter) per late reading. A second run with recomputation held off
(a period longer than the run) prints the store time alone: the cost of marking the hours
on the write path. Prints figures; asserts nothing.

    python -m benchmarks.bench_downsampling [--loggers 50] [--units 100]
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
import time
from pathlib import Path

import httpx
import orjson

from coldchain.downsampling import RESOLUTIONS, ensure_downsampling
from coldchain.influx import InfluxClient
from coldchain.times import now_ms
from tests.support.pipeline import (
    IngestProcess,
    count_readings,
    mosquitto_pub_gateway,
    wait_until,
)
from tests.support.servers import running_influxd, running_mosquitto

_HOUR_MS = 3_600_000
_DB = "bench"


def _late_messages(loggers: int, units: int, now: int) -> tuple[dict[str, list[bytes]], int]:
    """Messages by topic (200 readings each) and the number of readings."""
    by_topic: dict[str, list[bytes]] = {}
    total = 0
    plans = [
        (f"coldchain/v1/BENCH/logger/LOG-{n:03d}/readings", ("p1",), 5 * 24, 300_000)
        for n in range(loggers)
    ] + [
        (f"coldchain/v1/BENCH/unit/U-{n:03d}/readings", ("p1", "p2"), 3, 60_000)
        for n in range(units)
    ]
    for topic, sensors, hours, step_ms in plans:
        first = now - hours * _HOUR_MS
        readings = [
            {"sensor": s, "ts": at, "temp_c": 5.0 + (at // step_ms) % 30 / 10, "seq": i}
            for i, at in enumerate(range(first, now, step_ms))
            for s in sensors
        ]
        total += len(readings)
        device = topic.split("/")[4]
        by_topic[topic] = [
            orjson.dumps({"device": device, "readings": readings[k : k + 200]})
            for k in range(0, len(readings), 200)
        ]
    return by_topic, total


def _buckets(influx_url: str, policy: str) -> int:
    answer = httpx.post(
        f"{influx_url}/query",
        data={"q": f'SELECT count(temp_c_max) FROM "{policy}"."reading"', "db": _DB},
        timeout=60,
    )
    series = orjson.loads(answer.content)["results"][0].get("series", [])
    return int(series[0]["values"][0][1]) if series else 0


def _expected_buckets(by_topic: dict[str, list[bytes]], bucket_ms: int) -> int:
    buckets: set[tuple[str, str, int]] = set()
    for topic, payloads in by_topic.items():
        for payload in payloads:
            for r in orjson.loads(payload)["readings"]:
                buckets.add((topic, r["sensor"], r["ts"] - r["ts"] % bucket_ms))
    return len(buckets)


async def _setup(influx_url: str) -> None:
    async with InfluxClient(influx_url, _DB) as influx:
        await ensure_downsampling(influx)


def _run(workdir: Path, loggers: int, units: int, *, recompute: bool) -> None:
    label = "recompute" if recompute else "held-off"
    with (
        running_mosquitto(workdir / f"{label}-mqtt") as broker,
        running_influxd(workdir / f"{label}-influx") as influx,
    ):
        asyncio.run(_setup(influx.url))
        period = "5" if recompute else "100000"
        ingest = IngestProcess(
            broker.url,
            influx.url,
            _DB,
            workdir / f"{label}-var",
            client_id=f"ingest-{label}",
            extra_env={"COLDCHAIN_INGEST_DOWNSAMPLE_PERIOD_S": period},
        )
        ingest.start()
        try:
            by_topic, total = _late_messages(loggers, units, now_ms() // 60_000 * 60_000)
            expected = {
                r.retention_policy: _expected_buckets(by_topic, r.bucket_ms) for r in RESOLUTIONS
            }
            started = time.perf_counter()
            publishers = [
                mosquitto_pub_gateway(broker.port, topic, payloads, f"late-{label}-{n}")
                for n, (topic, payloads) in enumerate(by_topic.items())
            ]
            for publisher in publishers:
                publisher.wait(600)
            wait_until(
                lambda: count_readings(influx.url, _DB) >= total, 900, "every reading stored", 0.1
            )
            stored_s = time.perf_counter() - started
            line = (
                f"{label:>9}: {total:,} late readings ({loggers} loggers x 5 days, {units} "
                f"units x 2 probes x 3 h) stored in {stored_s:.2f} s "
                f"({total / stored_s:,.0f} readings/s)"
            )
            if recompute:
                wait_until(
                    lambda: all(_buckets(influx.url, str(p)) >= n for p, n in expected.items()),
                    900,
                    "every bucket of every resolution",
                    0.1,
                )
                buckets_s = time.perf_counter() - started
                time.sleep(1.0)  # the next metrics snapshot (every 0.5 s)
                spent_ms = float(str(ingest.metrics().get("downsample_ms", 0)))
                line += (
                    f"; every bucket ({sum(expected.values()):,} at 1 min / 15 min / 1 h) "
                    f"there {buckets_s - stored_s:.2f} s after the last was stored "
                    f"(period {period} s); recomputing took ingest {spent_ms / 1000:.2f} s = "
                    f"{spent_ms * 1000 / total:.1f} µs per late reading"
                )
            print(line)
        finally:
            ingest.stop()


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--loggers", type=int, default=50)
    parser.add_argument("--units", type=int, default=100)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-downsampling-") as tmp:
        _run(Path(tmp), args.loggers, args.units, recompute=False)
        _run(Path(tmp), args.loggers, args.units, recompute=True)


if __name__ == "__main__":
    main()
