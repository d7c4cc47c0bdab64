"""Ingest counters, published for the API and the pipeline-health dashboard.

Every few seconds a snapshot is written atomically to `{data_dir}/metrics/{client}.json`
(the API reads it), logged as one key=value line, and written as a `pipeline` point to
InfluxDB when it is up (best effort: these are gauges of the pipeline, not readings).
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

import orjson

from coldchain.errors import StoreError
from coldchain.influx import InfluxClient
from coldchain.lineprotocol import encode_point

__all__ = ["IngestMetrics", "report_metrics"]

log = logging.getLogger(__name__)


@dataclass
class IngestMetrics:
    worker: str
    messages_received: int = 0
    readings_received: int = 0
    lines_written: int = 0
    dead_letters: int = 0
    write_batches: int = 0
    write_retries: int = 0
    spool_depth_bytes: int = 0
    influx_up: bool = True
    broker_connects: int = 0
    _latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=512))

    def record_write(self, lines: int, latency_ms: float) -> None:
        self.lines_written += lines
        self.write_batches += 1
        self._latencies_ms.append(latency_ms)

    def snapshot(self) -> dict[str, object]:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        latencies = sorted(self._latencies_ms)
        data["write_latency_ms_p50"] = latencies[len(latencies) // 2] if latencies else None
        data["write_latency_ms_max"] = latencies[-1] if latencies else None
        return data


def _write_file(path: Path, snapshot: dict[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(snapshot))
    os.replace(tmp, path)


async def report_metrics(
    metrics: IngestMetrics, data_dir: Path, influx: InfluxClient, interval_s: float
) -> None:
    directory = data_dir / "metrics"
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / f"ingest-{metrics.worker}.json"
    while True:
        await asyncio.sleep(interval_s)
        now_ms = time.time_ns() // 1_000_000
        snapshot = metrics.snapshot() | {"time_ms": now_ms}
        await asyncio.to_thread(_write_file, path, snapshot)
        log.info("ingest metrics %s", " ".join(f"{k}={v}" for k, v in snapshot.items()))
        fields: dict[str, float | int | bool | str] = {
            k: v
            for k, v in snapshot.items()
            if isinstance(v, int | float | bool) and k != "time_ms"
        }
        point = encode_point(
            "pipeline", {"service": "ingest", "worker": metrics.worker}, fields, now_ms
        )
        try:
            await influx.write_lines([point])
        except StoreError as exc:
            log.debug("ingest metrics not written to InfluxDB: %s", exc)
