"""Ingest counters, published for the API and the pipeline-health dashboard through
`coldchain.pipeline_metrics` (`{data_dir}/metrics/ingest-{client}.json`, the log, and a
`pipeline` point in InfluxDB)."""

from __future__ import annotations

from collections import deque
from dataclasses import asdict, dataclass, field
from pathlib import Path

from coldchain.influx import InfluxClient
from coldchain.pipeline_metrics import publish_metrics

__all__ = ["IngestMetrics", "report_metrics"]


@dataclass
class IngestMetrics:
    worker: str
    messages_received: int = 0
    readings_received: int = 0
    lines_written: int = 0
    dead_letters: int = 0
    duplicates: int = 0
    conflicts: int = 0
    write_batches: int = 0
    write_retries: int = 0
    spool_depth_bytes: int = 0
    influx_up: bool = True
    broker_connects: int = 0
    # The downsampler (ingest/downsampler.py): hours still to recompute, rounds run, bucket
    # points written and the time spent computing them.
    downsample_hours_marked: int = 0
    downsample_rounds: int = 0
    downsample_points: int = 0
    downsample_ms: float = 0.0
    _latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=512))
    _readback_latencies_ms: deque[float] = field(default_factory=lambda: deque(maxlen=512))

    def record_write(self, lines: int, latency_ms: float) -> None:
        self.lines_written += lines
        self.write_batches += 1
        self._latencies_ms.append(latency_ms)

    def record_readback(self, latency_ms: float) -> None:
        self._readback_latencies_ms.append(latency_ms)

    def record_downsample(self, points: int, took_ms: float, still_marked: int) -> None:
        self.downsample_rounds += 1
        self.downsample_points += points
        self.downsample_ms += took_ms
        self.downsample_hours_marked = still_marked

    def snapshot(self) -> dict[str, object]:
        data = {k: v for k, v in asdict(self).items() if not k.startswith("_")}
        for name, window in (
            ("write", self._latencies_ms),
            ("readback", self._readback_latencies_ms),
        ):
            latencies = sorted(window)
            data[f"{name}_latency_ms_p50"] = latencies[len(latencies) // 2] if latencies else None
            data[f"{name}_latency_ms_max"] = latencies[-1] if latencies else None
        return data


async def report_metrics(
    metrics: IngestMetrics, data_dir: Path, influx: InfluxClient, interval_s: float
) -> None:
    await publish_metrics(
        service="ingest",
        worker=metrics.worker,
        snapshot=metrics.snapshot,
        data_dir=data_dir,
        influx=influx,
        interval_s=interval_s,
    )
