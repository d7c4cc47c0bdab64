"""Detector benchmarks: evaluation throughput on one core, and the latency from the publish
of the reading that completes an alarm condition to the webhook's arrival.

    python -m benchmarks.bench_detector throughput [--sensors 10000 --minutes 120]
    python -m benchmarks.bench_detector latency [--devices 5000 --alarms 100]

Throughput drives the evaluation core in-process (no I/O): `process_arrays` is the hot path
on columns; `process` includes turning `Reading` objects into columns. Latency runs the real
thing: mosquitto, `coldchain detect` as a process with its catalog (devices × 2 sensors, each
reporting once a minute), and a webhook receiver on loopback. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import json
import random
import tempfile
import threading
import time
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from alerting.conditions import FAR_FUTURE, FAR_PAST, ConditionTimeline, Segment
from alerting.detector import Detector
from alerting.rules import DetectorConfig, Limits
from coldchain.catalog import create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.models import Reading, SourceKind
from tests.integration.test_detector_support import DetectProcess, WebhookReceiver
from tests.pipeline import Publisher
from tests.servers import free_port, running_mosquitto

T0 = 1_763_800_000_000


def throughput(sensors: int, minutes: int) -> None:
    keys = [("S", "unit", f"U{i // 2:05d}", f"p{i % 2}") for i in range(sensors)]
    limits = Limits(2.0, 8.0, 1_800_000, "bench")
    timeline = ConditionTimeline({k: [Segment(FAR_PAST, FAR_FUTURE, limits, True)] for k in keys})
    rng = np.random.default_rng(1)
    rows = np.arange(sensors, dtype=np.int64)
    for label, columns in (
        ("process_arrays (columns)", True),
        ("process (Reading objects)", False),
    ):
        detector = Detector(DetectorConfig(), timeline)
        detector.register_catalog(T0)
        batches: list[Any] = []
        for m in range(minutes):
            # probes as the simulators model them: a slow cycle plus 0.05 °C noise, 0.01 °C steps
            values = np.round(5.0 + np.sin(m / 10 + rows) + rng.normal(0, 0.05, sensors), 2)
            hot = rng.random(sensors) < 0.001  # a few sensors out of range each minute
            values[hot] = 9.5
            ts = np.full(sensors, T0 + m * 60_000, dtype=np.int64)
            if columns:
                batches.append((ts, values))
            else:
                batches.append(
                    [
                        Reading("S", SourceKind.UNIT, k[2], k[3], int(t), float(v), m)
                        for k, t, v in zip(keys, ts, values, strict=True)
                    ]
                )
        began = time.perf_counter()
        for m, batch in enumerate(batches):
            now = T0 + m * 60_000
            if columns:
                detector.process_arrays(rows, batch[0], batch[1], now)
            else:
                detector.process(batch, now)
            detector.tick(now)
        elapsed = time.perf_counter() - began
        total = sensors * minutes
        print(
            f"throughput {label}: {total} readings, {sensors} sensors, "
            f"{elapsed:.2f} s, {total / elapsed:,.0f} readings/s"
        )


def _fleet(devices: int) -> dict[str, object]:
    return {
        "sponsors": [{"id": "ACME", "name": "Acme"}],
        "sites": [
            {
                "id": "B",
                "timezone": "UTC",
                "units": [
                    {
                        "id": f"U{i:05d}",
                        "kind": "refrigerator",
                        "setpoint_c": 5.0,
                        "log_interval_s": 60,
                        "sensors": [{"id": "p0"}, {"id": "p1"}],
                    }
                    for i in range(devices)
                ],
            }
        ],
        "products": [
            {
                "id": "VAX",
                "sponsor": "ACME",
                "storage": {"min_c": 2.0, "max_c": 8.0, "alarm_delay_min": 0.2},
            }
        ],
        "batches": [{"id": f"L{i:05d}", "product": "VAX"} for i in range(devices)],
        "placements": [
            {"batch": f"L{i:05d}", "unit": f"B/U{i:05d}", "from": "2020-01-01T00:00:00Z"}
            for i in range(devices)
        ],
    }


def _trigger(
    port: int, devices: list[str], receiver: WebhookReceiver, latencies: list[float], name: str
) -> None:
    """Each device's p1 goes out of range; the reading timed 12 s (the alarm delay) after
    the first bad one completes the condition: its publish time starts the clock."""
    gateway = Publisher(port, client_id=name)
    try:
        for device in devices:
            first = time.time_ns() // 1_000_000
            completed_at: float | None = None
            while completed_at is None or time.perf_counter() - completed_at < 5:
                now = time.time_ns() // 1_000_000
                payload = orjson.dumps({"sensor": "p1", "ts": now, "temp_c": 9.5, "seq": now})
                if completed_at is None and now - first >= 12_000:
                    completed_at = time.perf_counter()
                gateway.publish(f"coldchain/v1/B/unit/{device}/readings", payload)
                for body, arrived in zip(
                    list(receiver.received), list(receiver.arrived), strict=False
                ):
                    event = json.loads(body[0])
                    if event["device"] == device and completed_at is not None:
                        latencies.append(arrived - completed_at)
                        break
                else:
                    time.sleep(0.05 if completed_at is not None else 0.25)
                    continue
                break
    finally:
        gateway.close()


def latency(devices: int, alarms: int, threads: int = 8) -> None:
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp) / "mq") as broker:
        work = Path(tmp)
        (work / "fleet.yaml").write_text(yaml.safe_dump(_fleet(devices)))
        url = f"sqlite:///{work / 'catalog.sqlite3'}"
        engine = create_catalog_engine(url)
        upgrade_catalog(engine)
        began = time.perf_counter()
        import_fleet(engine, work / "fleet.yaml", actor="bench")
        engine.dispose()
        print(
            f"catalog: {devices} units, {2 * devices} sensors imported in "
            f"{time.perf_counter() - began:.0f} s"
        )
        port = free_port()
        receiver = WebhookReceiver(port)
        detect = DetectProcess(
            broker.url,
            url,
            work / "var",
            env={
                "COLDCHAIN_NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "60",
                "COLDCHAIN_DETECT_MISSING_AFTER_MIN": "60",
            },
        )
        detect.start()
        stop = threading.Event()
        background = Publisher(broker.port, client_id="bench-fleet")

        def fleet_load() -> None:  # every sensor once a minute, spread evenly
            seq = 0
            while not stop.is_set():
                for i in range(devices):
                    if stop.is_set():
                        return
                    ts = time.time_ns() // 1_000_000
                    sensors = ("p0",) if i < alarms else ("p0", "p1")
                    payload = orjson.dumps(
                        {
                            "device": f"U{i:05d}",
                            "readings": [
                                {
                                    "sensor": s,
                                    "ts": ts,
                                    "temp_c": 5.0 + random.random() / 10,
                                    "seq": seq,
                                }
                                for s in sensors
                            ],
                        }
                    )
                    background.publish(f"coldchain/v1/B/unit/U{i:05d}/readings", payload)
                    seq += 1
                    time.sleep(60 / devices)

        loader = threading.Thread(target=fleet_load, daemon=True)
        loader.start()
        time.sleep(10)
        latencies: list[float] = []
        names = [f"U{k:05d}" for k in range(alarms)]
        workers = [
            threading.Thread(
                target=_trigger,
                args=(broker.port, names[i::threads], receiver, latencies, f"bench-trigger-{i}"),
            )
            for i in range(threads)
        ]
        for w in workers:
            w.start()
        for w in workers:
            w.join()
        stop.set()
        loader.join()
        detect.stop()
        receiver.close()
        background.close()
        ms = np.array(latencies) * 1000
        print(
            f"latency publish(completing reading) -> webhook: n={len(ms)} "
            f"p50={np.percentile(ms, 50):.0f} ms p95={np.percentile(ms, 95):.0f} ms "
            f"p99={np.percentile(ms, 99):.0f} ms max={ms.max():.0f} ms "
            f"(background: {2 * devices} sensors reporting every minute)"
        )


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("what", choices=["throughput", "latency"])
    parser.add_argument("--sensors", type=int, default=10_000)
    parser.add_argument("--minutes", type=int, default=60)
    parser.add_argument("--devices", type=int, default=5_000)
    parser.add_argument("--alarms", type=int, default=50)
    args = parser.parse_args()
    if args.what == "throughput":
        throughput(args.sensors, args.minutes)
    else:
        latency(args.devices, args.alarms)


if __name__ == "__main__":
    main()
