"""Downsampled temperature series (docs/design.md §3): 1 min / 15 min / 1 h min, max and mean.

Shared by the dashboards and the API, so both read the same buckets. Each resolution is a
retention policy of its own holding measurement `reading` with the §3 tags and fields
`temp_c_min`, `temp_c_max`, `temp_c_mean` (averages hide peaks, so the extremes are kept
beside the mean). Raw readings stay in the database's default retention policy, which this
module never shortens: they are the GxP record behind a batch release.

InfluxDB 1.x continuous queries only compute buckets of new time ranges (`RESAMPLE ... FOR`
looks back a bounded window), so a logger's backfill older than that window, or history
imported before the CQs existed, is filled by `downsample_range`. Each bucket is computed
from the raw readings, not from the finer series, so a 1 h mean is the true mean, and only
from the readings that are temperatures (`ReadingValidity`, docs/design.md §11: an error
code such as 85 °C is never a bucket's max). A bucket whose readings are all invalid is not
written at all: it is missing, as its readings are.

Buckets written before the CQs filtered invalid readings are not all repaired by a rerun of
`downsample_range`: InfluxDB 1.x cannot delete points of one retention policy only, so a
bucket made only of invalid readings keeps its old values. Readers therefore also keep out
buckets whose min or max is not a temperature (`valid_buckets_condition`).

Usage:
    async with InfluxClient(url, db) as influx:
        validity = ReadingValidity.from_settings(settings)  # or DEFAULT_VALIDITY
        await ensure_downsampling(influx, validity)  # idempotent, at every start
        await downsample_range(influx, start_ms, end_ms, validity=validity)
        series = pick_resolution(start_ms, end_ms)  # raw, 1m, 15m or 1h
"""

from __future__ import annotations

import logging
import re
from dataclasses import dataclass
from typing import Final

from coldchain import times
from coldchain.config import Settings
from coldchain.influx import InfluxClient, quote_identifier, valid_readings_condition
from coldchain.judgement.validity import ReadingValidity
from coldchain.measurements import READING

__all__ = [
    "DEFAULT_VALIDITY",
    "RAW",
    "RESOLUTIONS",
    "Resolution",
    "continuous_query",
    "downsample_range",
    "ensure_downsampling",
    "pick_resolution",
    "valid_buckets_condition",
]

log = logging.getLogger(__name__)

