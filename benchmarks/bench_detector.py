"""Detector benchmarks: the evaluation core on one core, the whole service behind a real
broker, and the latency from publishing the reading that completes an alarm condition to
the webhook's arrival.

    python -m benchmarks.bench_detector throughput [--sensors 10000 --minutes 60]
    python -m benchmarks.bench_detector service [--units 200 --shipments 20 --hours 24]
    python -m benchmarks.bench_detector latency [--devices 5000 --alarms 1000 --rate 10]

Throughput drives the evaluation core in-process (no I/O), pinned to one CPU so that "one
core" is a fact rather than the scheduler's choice: `process_arrays` is the hot path on
columns; `process` includes turning `Reading` objects into columns. It also prints the
memory the core holds per sensor (tracemalloc: the Detector with its condition timeline,
after the readings), which is what grows with a fleet.

Service runs everything the detector does in production: mosquitto, influxd (its counters
and alert display points), `coldchain detect` as a process with the catalog of a generated
fleet, its state file and notification outbox, alert events out on MQTT. The simulator
publishes that fleet's history while the detector is stopped, so the broker holds it in
the detector's persistent session as after a restart: the simulator (Python, one message
at a time) is slower than the detector, so publishing during the run would measure the
simulator. It prints readings/s from the detector's connect to the last reading evaluated
(its counter moves when a batch is taken, so to within one batch), the alert changes it
made and the alert events received on MQTT, and its RSS. Twice: one log per message (as
gateways send live) and an hour of a unit's readings per message (`coldchain simulate
--load`, a logger's backlog).

Latency runs the real thing under a background fleet (devices × 2 sensors, each reporting
once a minute) and raises `--alarms` excursion alarms, `--rate` new ones a second, each
completed by its own reading; it prints p50/p95/p99/max of publish → webhook and how many
arrived. Prints figures; asserts nothing.
"""

from __future__ import annotations

import argparse
import asyncio
import contextlib
import heapq
import json
import os
import random
import tempfile
import threading
import time
import tracemalloc
from collections import Counter
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import orjson
import yaml

from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Segment
from benchmarks.process_memory import rss_kib
from coldchain.catalog import create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.config import MqttEndpoint, Settings
from coldchain.fleet import Fleet
from coldchain.influx import InfluxClient
from coldchain.judgement.limits import Limits
from coldchain.models import Reading, SensorKey, SourceKind
from coldchain.pipeline_metrics import metrics_file, read_snapshot
from simulators.engine import Simulation
from simulators.fleetgen import generate_fleet
from simulators.plan import build_plan
from simulators.runner import run_to_mqtt
from tests.support.detector import AlertListener, DetectProcess, WebhookReceiver
from tests.support.pipeline import Publisher, wait_until
from tests.support.servers import free_port, running_influxd, running_mosquitto

T0 = 1_763_800_000_000
ALARM_DELAY_MS = 12_000  # the latency fleet's product: alarm_delay_min 0.2
CLIENT_ID = "bench-detect"


def _pin_to_one_cpu() -> int:
    cpu = min(os.sched_getaffinity(0))
    os.sched_setaffinity(0, {cpu})
    return cpu


