"""Pipeline health for `/v1/metrics`: the counters each service publishes as JSON under
`{data_dir}/metrics/` (ingest: `ingest-*.json`; the detector likewise, when it does), the
spool depth, and the lag between now and the newest reading's event time."""

from __future__ import annotations

import asyncio
from collections.abc import Iterable, Mapping, Set
from pathlib import Path
from typing import Any

from coldchain.influx import InfluxClient, quote_identifier
from coldchain.measurements import READING
from coldchain.pipeline_metrics import Snapshot, read_metrics

__all__ = ["read_service_metrics", "reading_lag_s", "sites_without_detector"]

_LAG_WINDOW_MS = 3_600_000


async def read_service_metrics(data_dir: Path) -> dict[str, Snapshot]:
    """Every service's snapshot, by file name; read off the event loop (file I/O)."""
    return await asyncio.to_thread(read_metrics, data_dir)


async def reading_lag_s(influx: InfluxClient, now_ms: int) -> float | None:
    """Seconds since the newest reading (by event time) of the last hour; None if none."""
    series = await influx.query(
        f'SELECT last("temp_c") FROM {quote_identifier(READING)}'
        f" WHERE time > {now_ms - _LAG_WINDOW_MS}ms"
        f" AND time <= {now_ms + 60_000}ms"
    )
    for item in series:
        for ts, _value in item.values:
            return max(0.0, (now_ms - int(ts)) / 1000)
    return None


def sites_without_detector(
    catalog_sites: Iterable[str], services: Mapping[str, Mapping[str, Any]], fresh: Set[str]
) -> list[str]:
    """Catalog sites no live detector watches: with partitions by site, a site left out of
    every partition (a new site, a typo) would have its excursions go unnoticed. A detector
    whose `sites` is empty watches every site; `fresh` names the services still reporting."""
    watched: set[str] = set()
    for name, values in services.items():
        if not name.startswith("detector-") or name not in fresh:
            continue
        sites = values.get("sites", [])
        if not sites:
            return []
        watched.update(str(site) for site in sites)
    return sorted(set(catalog_sites) - watched)
