"""End-to-end ingest throughput: publish -> durable in InfluxDB, on this machine.

Starts its own mosquitto and influxd (the project's configs) and `coldchain ingest` as a
process, publishes readings as batched messages (50 readings each) and as single-reading
messages, and prints readings/s from the first publish to the last reading counted in
InfluxDB, plus the ingest process's peak and final RSS. Prints figures; asserts nothing.

Every batch costs a read-back of what InfluxDB already holds (ingest/duplicates.py): the
median read-back and write times per batch are printed. The batched run then publishes all
its messages again, as a logger re-sending a backfill would, and prints readings/s until
ingest has counted every one as a duplicate.

The gateways are `mosquitto_pub -l` processes (one per device, QoS 1), as in the field
the gateways are other machines: a Python publisher here would take CPU from what is
being measured.

`--workers 2` runs that many ingest processes on one MQTT shared subscription (one worker
against two: what scaling out buys); RSS is then the largest worker's.

The cost of the conflict check (issue #20): on one broker and database, three runs of
`--mixed` readings each in batched messages: every reading new; 10 % of them re-sends of
readings stored by the first run with the same values (duplicates, left out); 10 % re-sends
with other values (conflicts: refused, dead-lettered and written as `reading_conflict`
points). Each is timed from the first publish until ingest has delivered everything
(its counters: received, spool empty).

    python -m benchmarks.bench_ingest [--readings 500000] [--single 100000] [--workers 1]
        [--mixed 100000]
"""

from __future__ import annotations

import argparse
import os
import tempfile
import time
from collections import defaultdict
from collections.abc import Callable
from pathlib import Path
from typing import Any

import orjson

from benchmarks.process_memory import rss_kib
from tests.support.pipeline import (
    IngestProcess,
    count_readings,
    make_batches,
    mosquitto_pub_gateway,
    wait_until,
)
from tests.support.servers import InfluxServer, running_influxd, running_mosquitto


