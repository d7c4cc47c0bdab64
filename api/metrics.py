"""Pipeline health for `/v1/metrics`: the counters each service publishes as JSON under
`{data_dir}/metrics/` (ingest: `ingest-*.json`; the detector likewise, when it does), the
spool depth, and the lag between now and the newest reading's event time."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import orjson

from coldchain.influx import InfluxClient

__all__ = ["read_service_metrics", "reading_lag_s"]

_LAG_WINDOW_MS = 3_600_000


def _read(directory: Path) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    if not directory.is_dir():
        return found
    for path in sorted(directory.glob("*.json")):
        try:
            value = orjson.loads(path.read_bytes())
        except (OSError, orjson.JSONDecodeError):
            continue  # being replaced right now (written atomically) or not ours
        if isinstance(value, dict):
            found[path.stem] = value
    return found


async def read_service_metrics(data_dir: Path) -> dict[str, dict[str, Any]]:
    return await asyncio.to_thread(_read, data_dir / "metrics")


async def reading_lag_s(influx: InfluxClient, now_ms: int) -> float | None:
    """Seconds since the newest reading (by event time) of the last hour; None if none."""
    series = await influx.query(
        f'SELECT last("temp_c") FROM "reading" WHERE time > {now_ms - _LAG_WINDOW_MS}ms'
        f" AND time <= {now_ms + 60_000}ms"
    )
    for item in series:
        for ts, _value in item.values:
            return max(0.0, (now_ms - int(ts)) / 1000)
    return None
