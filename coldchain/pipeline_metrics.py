"""Publishing a service's counters: for the API, the logs and the pipeline-health dashboard.

Every few seconds a snapshot is written atomically to `{data_dir}/metrics/{service}-{worker}
.json` (the API serves these), logged as one key=value line, and written as a `pipeline`
point (tags service, worker) to InfluxDB together with any display lines the service queued
(e.g. `alert` points). InfluxDB is best effort here: these are gauges and copies for
display, never readings, so a write that fails is logged and not retried.
"""

from __future__ import annotations

import asyncio
import logging
import os
import time
from collections.abc import Callable, Mapping
from pathlib import Path

import orjson

from coldchain.errors import StoreError
from coldchain.influx import InfluxClient
from coldchain.lineprotocol import FieldValue, encode_point

__all__ = ["STALE_INTERVALS", "metrics_file", "publish_metrics"]

#: A service whose counters are older than this many `metrics_interval_s` is dead or
#: wedged: the rule of `coldchain health` and of `/v1/metrics`' `stale` list alike.
STALE_INTERVALS = 3


def metrics_file(data_dir: Path, service: str, worker: str) -> Path:
    """Where `publish_metrics` keeps `service`'s latest counters for `worker`."""
    return data_dir / "metrics" / f"{service}-{worker}.json"


log = logging.getLogger(__name__)


def _write_file(path: Path, snapshot: Mapping[str, object]) -> None:
    tmp = path.with_suffix(".tmp")
    tmp.write_bytes(orjson.dumps(dict(snapshot)))
    os.replace(tmp, path)


async def publish_metrics(
    *,
    service: str,
    worker: str,
    snapshot: Callable[[], Mapping[str, object]],
    data_dir: Path,
    influx: InfluxClient,
    interval_s: float,
    display_lines: Callable[[], list[str]] | None = None,
) -> None:
    """Publish `snapshot()` every `interval_s` until cancelled."""
    path = metrics_file(data_dir, service, worker)
    path.parent.mkdir(parents=True, exist_ok=True)
    while True:
        await asyncio.sleep(interval_s)
        now_ms = time.time_ns() // 1_000_000
        values = dict(snapshot()) | {"time_ms": now_ms}
        await asyncio.to_thread(_write_file, path, values)
        log.info("%s metrics %s", service, " ".join(f"{k}={v}" for k, v in values.items()))
        fields: dict[str, FieldValue] = {
            k: v for k, v in values.items() if isinstance(v, int | float | bool) and k != "time_ms"
        }
        lines = [encode_point("pipeline", {"service": service, "worker": worker}, fields, now_ms)]
        if display_lines is not None:
            lines += display_lines()
        try:
            await influx.write_lines(lines)
        except StoreError as exc:
            log.info("%s metrics not written to InfluxDB (%d lines): %s", service, len(lines), exc)