def _run(
    label: str, per_message: int, readings: int, workdir: Path, workers: int, *, resend: bool
) -> None:
    sensors, steps_per_device = 5, 1000
    devices = max(1, readings // (sensors * steps_per_device))
    with (
        running_mosquitto(workdir / f"{label}-mqtt") as broker,
        running_influxd(workdir / f"{label}-influx") as influx,
    ):
        ingests = [
            IngestProcess(
                broker.url,
                influx.url,
                "bench",
                workdir / f"{label}-var-{n}",
                client_id=f"ingest-{label}-{n}",
                shared_group="bench" if workers > 1 else None,
            )
            for n in range(workers)
        ]
        for ingest in ingests:
            ingest.start()
        by_topic: dict[str, list[bytes]] = defaultdict(list)
        for topic, payload, _ in make_batches(
            "BENCH", devices, sensors, steps_per_device, per_message=per_message
        ):
            by_topic[topic].append(payload)
        total = devices * sensors * steps_per_device
        messages = sum(len(payloads) for payloads in by_topic.values())
        started = time.perf_counter()
        gateways = [
            mosquitto_pub_gateway(broker.port, topic, payloads, f"bench-{label}-{n}")
            for n, (topic, payloads) in enumerate(by_topic.items())
        ]
        for gateway in gateways:
            gateway.wait(600)
        publish_s = time.perf_counter() - started
        peak_rss = 0

        def rss_of_largest() -> tuple[int, int]:
            sizes = [rss_kib(i.process.pid) for i in ingests if i.process is not None]
            return max(s[0] for s in sizes), max(s[1] for s in sizes)

        def landed() -> bool:
            nonlocal peak_rss
            peak_rss = max(peak_rss, rss_of_largest()[1])
            return count_readings(influx.url, "bench") >= total

        wait_until(landed, 900, "all readings in InfluxDB", interval_s=0.25)
        elapsed = time.perf_counter() - started
        rss, peak = rss_of_largest()
        live_times = f"{_p50(ingests, 'readback')}, {_p50(ingests, 'write')}"
        if resend:
            started = time.perf_counter()
            for gateway in [
                mosquitto_pub_gateway(broker.port, topic, payloads, f"bench-{label}-again-{n}")
                for n, (topic, payloads) in enumerate(by_topic.items())
            ]:
                gateway.wait(600)
            wait_until(
                lambda: sum(int(str(i.metrics().get("duplicates", 0))) for i in ingests) >= total,
                900,
                "every re-sent reading counted as a duplicate",
                interval_s=0.1,
            )
            resent_s = time.perf_counter() - started
        for ingest in ingests:
            ingest.stop()
        tsm, other = _bytes_after_compaction(influx)
        print(
            f"{label:>8}, {workers} worker(s): {total:,} readings in {messages:,} messages "
            f"({per_message}/message): {elapsed:.2f} s end to end -> "
            f"{total / elapsed:,.0f} readings/s, {messages / elapsed:,.0f} messages/s "
            f"(publishing alone took {publish_s:.2f} s); per batch {live_times}; "
            f"ingest RSS {rss / 1024:.0f} MiB, "
            f"peak {max(peak, peak_rss) / 1024:.0f} MiB; InfluxDB TSM files after compaction "
            f"{tsm / total:.1f} bytes/reading (+ {other / 2**20:.0f} MiB series file and "
            "index, which grow with the number of sensors, not readings)"
        )
        if resend:
            print(
                f"{'re-sent':>8}, {workers} worker(s): the same {total:,} readings again, all "
                f"stored already: {resent_s:.2f} s until counted as duplicates -> "
                f"{total / resent_s:,.0f} readings/s"
            )


_MIXED_SENSORS, _MIXED_PER_MESSAGE, _MIXED_START_MS, _STEP_MS = 5, 50, 1_763_800_000_000, 60_000


def _mixed_payloads(
    devices: int, steps: int, phase: int, resend: Callable[[dict[str, Any]], dict[str, Any]] | None
) -> dict[str, list[bytes]]:
    """Phase `phase`'s readings (its own time span) per device topic; with `resend`, every
    tenth is instead `resend` of the first phase's reading at the same place."""
    by_topic: dict[str, list[bytes]] = {}
    for d in range(devices):
        readings = []
        for step in range(steps):
            for sensor in range(_MIXED_SENSORS):
                n = step * _MIXED_SENSORS + sensor
                first: dict[str, Any] = {
                    "sensor": f"p{sensor}",
                    "ts": _MIXED_START_MS + step * _STEP_MS,
                    "temp_c": 5.0 + (n % 30) / 10,
                    "seq": n,
                }
                if resend is not None and n % 10 == 9:
                    readings.append(resend(first))
                else:
                    own = first | {"ts": first["ts"] + phase * steps * _STEP_MS}
                    readings.append(own)
        by_topic[f"coldchain/v1/BENCH/unit/D{d:04d}/readings"] = [
            orjson.dumps({"device": f"D{d:04d}", "readings": readings[i : i + _MIXED_PER_MESSAGE]})
            for i in range(0, len(readings), _MIXED_PER_MESSAGE)
        ]
    return by_topic


def _resend_costs(readings: int, workdir: Path, workers: int) -> None:
    """Readings/s with every reading new, with 10 % duplicates, with 10 % conflicts."""
    steps = 1000
    devices = max(1, readings // (_MIXED_SENSORS * steps))
    total = devices * _MIXED_SENSORS * steps
    phases: list[tuple[str, Callable[[dict[str, Any]], dict[str, Any]] | None]] = [
        ("all new", None),
        ("10 % duplicates", lambda first: first),
        ("10 % conflicts", lambda first: first | {"temp_c": first["temp_c"] + 0.05}),
    ]
    with (
        running_mosquitto(workdir / "mixed-mqtt") as broker,
        running_influxd(workdir / "mixed-influx") as influx,
    ):
        ingests = [
            IngestProcess(
                broker.url,
                influx.url,
                "bench",
                workdir / f"mixed-var-{n}",
                client_id=f"ingest-mixed-{n}",
                shared_group="bench" if workers > 1 else None,
            )
            for n in range(workers)
        ]
        for ingest in ingests:
            ingest.start()

        def counted(name: str) -> int:
            return sum(int(str(i.metrics().get(name, 0))) for i in ingests)

        for phase, (label, resend) in enumerate(phases):
            by_topic = _mixed_payloads(devices, steps, phase, resend)
            received = total * (phase + 1)
            started = time.perf_counter()
            for gateway in [
                mosquitto_pub_gateway(broker.port, topic, payloads, f"bench-mixed-{phase}-{n}")
                for n, (topic, payloads) in enumerate(by_topic.items())
            ]:
                gateway.wait(600)

            def delivered(expected: int = received) -> bool:
                return counted("readings_received") >= expected and not counted("spool_depth_bytes")

            wait_until(
                delivered,
                900,
                f"{label}: every reading delivered",
                interval_s=0.1,
            )
            elapsed = time.perf_counter() - started
            print(
                f"{label:>16}, {workers} worker(s): {total:,} readings: {elapsed:.2f} s -> "
                f"{total / elapsed:,.0f} readings/s (duplicates {counted('duplicates'):,}, "
                f"conflicts {counted('conflicts'):,} so far; {_p50(ingests, 'readback')})"
            )
        for ingest in ingests:
            ingest.stop()


def _p50(ingests: list[IngestProcess], what: str) -> str:
    """The median `what` time per batch the first worker last published."""
    return f"{what} p50 {ingests[0].metrics().get(f'{what}_latency_ms_p50') or 0:.1f} ms"


def _bytes_after_compaction(influx: InfluxServer) -> tuple[int, int]:
    """(TSM bytes, other bytes) of InfluxDB's data directory once the cache is snapshotted
    and compacted into TSM files: influxd restarted with cold-write durations of seconds
    instead of the default minutes, which is where a production database is once a shard
    stops taking writes."""
    influx.stop()
    cold = {
        "INFLUXDB_DATA_CACHE_SNAPSHOT_WRITE_COLD_DURATION": "1s",
        "INFLUXDB_DATA_COMPACT_FULL_WRITE_COLD_DURATION": "2s",
    }
    saved = {key: os.environ.get(key) for key in cold}
    os.environ.update(cold)
    try:
        influx.start()
    finally:
        for key, value in saved.items():
            if value is None:
                os.environ.pop(key, None)
            else:
                os.environ[key] = value

    def size(part: str, suffix: str) -> int:
        return sum(f.stat().st_size for f in (influx.directory / part).rglob(f"*{suffix}"))

    previous = -1
    for _ in range(120):
        time.sleep(1)
        tsm = size("data", ".tsm")
        if tsm == previous and size("wal", ".wal") < 64 * 1024:
            break
        previous = tsm
    return previous, size("data", "") - previous


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=500_000)
    parser.add_argument("--single", type=int, default=100_000)
    parser.add_argument("--workers", type=int, default=1, help="ingest processes, shared sub")
    parser.add_argument(
        "--mixed", type=int, default=100_000, help="readings per run of the re-send costs"
    )
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-ingest-") as tmp:
        _run("batched", 50, args.readings, Path(tmp), args.workers, resend=True)
        _run("single", 1, args.single, Path(tmp), args.workers, resend=False)
        _resend_costs(args.mixed, Path(tmp), args.workers)


if __name__ == "__main__":
    main()