def throughput(sensors: int, minutes: int) -> None:
    print(f"pinned to CPU {_pin_to_one_cpu()}")
    keys = [SensorKey("S", "unit", f"U{i // 2:05d}", f"p{i % 2}") for i in range(sensors)]
    limits = Limits(2.0, 8.0, 1_800_000, "bench")
    rng = np.random.default_rng(1)
    rows = np.arange(sensors, dtype=np.int64)
    columns: list[tuple[np.ndarray, np.ndarray]] = []
    for m in range(minutes):
        # probes as the simulators model them: a slow cycle plus 0.05 °C noise, 0.01 °C steps
        values = np.round(5.0 + np.sin(m / 10 + rows) + rng.normal(0, 0.05, sensors), 2)
        values[rng.random(sensors) < 0.001] = 9.5  # a few sensors out of range each minute
        columns.append((np.full(sensors, T0 + m * 60_000, dtype=np.int64), values))

    def new_detector() -> Detector:
        segment = [Segment(FAR_PAST, FAR_FUTURE, limits, True)]
        timeline = ConditionTimeline({k: segment for k in keys})
        detector = Detector(DetectorConfig.from_settings(Settings()), timeline)
        detector.register_catalog(T0)
        return detector

    def feed(detector: Detector, step: Callable[[Detector, int, int], object]) -> float:
        began = time.perf_counter()
        for m in range(minutes):
            now = T0 + m * 60_000
            step(detector, m, now)
            detector.tick(now)
        return time.perf_counter() - began

    def from_columns(detector: Detector, m: int, now: int) -> object:
        return detector.process_arrays(rows, *columns[m], now)

    objects = [
        [
            Reading("S", SourceKind.UNIT, k.device, k.sensor, int(t), float(v), m)
            for k, t, v in zip(keys, ts, values, strict=True)
        ]
        for m, (ts, values) in enumerate(columns)
    ]
    total = sensors * minutes
    for label, step in (
        ("process_arrays (columns)", from_columns),
        ("process (Reading objects)", lambda d, m, now: d.process(objects[m], now)),
    ):
        elapsed = feed(new_detector(), step)
        print(
            f"throughput {label}: {total:,} readings, {sensors:,} sensors, "
            f"{elapsed:.2f} s, {total / elapsed:,.0f} readings/s"
        )
    tracemalloc.start()
    detector = new_detector()
    feed(detector, from_columns)
    held = tracemalloc.get_traced_memory()[0]
    tracemalloc.stop()
    print(
        f"memory: the detector holds {held / 2**20:.1f} MiB for {sensors:,} sensors after "
        f"{minutes} readings each, {held / sensors:,.0f} bytes per sensor"
    )


def _detector_counters(data_dir: Path) -> dict[str, Any]:
    try:
        return dict(read_snapshot(metrics_file(data_dir, "detector", CLIENT_ID)).values)
    except FileNotFoundError:
        return {}


def _import_catalog(work: Path, fleet: dict[str, Any]) -> str:
    (work / "fleet.yaml").write_text(yaml.safe_dump(fleet, sort_keys=False))
    url = f"sqlite:///{work / 'catalog.sqlite3'}"
    engine = create_catalog_engine(url)
    upgrade_catalog(engine)
    import_fleet(engine, work / "fleet.yaml", actor="bench")
    engine.dispose()
    return url


def _service_run(fleet: dict[str, Any], hours: int, batch_s: float, label: str) -> None:
    end_ms = time.time_ns() // 1_000_000 // 60_000 * 60_000
    plan = build_plan(Fleet.model_validate(fleet), end_ms - hours * 3_600_000, end_ms, seed=1)
    with (
        tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp,
        running_mosquitto(Path(tmp) / "mq") as broker,
        running_influxd(Path(tmp) / "influx") as influx,
    ):
        work = Path(tmp)
        asyncio.run(_create_database(influx.url))
        var = work / "var"
        detect = DetectProcess(
            broker.url,
            _import_catalog(work, fleet),
            var,
            env={
                "COLDCHAIN_DETECT_CLIENT_ID": CLIENT_ID,
                "COLDCHAIN_INFLUX_URL": influx.url,
                "COLDCHAIN_METRICS_INTERVAL_S": "0.2",
            },
        )
        listener = AlertListener(broker.port)
        detect.start()  # its persistent session: the broker keeps what comes for it
        detect.stop()
        began = time.perf_counter()
        stats = asyncio.run(
            run_to_mqtt(Simulation(plan, batch_s=batch_s), MqttEndpoint(broker.url), speed=0.0)
        )
        published_s = time.perf_counter() - began
        detect.start()
        began = time.perf_counter()
        assert detect.process is not None
        pid = detect.process.pid
        peak_kib = 0

        def counter(name: str) -> int:
            nonlocal peak_kib
            if detect.process is None or detect.process.poll() is not None:
                raise SystemExit(f"the detector stopped:\n{detect.log_text()[-3000:]}")
            peak_kib = max(peak_kib, rss_kib(pid)[1])
            return int(_detector_counters(var).get(name, 0))

        wait_until(
            lambda: counter("readings_evaluated") >= stats.readings,
            1800,
            "the detector to evaluate every reading",
            interval_s=0.05,
        )
        elapsed = time.perf_counter() - began
        current_kib = rss_kib(pid)[0]
        wait_until(
            lambda: (
                counter("outbox_depth") == 0 and len(listener.events) >= counter("alert_changes")
            ),
            300,
            "every alert event on MQTT",
            interval_s=0.05,
        )
        events_s = time.perf_counter() - began
        changes = counter("alert_changes")
        detect.stop()
        listener.close()
        distinct = {(e["alert_id"], e["state"], e["escalation_level"]) for e in listener.events}
        kinds = Counter(
            "escalated" if e["state"] == "open" and e["escalation_level"] else str(e["state"])
            for e in listener.events
        )
    print(
        f"service, {label}: {stats.readings:,} readings in {stats.messages:,} messages with "
        f"statuses ({len(plan.units)} units × 2 sensors, {len(plan.shipments)} loggers; the "
        f"simulator published them in {published_s:.1f} s); from the detector's connect to "
        f"the last evaluated {elapsed:.1f} s -> {stats.readings / elapsed:,.0f} readings/s; "
        f"{changes} alert changes, {len(listener.events)} alert events received on MQTT "
        f"({len(distinct)} distinct: QoS 1 is at least once; "
        f"{', '.join(f'{n} {k}' for k, n in sorted(kinds.items()))}), the last "
        f"{events_s:.1f} s after connect; detector RSS {current_kib / 1024:.0f} MiB, "
        f"peak {peak_kib / 1024:.0f} MiB"
    )


