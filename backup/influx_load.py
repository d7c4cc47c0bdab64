"""InfluxDB restore: recreate the database and its retention policies, then write every
exported file back into its own retention policy.

The RPs are created as the backup recorded them (duration, shard duration, which is the
default), then `ensure_downsampling` brings ours (`ds_1m`, `ds_15m`, `ds_1h`) to what this
coldchain defines, and drops the continuous queries of earlier releases (ingest computes
the buckets now); CQs the pipeline never owned are listed, not recreated (their text names
the source database).

Files are streamed in batches of 5,000 lines, as the ingest writes. InfluxDB refuses a
whole batch ("points beyond retention policy") if one point is older than its RP keeps;
such points would have expired at the source too, so they are skipped and counted rather
than failing the restore.
"""

from __future__ import annotations

import asyncio
import gzip
import logging
import re
import time
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Final

from backup.errors import BackupDamaged, TargetNotEmpty
from backup.influx_dump import measurements, retention_policies
from backup.manifest import InfluxSection, RetentionPolicy, SeriesDump
from backup.progress import Progress, no_progress
from coldchain.downsampling import RESOLUTIONS, ensure_downsampling
from coldchain.influx import InfluxClient, quote_identifier

__all__ = ["SeriesRestored", "database_holdings", "go_duration_ns", "restore_influx"]

log = logging.getLogger(__name__)

_BATCH_LINES: Final = 5000
# A point this close to its RP's horizon may cross it before the write lands.
_HORIZON_MARGIN_NS: Final = 60 * 1_000_000_000
_GO_UNITS: Final = {
    "ns": 1,
    "us": 1_000,
    "µs": 1_000,
    "ms": 1_000_000,
    "s": 1_000_000_000,
    "m": 60_000_000_000,
    "h": 3_600_000_000_000,
}
_GO_PART = re.compile(r"(\d+)(ns|us|µs|ms|s|m|h)")
_OWN_QUERIES: Final = frozenset(f"cq_reading_{r.name}" for r in RESOLUTIONS)


@dataclass(frozen=True, slots=True)
class SeriesRestored:
    """Points written back for one (RP, measurement); `expired` were past the RP's horizon."""

    retention_policy: str
    measurement: str
    written: int
    expired: int


def go_duration_ns(text: str) -> int:
    """Nanoseconds of a duration as InfluxDB prints it (`2160h0m0s`; `0s` = forever)."""
    parts = _GO_PART.findall(text)
    if not parts or "".join(number + unit for number, unit in parts) != text:
        raise ValueError(f"not a duration: {text!r}")
    return sum(int(number) * _GO_UNITS[unit] for number, unit in parts)


def _influxql_duration(text: str) -> str:
    nanoseconds = go_duration_ns(text)
    if nanoseconds == 0:
        return "INF"
    if nanoseconds % 1_000_000_000 == 0:
        return f"{nanoseconds // 1_000_000_000}s"
    return f"{nanoseconds // 1_000}u"


async def database_holdings(influx: InfluxClient) -> str | None:
    """What the target database already holds, in words, or None when it holds nothing."""
    names = await measurements(influx)
    if not names:
        return None
    shown = ", ".join(names[:5]) + (", …" if len(names) > 5 else "")
    return f"InfluxDB database {influx.database} already holds measurements {shown}"


async def _create_policies(influx: InfluxClient, wanted: list[RetentionPolicy]) -> None:
    existing = {policy.name: policy for policy in await retention_policies(influx)}
    database = quote_identifier(influx.database)
    for policy in wanted:
        name = quote_identifier(policy.name)
        default = " DEFAULT" if policy.default else ""
        if policy.name not in existing:
            await influx.query(
                f"CREATE RETENTION POLICY {name} ON {database}"
                f" DURATION {_influxql_duration(policy.duration)}"
                f" REPLICATION {policy.replication}"
                f" SHARD DURATION {_influxql_duration(policy.shard_group_duration)}{default}"
            )
        elif policy.default and not existing[policy.name].default:
            await influx.query(f"ALTER RETENTION POLICY {name} ON {database} DEFAULT")


