"""History in buckets that keep min, max and mean (docs/design.md §3, §6): never thinned by
dropping points, so a peak always shows as its bucket's max.

The source series is chosen by the range (raw, ds_1m, ds_15m, ds_1h: `pick_resolution`),
made finer if the asked number of buckets needs it, and the output bucket is a whole
number of source buckets aligned to them, so each downsampled point (which stands for its
whole source bucket) falls into exactly one output bucket.

Tenant safety at window edges: a downsampled point stands for readings up to one source
bucket after its timestamp. Where a window (a sponsor's placement) starts or ends inside
a source bucket, that bucket would carry readings from outside the window (another
sponsor's period in a shared fridge), so the edges are read from the raw readings and only
the whole source buckets inside the window from the downsampled series.

Only readings that are temperatures (`ReadingValidity`, docs/design.md §11) make a bucket:
raw statements carry `valid_readings_condition`, so an error code (85 °C) is never a max,
and downsampled ones keep out source buckets whose min or max is not a temperature (written
before buckets were computed from valid readings only, `valid_buckets_condition`). A bucket
of invalid readings only is missing, as they are.
"""

from __future__ import annotations

import math
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from api.access.model import Device, HistorySegment
from api.querycache import StatementCache
from api.readings.influxql import devices_clause, tag_key
from coldchain.downsampling import (
    DEFAULT_VALIDITY,
    RAW,
    RESOLUTIONS,
    Resolution,
    pick_resolution,
    valid_buckets_condition,
)
from coldchain.influx import InfluxClient
from coldchain.judgement.validity import ReadingValidity
from coldchain.models import SensorKey
from coldchain.times import to_ms

__all__ = ["HistoryResult", "SeriesPoints", "choose_resolution", "read_history"]

_RETENTION_MS = {"INF": 2**62, "90d": 90 * 86_400_000, "730d": 730 * 86_400_000}


@dataclass(slots=True)
class SeriesPoints:
    """Buckets of one sensor at one place: `points` are [t_ms, min, max, mean]; `late`: the
    start of each raw bucket holding a reading that arrived late (backfilled)."""

    location: str
    site: str
    source: str
    device: str
    sensor: str
    points: list[tuple[int, float, float, float]] = field(default_factory=list)
    late: list[int] = field(default_factory=list)


@dataclass(frozen=True, slots=True)
class HistoryResult:
    resolution: str
    bucket_ms: int
    series: list[SeriesPoints]


def _kept_since(resolution: Resolution, now_ms: int) -> int:
    return now_ms - _RETENTION_MS.get(resolution.duration, 2**62) + 3_600_000


def choose_resolution(
    start_ms: int, end_ms: int, buckets: int, now_ms: int
) -> tuple[Resolution, int]:
    """(source series, output bucket width in ms) for about `buckets` buckets."""
    target = math.ceil((end_ms - start_ms) / buckets)
    picked = pick_resolution(start_ms, end_ms)
    chosen = RAW
    if picked is not RAW:
        eligible = [
            r
            for r in RESOLUTIONS
            if r.bucket_ms <= min(target, picked.bucket_ms) and start_ms >= _kept_since(r, now_ms)
        ]
        if eligible:
            chosen = max(eligible, key=lambda r: r.bucket_ms)
    unit = chosen.bucket_ms or 1000
    # Buckets start at `start` rounded down to the source's bucket (read_history), so size
    # them over that longer range: never one bucket more than asked.
    aligned_start = start_ms - start_ms % (chosen.bucket_ms or 1)
    target = math.ceil((end_ms - aligned_start) / buckets)
    return chosen, max(unit, math.ceil(target / unit) * unit)


@dataclass(frozen=True, slots=True)
class _Part:
    resolution: Resolution
    start_ms: int
    end_ms: int