async def _create_database(url: str) -> None:
    async with InfluxClient(url, "coldchain") as influx:
        await influx.create_database()


def service(units: int, shipments: int, hours: int) -> None:
    fleet = generate_fleet(units=units, shipments=shipments)
    _service_run(fleet, hours, 0.0, "one log per message")
    _service_run(fleet, hours, 3600.0, "an hour per message")


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
                "storage": {"min_c": 2.0, "max_c": 8.0, "alarm_delay_min": ALARM_DELAY_MS / 60_000},
            }
        ],
        "batches": [{"id": f"L{i:05d}", "product": "VAX"} for i in range(devices)],
        "placements": [
            {"batch": f"L{i:05d}", "unit": f"B/U{i:05d}", "from": "2020-01-01T00:00:00Z"}
            for i in range(devices)
        ],
    }


def _raise_alarms(port: int, alarms: int, rate: float) -> dict[str, float]:
    """Alarm k starts k/rate s in: its device's p1 (silent until then) reads 9.5 °C, and
    again once the alarm delay has passed, which completes the condition. Returns when each
    completing reading was published (perf_counter), by device."""
    gateway = Publisher(port, client_id="bench-alarms")
    began = time.perf_counter()
    due = [(began + k / rate, k, True) for k in range(alarms)]
    first_ts: dict[int, int] = {}
    completed: dict[str, float] = {}
    try:
        while due:
            when, k, first = heapq.heappop(due)
            if (wait := when - time.perf_counter()) > 0:
                time.sleep(wait)
            ts = time.time_ns() // 1_000_000
            if first:
                first_ts[k] = ts
                heapq.heappush(due, (when + ALARM_DELAY_MS / 1000, k, False))
            else:
                ts = max(ts, first_ts[k] + ALARM_DELAY_MS)
            payload = orjson.dumps({"sensor": "p1", "ts": ts, "temp_c": 9.5, "seq": ts})
            gateway.publish(f"coldchain/v1/B/unit/U{k:05d}/readings", payload)
            if not first:
                completed[f"U{k:05d}"] = time.perf_counter()
    finally:
        gateway.close()
    return completed


def _background(port: int, devices: int, silent_p1: int, stop: threading.Event) -> None:
    """Every sensor once a minute, spread evenly; the first `silent_p1` devices' p1 are
    left to `_raise_alarms`."""
    gateway = Publisher(port, client_id="bench-fleet")
    seq = 0
    try:
        while not stop.is_set():
            for i in range(devices):
                if stop.is_set():
                    return
                ts = time.time_ns() // 1_000_000
                sensors = ("p0",) if i < silent_p1 else ("p0", "p1")
                readings = [
                    {"sensor": s, "ts": ts, "temp_c": 5.0 + random.random() / 10, "seq": seq}
                    for s in sensors
                ]
                gateway.publish(
                    f"coldchain/v1/B/unit/U{i:05d}/readings",
                    orjson.dumps({"device": f"U{i:05d}", "readings": readings}),
                )
                seq += 1
                time.sleep(60 / devices)
    finally:
        gateway.close()