_MINUTE_MS = 60_000
_HOUR_MS = 60 * _MINUTE_MS
_DAY_MS = 24 * _HOUR_MS

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
        resample_for: how far back each CQ run recomputes, so late readings still count.
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
    resample_for: str
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
RAW = Resolution("raw", None, 0, "INF", "", 12 * _HOUR_MS, "")
RESOLUTIONS: tuple[Resolution, ...] = (
    # RESAMPLE FOR covers a logger upload up to that late; older backfill needs
    # downsample_range (the ingest or an operator runs it).
    Resolution("1m", "ds_1m", _MINUTE_MS, "90d", "2h", 2 * _DAY_MS, "1d"),
    Resolution("15m", "ds_15m", 15 * _MINUTE_MS, "730d", "12h", 31 * _DAY_MS, "52w"),
    Resolution("1h", "ds_1h", _HOUR_MS, "INF", "2d", 2**62, "52w"),
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
    are both valid (a bucket computed since the CQs filter always is; one written before
    may hold an error code as its max, and is then left out as missing)."""
    lo, hi, _ = resolution.fields
    if lo == hi:
        return valid_readings_condition(validity, lo)
    return f"{valid_readings_condition(validity, lo)} AND {valid_readings_condition(validity, hi)}"


def _select_into(
    database: str,
    resolution: Resolution,
    validity: ReadingValidity,
    time_range: str = "",
    raw_policy: str | None = None,
) -> str:
    assert resolution.retention_policy is not None
    lo, hi, mean = resolution.fields
    # `db..reading`: the default RP, where the ingest writes (it names none).
    policy = quote_identifier(raw_policy) if raw_policy else ""
    raw = f"{quote_identifier(database)}.{policy}.{quote_identifier(READING)}"
    # Only readings that are temperatures; a CQ takes field conditions in its WHERE (not a
    # time range: InfluxDB adds the RESAMPLE window itself).
    where = f"{time_range} AND " if time_range else ""
    where += valid_readings_condition(validity)
    # GROUP BY time(...), * keeps every tag of §3 as a tag of the downsampled point.
    return (
        f'SELECT min("temp_c") AS "{lo}", max("temp_c") AS "{hi}", mean("temp_c") AS "{mean}"'
        f" INTO {resolution.source(database)} FROM {raw} WHERE {where}"
        f" GROUP BY time({resolution.interval}), *"
    )


def continuous_query(
    database: str,
    resolution: Resolution,
    raw_policy: str = "autogen",
    validity: ReadingValidity = DEFAULT_VALIDITY,
) -> str:
    """The CREATE CONTINUOUS QUERY statement of one resolution, over the readings `validity`
    calls temperatures.

    `raw_policy` is the default RP, named explicitly because InfluxDB stores a CQ with the
    RP it resolved at creation; comparing with what SHOW prints needs the same text.
    """
    name = quote_identifier(f"cq_reading_{resolution.name}")
    return (
        f"CREATE CONTINUOUS QUERY {name} ON {quote_identifier(database)}"
        f" RESAMPLE EVERY {resolution.interval} FOR {resolution.resample_for}"
        f" BEGIN {_select_into(database, resolution, validity, '', raw_policy)} END"
    )


def _duration_ms(duration: str) -> int:
    if duration == "INF":
        return 2**62
    units = {"m": _MINUTE_MS, "h": _HOUR_MS, "d": _DAY_MS, "w": 7 * _DAY_MS}
    return int(duration[:-1]) * units[duration[-1]]


_NUMBER = re.compile(r"(?<![\w.])-?\d+\.\d*(?![\w.])")


def _normalised(statement: str) -> str:
    # SHOW CONTINUOUS QUERIES prints identifiers without quotes (ours need none) and float
    # literals with three decimals (85.0 as 85.000): compare both the way InfluxDB prints.
    text = re.sub(r"\s+", " ", statement.replace('"', "")).strip()
    return _NUMBER.sub(lambda m: f"{float(m.group()):.3f}", text)


async def _ensure_retention_policies(influx: InfluxClient) -> str:
    """Create or alter our RPs; returns the name of the default RP (the raw readings')."""
    rows = [row for series in await influx.query("SHOW RETENTION POLICIES") for row in series.rows]
    existing = {str(row["name"]): str(row["duration"]) for row in rows}
    default = next((str(row["name"]) for row in rows if row.get("default")), "autogen")
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
    return default


async def _ensure_continuous_queries(
    influx: InfluxClient, raw_policy: str, validity: ReadingValidity
) -> None:
    existing = {
        str(row["name"]): str(row["query"])
        for series in await influx.query("SHOW CONTINUOUS QUERIES")
        if series.name == influx.database
        for row in series.rows
    }
    db = quote_identifier(influx.database)
    for resolution in RESOLUTIONS:
        name = f"cq_reading_{resolution.name}"
        wanted = continuous_query(influx.database, resolution, raw_policy, validity)
        current = existing.get(name)
        if current is not None and _normalised(current) == _normalised(wanted):
            continue
        if current is not None:  # a changed definition (e.g. one from before the CQs kept
            # invalid readings out, or other validity settings): InfluxQL has no ALTER for CQs
            log.info("downsampling: replacing continuous query %s", name)
            await influx.query(f"DROP CONTINUOUS QUERY {quote_identifier(name)} ON {db}")
        await influx.query(wanted)


async def ensure_downsampling(
    influx: InfluxClient, validity: ReadingValidity = DEFAULT_VALIDITY
) -> None:
    """Create (or bring up to date) the database, retention policies and continuous queries;
    a CQ whose stored text differs from the current definition (an older release's, or one
    of other `validity` settings) is dropped and created anew.

    Idempotent: safe at every start of every service; existing series are kept (buckets
    already written are not recomputed: `downsample_range` does that).

    Raises:
        StoreUnavailable: InfluxDB is down (retry).
        StoreRejected: InfluxDB refused a statement (e.g. missing admin rights).
    """
    await influx.create_database()
    raw_policy = await _ensure_retention_policies(influx)
    await _ensure_continuous_queries(influx, raw_policy, validity)


async def downsample_range(
    influx: InfluxClient,
    start_ms: int,
    end_ms: int,
    *,
    chunk_ms: int = 7 * _DAY_MS,
    validity: ReadingValidity = DEFAULT_VALIDITY,
) -> int:
    """Recompute every resolution's buckets over [start, end) from the raw readings that
    `validity` calls temperatures.

    Bounds are widened to whole hours so no bucket is computed from part of its readings;
    rewriting a bucket overwrites it (same series and time), so a rerun is harmless. The
    range is processed in chunks so one statement never scans months of raw points.

    Returns:
        The number of points written.
    """
    if end_ms <= start_ms:
        raise ValueError(f"time range: end {end_ms} must be after start {start_ms}")
    begin = start_ms - start_ms % _HOUR_MS
    finish = end_ms + (-end_ms % _HOUR_MS)
    now_ms = times.now_ms()
    chunk = max(chunk_ms - chunk_ms % _HOUR_MS, _HOUR_MS)
    written = 0
    for resolution in RESOLUTIONS:
        # InfluxDB refuses points older than the RP keeps ("beyond retention policy"):
        # start that resolution at the first whole hour it still holds.
        oldest = now_ms - _duration_ms(resolution.duration) + _HOUR_MS
        first = max(begin, oldest - oldest % _HOUR_MS)
        for lo in range(first, finish, chunk):
            hi = min(lo + chunk, finish)
            time_range = f"time >= {lo}ms AND time < {hi}ms"
            statement = _select_into(influx.database, resolution, validity, time_range)
            for series in await influx.query(statement):
                written += sum(int(row.get("written", 0)) for row in series.rows)
    log.info("downsampling: backfilled start_ms=%d end_ms=%d points=%d", start_ms, end_ms, written)
    return written