def _ends_quoted(record: bytes) -> bool:
    """Whether `record` ends inside a quoted string field value, by the rule of InfluxDB
    1.x's line scanner (`scanLine` in models/points.go): after the first unescaped space, a
    `"` in a value position opens or closes a string, and a newline inside one is part of
    the value, not the end of the point."""
    quoted = fields = False
    equals = commas = 0
    i, size = 0, len(record)
    while i < size:
        byte = record[i]
        if byte == 0x5C and i + 1 < size:  # a backslash escapes the next byte
            i += 2
            continue
        if byte == 0x20:
            fields = True
        if fields:
            if not quoted and byte == 0x3D:
                equals += 1
            elif not quoted and byte == 0x2C:
                commas += 1
            elif byte == 0x22 and equals > commas:
                quoted = not quoted
        i += 1
    return quoted


def _records(handle: Iterator[bytes]) -> Iterator[bytes]:
    """The points of a line-protocol stream. Only lines holding a `"` are scanned byte by
    byte (a string field may span lines); a line of numbers is a point as it is."""
    pending = b""
    for raw in handle:
        record = pending + (raw[:-1] if raw.endswith(b"\n") else raw)
        if (pending or b'"' in raw) and _ends_quoted(record):
            pending = record + b"\n"
            continue
        pending = b""
        if record:
            yield record
    if pending:
        raise ValueError("the last point ends inside a string value")


def _batches(path: Path, horizon_ns: int | None) -> Iterator[tuple[bytes, int, int]]:
    """(body, points in it, points skipped as expired) for each batch of a dump file. The
    time is the last token of a point (a string value may hold spaces, never at the end)."""
    points: list[bytes] = []
    expired = 0
    with gzip.open(path, "rb") as handle:
        for point in _records(handle):
            if horizon_ns is not None and int(point.rsplit(b" ", 1)[1]) < horizon_ns:
                expired += 1
                continue
            points.append(point)
            if len(points) >= _BATCH_LINES:
                yield b"\n".join(points), len(points), expired
                points, expired = [], 0
    if points or expired:
        yield b"\n".join(points), len(points), expired


async def _write_series(
    influx: InfluxClient,
    root: Path,
    dump: SeriesDump,
    horizon_ns: int | None,
    progress: Progress,
) -> SeriesRestored:
    batches = _batches(root / dump.file, horizon_ns)
    written = expired = 0
    step = f"influx {dump.retention_policy}.{dump.measurement}"
    progress(step, 0, dump.points)
    try:
        while (batch := await asyncio.to_thread(next, batches, None)) is not None:
            body, count, skipped = batch
            if count:
                await influx.write_body(
                    body, precision="ns", retention_policy=dump.retention_policy
                )
            written += count
            expired += skipped
            progress(step, written + expired, dump.points)
    except (OSError, EOFError, ValueError, IndexError) as exc:
        raise BackupDamaged(f"{dump.file}: unreadable line protocol: {exc}") from exc
    if written + expired != dump.points:
        raise BackupDamaged(
            f"{dump.file}: holds {written + expired} points, the manifest says {dump.points}"
        )
    return SeriesRestored(dump.retention_policy, dump.measurement, written, expired)


async def restore_influx(
    influx: InfluxClient,
    root: Path,
    section: InfluxSection,
    *,
    replace: bool,
    progress: Progress = no_progress,
) -> list[SeriesRestored]:
    """Recreate the database of `influx` from a dump; `replace` drops what is there first.

    Raises:
        TargetNotEmpty: the database holds measurements and `replace` is False.
        StoreUnavailable / StoreRejected: InfluxDB failed or refused a write.
        BackupDamaged: a file does not hold what the manifest says.
    """
    if replace:
        await influx.drop_database()
    elif (held := await database_holdings(influx)) is not None:
        raise TargetNotEmpty(held)
    await influx.create_database()
    await _create_policies(influx, section.retention_policies)
    await ensure_downsampling(influx)
    foreign = [q.name for q in section.continuous_queries if q.name not in _OWN_QUERIES]
    if foreign:
        log.warning("restore: continuous queries not recreated (not coldchain's): %s", foreign)
    now_ns = time.time_ns()
    horizons = {
        policy.name: now_ns - duration + _HORIZON_MARGIN_NS
        for policy in await retention_policies(influx)
        if (duration := go_duration_ns(policy.duration)) > 0
    }
    restored = []
    for dump in section.series:
        result = await _write_series(
            influx, root, dump, horizons.get(dump.retention_policy), progress
        )
        log.info(
            "restore: influx rp=%s measurement=%s points=%d expired=%d",
            dump.retention_policy,
            dump.measurement,
            result.written,
            result.expired,
        )
        restored.append(result)
    return restored