def _alarm_arrivals(receiver: WebhookReceiver) -> dict[str, float]:
    """When each device's first excursion alarm reached the webhook (the dispatcher sends to
    one destination in order, one at a time, so the receiver's two lists stay aligned)."""
    arrivals: dict[str, float] = {}
    for (body, _headers), arrived in zip(
        list(receiver.received), list(receiver.arrived), strict=False
    ):
        event = json.loads(body)
        if event["kind"] == "excursion" and event["state"] == "open":
            arrivals.setdefault(event["device"], arrived)
    return arrivals


def latency(devices: int, alarms: int, rate: float) -> None:
    with (
        tempfile.TemporaryDirectory(prefix="bench-detect-") as tmp,
        running_mosquitto(Path(tmp) / "mq") as broker,
    ):
        work = Path(tmp)
        began = time.perf_counter()
        catalog_url = _import_catalog(work, _fleet(devices))
        print(
            f"catalog: {devices:,} units, {2 * devices:,} sensors imported in "
            f"{time.perf_counter() - began:.0f} s"
        )
        port = free_port()
        receiver = WebhookReceiver(port)
        detect = DetectProcess(
            broker.url,
            catalog_url,
            work / "var",
            env={
                "COLDCHAIN_DETECT_CLIENT_ID": CLIENT_ID,
                # no InfluxDB: the detector's counters are best effort, alerts never wait
                "COLDCHAIN_INFLUX_URL": f"http://127.0.0.1:{free_port()}",
                "COLDCHAIN_NOTIFY_WEBHOOK_URL": f"http://127.0.0.1:{port}/hook",
                "COLDCHAIN_DETECT_WARNING_DELAY_MIN": "60",
                "COLDCHAIN_DETECT_MISSING_AFTER_MIN": "60",
            },
        )
        detect.start()
        assert detect.process is not None
        stop = threading.Event()
        loader = threading.Thread(target=_background, args=(broker.port, devices, alarms, stop))
        loader.start()
        time.sleep(10)
        completed = _raise_alarms(broker.port, alarms, rate)

        with contextlib.suppress(AssertionError):  # a timeout is a figure: alarms missing
            wait_until(lambda: len(_alarm_arrivals(receiver)) >= len(completed), 60, "alarms")
        arrivals = _alarm_arrivals(receiver)
        current_kib, peak_kib = rss_kib(detect.process.pid)
        stop.set()
        loader.join()
        detect.stop()
        receiver.close()
    ms = np.array([arrivals[d] - t for d, t in completed.items() if d in arrivals]) * 1000
    p50, p95, p99 = np.percentile(ms, [50, 95, 99])
    print(
        f"latency publish(completing reading) -> webhook: {len(ms)} of {len(completed)} "
        f"alarms arrived, p50={p50:.0f} ms p95={p95:.0f} ms p99={p99:.0f} ms "
        f"max={ms.max():.0f} ms ({rate:g} new alarms/s; background: {2 * devices:,} sensors "
        f"reporting every minute); detector RSS {current_kib / 1024:.0f} MiB, "
        f"peak {peak_kib / 1024:.0f} MiB"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("what", choices=["throughput", "service", "latency"])
    parser.add_argument("--sensors", type=int, default=10_000, help="throughput")
    parser.add_argument("--minutes", type=int, default=60, help="throughput")
    parser.add_argument("--units", type=int, default=200, help="service")
    parser.add_argument("--shipments", type=int, default=20, help="service")
    parser.add_argument("--hours", type=int, default=24, help="service: simulated history")
    parser.add_argument("--devices", type=int, default=5_000, help="latency")
    parser.add_argument("--alarms", type=int, default=1_000, help="latency")
    parser.add_argument("--rate", type=float, default=10.0, help="latency: new alarms/s")
    args = parser.parse_args()
    if args.what == "throughput":
        throughput(args.sensors, args.minutes)
    elif args.what == "service":
        service(args.units, args.shipments, args.hours)
    else:
        latency(args.devices, args.alarms, args.rate)


if __name__ == "__main__":
    main()
