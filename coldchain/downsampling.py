"""Downsampled temperature series (docs/design.md §3): 1 min / 15 min / 1 h min, max and mean.

Shared by the dashboards and the API, so both read the same buckets. Each resolution is a
retention policy of its own holding measurement `reading` with the §3 tags and fields
`temp_c_min`, `temp_c_max`, `temp_c_mean` (averages hide peaks, so the extremes are kept
beside the mean). Raw readings stay in the database's default retention policy, which this
module never shortens: they are the GxP record behind a batch release.

Buckets are computed by the pipeline, not by InfluxDB continuous queries: a CQ computes only
the intervals of its `RESAMPLE ... FOR` window, so a logger's backfill or a gateway's backlog
older than that left a hole in every chart where the product travelled, and neither InfluxDB
2.x (v1 API) nor 3 Core runs CQs at all. Ingest marks the hours its writes touch and
recomputes them (`ingest.downsampler`, with `downsample_range`) seconds later, whatever the
readings' age; the same function fills history imported from elsewhere. Each bucket is
computed from the raw readings, not from the finer series, so a 1 h mean is the true mean,
and only from the readings that are temperatures (`ReadingValidity`, docs/design.md §11: an
error code such as 85 °C is never a bucket's max). A bucket whose readings are all invalid
is not written at all: it is missing, as its readings are.

Buckets written before invalid readings were filtered are not all repaired by a recompute:
InfluxDB 1.x cannot delete points of one retention policy only, so a bucket made only of
invalid readings keeps its old values. Readers therefore also keep out buckets whose min or
max is not a temperature (`valid_buckets_condition`).

Usage:
    async with InfluxClient(url, db, username=admin, ...) as influx:
        await ensure_downsampling(influx)  # admin: the RPs; idempotent
    async with InfluxClient(url, db, username=ingest, ...) as influx:  # READ and WRITE
        await downsample_range(influx, start_ms, end_ms, validity=validity)
    series = pick_resolution(start_ms, end_ms)  # raw, 1m, 15m or 1h
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Final

from coldchain import times
from coldchain.config import Settings
from coldchain.influx import (
    InfluxClient,
    quote_identifier,
    tags_condition,
    valid_readings_condition,
)
from coldchain.judgement.validity import ReadingValidity
from coldchain.lineprotocol import encode_point, format_float
from coldchain.measurements import READING

__all__ = [
    "DEFAULT_VALIDITY",
    "HOUR_MS",
    "RAW",
    "RESOLUTIONS",
    "Resolution",
    "device_condition",
    "downsample_range",
    "downsampling_present",
    "ensure_downsampling",
    "pick_resolution",
    "valid_buckets_condition",
]

log = logging.getLogger(__name__)

_MINUTE_MS = 60_000
HOUR_MS: Final = 60 * _MINUTE_MS
_DAY_MS = 24 * HOUR_MS
# Lines per write of computed buckets: a day of 1 min buckets of 3 probes.
_WRITE_LINES = 5_000

#: The reading-validity rule of the settings' defaults (no environment, no file read), for
#: callers without settings at hand and for builds that must give the same bytes anywhere.
DEFAULT_VALIDITY: Final = ReadingValidity.from_settings(Settings.model_construct())


@dataclass(frozen=True, slots=True)
class Resolution:
    """One series the readings can be read from.

    Attributes:
        name: `raw`, `1m`, `15m` or `1h`.
        retention_policy: the RP that holds it (None: the database's default RP).
        bucket_ms: bucket width; 0 for raw readings.
        duration: how long InfluxDB keeps it (InfluxQL duration; `INF` = forever).
        max_span_ms: the longest time range this series is picked for.
        shard_duration: the RP's shard group duration. Long for the coarse series: a
            one-year chart then reads one or two shards, not the 52 weekly ones InfluxDB
            makes by default (measured: half the query time on 1.6). Empty for the raw
            readings, whose RP this module never changes.
    """

    name: str
    retention_policy: str | None
    bucket_ms: int
    duration: str
    max_span_ms: int
    shard_duration: str

    @property
    def fields(self) -> tuple[str, str, str]:
        """(min, max, mean) field names; raw readings have only `temp_c`."""
        if self.retention_policy is None:
            return ("temp_c", "temp_c", "temp_c")
        return ("temp_c_min", "temp_c_max", "temp_c_mean")

    @property
    def interval(self) -> str:
        """The bucket as an InfluxQL duration literal (`1m`, `15m`, `1h`)."""
        return self.name

    def source(self, database: str) -> str:
        """The fully qualified FROM clause of this series."""
        if self.retention_policy is None:
            return quote_identifier(READING)
        return ".".join(
            quote_identifier(part) for part in (database, self.retention_policy, READING)
        )


# Spans: a panel about 1,000 px wide should get at most a few thousand points per probe.
RAW = Resolution("raw", None, 0, "INF", 12 * HOUR_MS, "")
RESOLUTIONS: tuple[Resolution, ...] = (
    Resolution("1m", "ds_1m", _MINUTE_MS, "90d", 2 * _DAY_MS, "1d"),
    Resolution("15m", "ds_15m", 15 * _MINUTE_MS, "730d", 31 * _DAY_MS, "52w"),
    Resolution("1h", "ds_1h", HOUR_MS, "INF", 2**62, "52w"),
)


def pick_resolution(start_ms: int, end_ms: int) -> Resolution:
    """The coarsest-enough series for [start, end): raw up to 12 h, then 1m, 15m, 1h.

    Raises:
        ValueError: when end is not after start.
    """
    if end_ms <= start_ms:
        raise ValueError(f"time range: end {end_ms} must be after start {start_ms}")
    span = end_ms - start_ms
    for resolution in (RAW, *RESOLUTIONS):
        if span <= resolution.max_span_ms:
            return resolution
    return RESOLUTIONS[-1]


def valid_buckets_condition(validity: ReadingValidity, resolution: Resolution) -> str:
    """The WHERE condition that keeps `resolution`'s points that are temperatures: for raw
    readings `valid_readings_condition`; for a downsampled series, buckets whose min and max
    are both valid (a bucket computed since buckets are filtered always is; one written
    before may hold an error code as its max, and is then left out as missing)."""
    lo, hi, _ = resolution.fields
    if lo == hi:
        return valid_readings_condition(validity, lo)
    return f"{valid_readings_condition(validity, lo)} AND {valid_readings_condition(validity, hi)}"


def _duration_ms(duration: str) -> int:
    if duration == "INF":
        return 2**62
    units = {"m": _MINUTE_MS, "h": HOUR_MS, "d": _DAY_MS, "w": 7 * _DAY_MS}
    return int(duration[:-1]) * units[duration[-1]]


#: Our continuous queries of releases before buckets were computed by the pipeline.
_LEGACY_CONTINUOUS_QUERIES: Final = tuple(f"cq_reading_{r.name}" for r in RESOLUTIONS)


async def _ensure_retention_policies(influx: InfluxClient) -> None:
    rows = [row for series in await influx.query("SHOW RETENTION POLICIES") for row in series.rows]
    existing = {str(row["name"]) for row in rows}
    db = quote_identifier(influx.database)
    for resolution in RESOLUTIONS:
        assert resolution.retention_policy is not None
        rp = quote_identifier(resolution.retention_policy)
        verb = "ALTER" if resolution.retention_policy in existing else "CREATE"
        tail = " REPLICATION 1" if verb == "CREATE" else ""
        # ALTER with the same durations is a no-op, so the two branches stay idempotent;
        # a changed shard duration applies to shard groups created from then on.
        await influx.query(
            f"{verb} RETENTION POLICY {rp} ON {db} DURATION {resolution.duration}{tail}"
            f" SHARD DURATION {resolution.shard_duration}"
        )


async def _drop_legacy_continuous_queries(influx: InfluxClient) -> None:
    """Our CQs of earlier releases would write the same buckets from their narrower view."""
    present = {
        str(row["name"])
        for series in await influx.query("SHOW CONTINUOUS QUERIES")
        if series.name == influx.database
        for row in series.rows
    }
    db = quote_identifier(influx.database)
    for name in sorted(present.intersection(_LEGACY_CONTINUOUS_QUERIES)):
        log.info("downsampling: dropping continuous query %s (ingest computes buckets)", name)
        await influx.query(f"DROP CONTINUOUS QUERY {quote_identifier(name)} ON {db}")


async def ensure_downsampling(influx: InfluxClient) -> None:
    """Create (or bring up to date) the database and the downsampled retention policies, and
    drop the continuous queries earlier releases created. Needs an admin (the setup path:
    `coldchain influx setup-users`, `coldchain dashboards setup-influx`).

    Idempotent: safe at every setup; existing series are kept.

    Raises:
        StoreUnavailable: InfluxDB is down (retry).
        StoreRejected: InfluxDB refused a statement (e.g. missing admin rights).
    """
    await influx.create_database()
    await _ensure_retention_policies(influx)
    await _drop_legacy_continuous_queries(influx)


async def downsampling_present(influx: InfluxClient) -> bool:
    """Whether the downsampled retention policies exist; a reader may ask (READ)."""
    rows = [row for series in await influx.query("SHOW RETENTION POLICIES") for row in series.rows]
    existing = {str(row["name"]) for row in rows}
    return all(r.retention_policy in existing for r in RESOLUTIONS)


def device_condition(devices: Sequence[Mapping[str, str]]) -> str:
    """An InfluxQL condition matching any of `devices`, each given by the tags that name it
    (site, source, device)."""
    return "(" + " OR ".join(f"({tags_condition(sorted(d.items()))})" for d in devices) + ")"


def _bucket_query(
    resolution: Resolution, time_range: str, validity: ReadingValidity, devices: str
) -> str:
    lo, hi, mean = resolution.fields
    where = f"{time_range} AND {valid_readings_condition(validity)}"
    if devices:
        where += f" AND {devices}"
    # GROUP BY time(...), * keeps every tag of §3 as a tag of the bucket's point; fill(none):
    # no row for an empty bucket (a logger reading every 5 min leaves 4 in 5 empty).
    return (
        f'SELECT min("temp_c") AS "{lo}", max("temp_c") AS "{hi}", mean("temp_c") AS "{mean}"'
        f" FROM {quote_identifier(READING)} WHERE {where}"
        f" GROUP BY time({resolution.interval}), * fill(none)"
    )


async def _write_buckets(influx: InfluxClient, resolution: Resolution, statement: str) -> int:
    """Run `statement` and write its buckets into `resolution`'s RP; empty buckets (every
    reading invalid, or none) are left out. Returns the number of points written."""
    assert resolution.retention_policy is not None
    lines: list[str] = []
    written = 0

    async def flush() -> None:
        nonlocal written
        if lines:
            body = "\n".join(lines).encode()
            await influx.write_body(body, retention_policy=resolution.retention_policy)
            written += len(lines)
            lines.clear()

    lo, hi, mean = resolution.fields
    async for series in influx.stream_query(statement):
        # The series key once per series (tags are escaped there), then plain numbers.
        key = encode_point(READING, {k: v for k, v in series.tags.items() if v}, {lo: 0.0}, 0)
        head = key.split(" ", 1)[0]
        for row in series.values:
            if row[1] is None:
                continue
            lines.append(
                f"{head} {lo}={format_float(row[1])},{hi}={format_float(row[2])},"
                f"{mean}={format_float(row[3])} {row[0]}"
            )
            if len(lines) >= _WRITE_LINES:
                await flush()
    await flush()
    return written


async def downsample_range(
    influx: InfluxClient,
    start_ms: int,
    end_ms: int,
    *,
    devices: Sequence[Mapping[str, str]] = (),
    chunk_ms: int = 7 * _DAY_MS,
    validity: ReadingValidity = DEFAULT_VALIDITY,
) -> int:
    """Recompute every resolution's buckets over [start, end) from the raw readings that
    `validity` calls temperatures, of `devices` (tags naming each) or of all.

    Bounds are widened to whole hours so no bucket is computed from part of its readings;
    rewriting a bucket overwrites it (same series and time), so a rerun is harmless. The
    range is processed in chunks so one statement never scans months of raw points. Needs
    READ and WRITE on the database, and the retention policies (`ensure_downsampling`).

    Returns:
        The number of points written.
    """
    if end_ms <= start_ms:
        raise ValueError(f"time range: end {end_ms} must be after start {start_ms}")
    begin = start_ms - start_ms % HOUR_MS
    finish = end_ms + (-end_ms % HOUR_MS)
    now_ms = times.now_ms()
    chunk = max(chunk_ms - chunk_ms % HOUR_MS, HOUR_MS)
    matching = device_condition(devices) if devices else ""
    written = 0
    for resolution in RESOLUTIONS:
        # InfluxDB refuses points older than the RP keeps ("beyond retention policy"):
        # start that resolution at the first whole hour it still holds.
        oldest = now_ms - _duration_ms(resolution.duration) + HOUR_MS
        first = max(begin, oldest - oldest % HOUR_MS)
        for lo in range(first, finish, chunk):
            hi = min(lo + chunk, finish)
            time_range = f"time >= {lo}ms AND time < {hi}ms"
            statement = _bucket_query(resolution, time_range, validity, matching)
            written += await _write_buckets(influx, resolution, statement)
    log.debug("downsampling: start_ms=%d end_ms=%d points=%d", start_ms, end_ms, written)
    return written