def _parts(resolution: Resolution, start_ms: int, end_ms: int) -> list[_Part]:
    """Raw edges + whole downsampled buckets inside [start, end)."""
    if resolution is RAW:
        return [_Part(RAW, start_ms, end_ms)]
    step = resolution.bucket_ms
    inner_start = -(-start_ms // step) * step
    inner_end = end_ms // step * step
    if inner_start >= inner_end:
        return [_Part(RAW, start_ms, end_ms)]
    parts = [_Part(resolution, inner_start, inner_end)]
    if start_ms < inner_start:
        parts.append(_Part(RAW, start_ms, inner_start))
    if inner_end < end_ms:
        parts.append(_Part(RAW, inner_end, end_ms))
    return parts


def _statement(
    part: _Part,
    database: str,
    devices: Sequence[Device],
    bucket_ms: int,
    offset_ms: int,
    validity: ReadingValidity,
) -> str:
    lo, hi, mean = part.resolution.fields
    # The count's name tells raw rows (readings) from downsampled ones (source buckets)
    # apart in the merged answer of one multi-statement request.
    count = "n" if part.resolution is RAW else "sub"
    # Raw readings keep when they were received (coldchain.lineprotocol): the newest arrival
    # per bucket tells a backfilled bucket, at the cost of one more aggregate.
    received = ', max("received_ms") AS "recv"' if part.resolution is RAW else ""
    return (
        f'SELECT min("{lo}") AS "lo", max("{hi}") AS "hi", mean("{mean}") AS "mean",'
        f' count("{mean}") AS "{count}"{received} FROM {part.resolution.source(database)}'
        f" WHERE time >= {part.start_ms}ms AND time < {part.end_ms}ms"
        f" AND {devices_clause(devices)}"
        f" AND {valid_buckets_condition(validity, part.resolution)}"
        f' GROUP BY time({bucket_ms}ms, {offset_ms}ms), "site", "source", "device", "sensor"'
        " fill(none)"
    )


async def read_history(
    influx: InfluxClient,
    cache: StatementCache,
    segments: Sequence[HistorySegment],
    *,
    start: datetime,
    end: datetime,
    buckets: int,
    now_ms: int,
    downsampled: bool = True,
    validity: ReadingValidity = DEFAULT_VALIDITY,
    late_after_ms: int = 600_000,
) -> HistoryResult:
    """Buckets of every sensor of every segment, read only inside the segments' windows,
    from the readings `validity` calls temperatures (pass the API's
    `ReadingValidity.from_settings(settings)`); `downsampled` False reads raw readings only
    (the retention policies are missing). A raw bucket is late when one of its readings
    was received more than `late_after_ms` after the bucket's end: a backfill, which the
    chart marks (downsampled series keep no arrival time, so their buckets never are)."""
    start_ms, end_ms = to_ms(start), to_ms(end)
    resolution, bucket_ms = choose_resolution(start_ms, end_ms, buckets, now_ms)
    if not downsampled:
        resolution = RAW
    aligned_start = start_ms - start_ms % (resolution.bucket_ms or 1)
    offset_ms = aligned_start % bucket_ms
    statements: list[str] = []
    owners: dict[tuple[str, str, str], tuple[str, int]] = {}
    for segment in segments:
        devices = segment.location.devices
        if not devices:
            continue
        interval = min(d.log_interval_s for d in devices) * 1000
        for d in devices:
            owners[(d.site, d.source, d.device)] = (segment.location.id, interval)
        for window in segment.windows:
            w_end = end_ms if window.end is None else to_ms(window.end)
            for part in _parts(resolution, to_ms(window.start), w_end):
                statements.append(
                    _statement(part, influx.database, devices, bucket_ms, offset_ms, validity)
                )
    merged: dict[SensorKey, dict[int, list[float]]] = {}
    late: dict[SensorKey, set[int]] = {}
    # Statements' series share tags and bucket times, merged below.
    for answer in await cache.query_each(influx, statements):
        for series in answer:
            key = tag_key(series.tags)
            weight_each = 1.0
            if series.columns == _DOWNSAMPLED_COLUMNS:
                interval = owners.get((key.site, key.source, key.device), ("", 60_000))[1]
                weight_each = max(resolution.bucket_ms / max(interval, 1), 1.0)
            elif series.columns == _RAW_COLUMNS:
                arrived_by = bucket_ms + late_after_ms
                late.setdefault(key, set()).update(
                    row[0]
                    for row in series.values
                    if row[4] and row[5] is not None and row[5] - row[0] > arrived_by
                )
            else:
                raise RuntimeError(f"history: unexpected columns {series.columns}")  # a bug
            _merge(merged.setdefault(key, {}), series.values, weight_each)
    return HistoryResult(resolution.name, bucket_ms, _collect(merged, owners, late))


# What `_statement` selects, in its order (the count names raw rows apart from buckets).
_RAW_COLUMNS = ["time", "lo", "hi", "mean", "n", "recv"]
_DOWNSAMPLED_COLUMNS = ["time", "lo", "hi", "mean", "sub"]


def _merge(buckets: dict[int, list[float]], rows: list[list[Any]], weight_each: float) -> None:
    """Fold rows [time, lo, hi, mean, count, (received)] into buckets [lo, hi, weighted sum,
    weight]: a plain loop over the answer's lists, as a year at 1,000 buckets is thousands
    of rows per request."""
    for t, lo, hi, mean, n, *_ in rows:
        if lo is None or hi is None or mean is None or not n:
            continue
        weight = n * weight_each
        bucket = buckets.get(t)
        if bucket is None:
            buckets[t] = [float(lo), float(hi), mean * weight, weight]
            continue
        if lo < bucket[0]:
            bucket[0] = float(lo)
        if hi > bucket[1]:
            bucket[1] = float(hi)
        bucket[2] += mean * weight
        bucket[3] += weight


def _collect(
    merged: dict[SensorKey, dict[int, list[float]]],
    owners: dict[tuple[str, str, str], tuple[str, int]],
    late: dict[SensorKey, set[int]],
) -> list[SeriesPoints]:
    result = []
    for key, buckets in sorted(merged.items()):
        site, source, device, sensor = key
        location = owners.get((site, source, device), ("", 0))[0]
        points = [
            (t, lo, hi, total / weight if weight else lo)
            for t, (lo, hi, total, weight) in sorted(buckets.items())
        ]
        marked = sorted(late.get(key, ()))
        result.append(SeriesPoints(location, site, source, device, sensor, points, marked))
    return result
