"""Publishing a service's counters: for the API, the logs and the pipeline-health dashboard.

Every few seconds a snapshot is written atomically to `{data_dir}/metrics/{service}-{worker}
.json` (the API serves these), logged as one key=value line, and written as a `pipeline`
point (tags service, worker) to InfluxDB together with any display lines the service queued
(e.g. `alert` points). InfluxDB is best effort here: these are gauges and copies for
display, never readings, so a write that fails is logged and not retried.

The files are read back here too (`read_metrics`, `read_snapshot`), for `/v1/metrics`,
`coldchain health` and the tests, so every reader agrees on what a snapshot is and when
it is stale.
"""

from __future__ import annotations

import asyncio
import logging
import os
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import orjson

from coldchain import times
from coldchain.errors import StoreError
from coldchain.influx import InfluxClient
from coldchain.lineprotocol import FieldValue, encode_point
from coldchain.measurements import PIPELINE

__all__ = [
    "STALE_INTERVALS",
    "Snapshot",
    "metrics_file",
    "publish_metrics",
    "read_metrics",
    "read_snapshot",
]

#: A service whose counters are older than this many `metrics_interval_s` is dead or
#: wedged: the rule of `coldchain health` and of `/v1/metrics`' `stale` list alike.
STALE_INTERVALS = 3


def metrics_file(data_dir: Path, service: str, worker: str) -> Path:
    """Where `publish_metrics` keeps `service`'s latest counters for `worker`."""
    return data_dir / "metrics" / f"{service}-{worker}.json"


log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class Snapshot:
    """One service's latest counters, as its metrics file holds them.

    Attributes:
        values: the counters, and `time_ms`: when the service wrote them.
    """

    values: dict[str, Any]

    @property
    def written_ms(self) -> int | None:
        """The `time_ms` the service wrote; None when there is none.

        Rather than the file's mtime: it is what the service wrote, and a copied or
        restored file keeps an mtime that says nothing about the service.
        """
        written = self.values.get("time_ms")
        return None if isinstance(written, bool) or not isinstance(written, int) else written

    def age_s(self, now_ms: int) -> float | None:
        """Seconds since the service wrote it; None without `time_ms`. A clock stepped
        back makes the age negative: that is fresh (0), not an error."""
        written = self.written_ms
        return None if written is None else max(0.0, (now_ms - written) / 1000)

    def stale(self, now_ms: int, interval_s: float) -> bool:
        """Older than `STALE_INTERVALS` publishing intervals, or undated: the service is
        dead or wedged."""
        written = self.written_ms
        return written is None or now_ms - written > STALE_INTERVALS * interval_s * 1000


def read_snapshot(path: Path) -> Snapshot:
    """The snapshot in one metrics file.

    Raises:
        OSError: cannot read it (FileNotFoundError: the service has not written one).
        ValueError: it holds no JSON object (not a metrics snapshot).
    """
    values = orjson.loads(path.read_bytes())  # orjson.JSONDecodeError is a ValueError
    if not isinstance(values, dict):
        raise ValueError(f"{path}: not a JSON object")
    return Snapshot(values)


def read_metrics(data_dir: Path, service: str | None = None) -> dict[str, Snapshot]:
    """Every service's snapshot under `{data_dir}/metrics`, by file name without `.json`
    (`{service}-{worker}`), in name order; only `service`'s when given.

    A file that cannot be read is left out: it is being replaced right now (the writer
    renames a finished file over it) or is not a snapshot; the next read finds it.
    """
    directory = data_dir / "metrics"
    found: dict[str, Snapshot] = {}
    if not directory.is_dir():
        return found
    pattern = "*.json" if service is None else f"{service}-*.json"
    for path in sorted(directory.glob(pattern)):
        try:
            found[path.stem] = read_snapshot(path)
        except (OSError, ValueError):
            continue
    return found


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
        now_ms = times.now_ms()
        values = dict(snapshot()) | {"time_ms": now_ms}
        await asyncio.to_thread(_write_file, path, values)
        log.info("%s metrics %s", service, " ".join(f"{k}={v}" for k, v in values.items()))
        fields: dict[str, FieldValue] = {
            k: v for k, v in values.items() if isinstance(v, int | float | bool) and k != "time_ms"
        }
        lines = [encode_point(PIPELINE, {"service": service, "worker": worker}, fields, now_ms)]
        if display_lines is not None:
            lines += display_lines()
        try:
            await influx.write_lines(lines)
        except StoreError as exc:
            log.info("%s metrics not written to InfluxDB (%d lines): %s", service, len(lines), exc)
