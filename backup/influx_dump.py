"""InfluxDB export: every measurement of every retention policy to gzip line protocol.

Only the v1 HTTP API (`/query`), which InfluxDB 1.x, 2.x (compatibility) and 3 Core all
serve; `influxd backup -portable` needs the RPC port and exists only in 1.x. Each series
is read in time slices (one day by default), each slice as a chunked answer, so neither
InfluxDB nor this process ever holds more than a chunk: memory stays flat however long
the record is.

Exactness: times are read as epoch nanoseconds (what is stored, not rounded); field values
are typed by SHOW FIELD KEYS, because the JSON answer prints the float 5.0 as `5`, which
would otherwise come back as an integer field (and InfluxDB refuses a field whose type
changes); lines are written by `coldchain.lineprotocol`, the same encoder ingest uses, so
integers keep their `i`, strings their escapes, and empty tag values (a point without that
tag, in a `GROUP BY *` answer) are left out as they were.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Callable
from pathlib import Path
from typing import Any, Final

from backup.errors import BackupError
from backup.manifest import (
    ContinuousQuery,
    FileEntry,
    InfluxSection,
    RetentionPolicy,
    SeriesDump,
)
from backup.output import BackupFile, open_output
from backup.progress import Progress, no_progress
from coldchain.errors import StoreRejected
from coldchain.influx import InfluxClient, Series, quote_identifier
from coldchain.lineprotocol import FieldValue, encode_point

__all__ = ["DEFAULT_SLICE_MS", "dump_influx", "measurements", "retention_policies"]

log = logging.getLogger(__name__)

DEFAULT_SLICE_MS: Final = 86_400_000
_NS_PER_MS: Final = 1_000_000

_CONVERTERS: Final[dict[str, Callable[[Any], FieldValue]]] = {
    "float": float,
    "integer": int,
    "string": str,
    "boolean": bool,
}


async def retention_policies(influx: InfluxClient) -> list[RetentionPolicy]:
    """The database's retention policies as SHOW RETENTION POLICIES prints them."""
    return [
        RetentionPolicy(
            name=str(row["name"]),
            duration=str(row["duration"]),
            shard_group_duration=str(row["shardGroupDuration"]),
            replication=int(row["replicaN"]),
            default=bool(row["default"]),
        )
        for series in await influx.query("SHOW RETENTION POLICIES")
        for row in series.rows
    ]


async def _continuous_queries(influx: InfluxClient) -> list[ContinuousQuery]:
    try:
        answer = await influx.query("SHOW CONTINUOUS QUERIES")
    except StoreRejected as exc:
        # InfluxDB 2.x and 3 have no continuous queries; their InfluxQL refuses the statement.
        log.info("backup: no continuous queries on this server: %s", exc.server_message)
        return []
    return [
        ContinuousQuery(name=str(row["name"]), query=str(row["query"]))
        for series in answer
        if series.name == influx.database
        for row in series.rows
    ]


async def measurements(influx: InfluxClient) -> list[str]:
    """Every measurement of the database (of any RP), sorted."""
    return sorted(
        str(row[0]) for series in await influx.query("SHOW MEASUREMENTS") for row in series.values
    )


def _source(policy: str, measurement: str) -> str:
    return f"{quote_identifier(policy)}.{quote_identifier(measurement)}"


async def _field_types(
    influx: InfluxClient, policy: str, measurement: str
) -> dict[str, Callable[[Any], FieldValue]]:
    """Field name → converter. A field stored with two types (in different shards) cannot
    be written back as one, so that is refused by name rather than guessed."""
    types: dict[str, str] = {}
    for series in await influx.query(f"SHOW FIELD KEYS FROM {_source(policy, measurement)}"):
        for name, kind in series.values:
            if name in types and types[name] != kind:
                raise BackupError(
                    f"InfluxDB {policy}.{measurement}: field {name} is stored as both "
                    f"{types[name]} and {kind}; line protocol cannot write that back"
                )
            if kind not in _CONVERTERS:
                raise BackupError(f"InfluxDB {policy}.{measurement}: field {name}: type {kind}")
            types[name] = kind
    return {name: _CONVERTERS[kind] for name, kind in types.items()}


async def _edge_ms(influx: InfluxClient, policy: str, measurement: str, order: str) -> int | None:
    answer = await influx.query(
        f"SELECT * FROM {_source(policy, measurement)} ORDER BY time {order} LIMIT 1"
    )
    return int(answer[0].values[0][0]) if answer and answer[0].values else None


def _lines(series: Series, converters: dict[str, Callable[[Any], FieldValue]]) -> list[str]:
    """One `GROUP BY *` series as line protocol; columns are time, then the fields."""
    tags = {key: value for key, value in series.tags.items() if value != ""}
    names = series.columns[1:]
    try:
        convert = [converters[name] for name in names]
    except KeyError as exc:
        raise BackupError(f"InfluxDB {series.name}: field {exc.args[0]} has no type") from None
    lines = []
    for row in series.values:
        fields = {
            name: conv(value)
            for name, conv, value in zip(names, convert, row[1:], strict=True)
            if value is not None
        }
        if fields:
            lines.append(encode_point(series.name, tags, fields, int(row[0])))
    return lines


async def _dump_series(
    influx: InfluxClient,
    out: BackupFile,
    policy: str,
    measurement: str,
    bounds_ms: tuple[int, int],
    slice_ms: int,
    progress: Progress,
) -> tuple[int, int | None, int | None]:
    """Write every point of one series; returns (points, first ns, last ns)."""
    step = f"influx {policy}.{measurement}"
    progress(step, 0, None)
    converters = await _field_types(influx, policy, measurement)
    first_ms, last_ms = bounds_ms
    points, first_ns, last_ns = 0, None, None
    for lo in range(first_ms - first_ms % slice_ms, last_ms + 1, slice_ms):
        hi = lo + slice_ms
        query = (
            f"SELECT * FROM {_source(policy, measurement)}"
            f" WHERE time >= {lo}ms AND time < {hi}ms GROUP BY *"
        )
        async for series in influx.stream_query(query, epoch="ns"):
            if any(name not in converters for name in series.columns[1:]):
                # A field written since the backup began: look its type up again.
                converters = await _field_types(influx, policy, measurement)
            lines = _lines(series, converters)
            if not lines:
                continue
            low, high = int(series.values[0][0]), int(series.values[-1][0])  # time-ordered
            first_ns = low if first_ns is None else min(first_ns, low)
            last_ns = high if last_ns is None else max(last_ns, high)
            points += len(lines)
            await asyncio.to_thread(out.write, ("\n".join(lines) + "\n").encode("utf-8"))
            progress(step, points, None)
    return points, first_ns, last_ns


async def dump_influx(
    influx: InfluxClient,
    root: Path,
    *,
    slice_ms: int = DEFAULT_SLICE_MS,
    progress: Progress = no_progress,
) -> tuple[InfluxSection, list[FileEntry]]:
    """Export the database of `influx` under `root/influx/`, one file per (RP, measurement).

    Files are numbered rather than named after the measurement: a name may hold any
    character, a file name may not.

    Raises:
        StoreUnavailable / StoreRejected: InfluxDB failed or refused a query.
        BackupError: a field InfluxDB stores with two types.
    """
    if slice_ms < 1:
        raise ValueError(f"slice_ms: expected at least 1, got {slice_ms}")
    policies = await retention_policies(influx)
    queries = await _continuous_queries(influx)
    names = await measurements(influx)
    dumps: list[SeriesDump] = []
    files: list[FileEntry] = []
    for policy in policies:
        for measurement in names:
            first = await _edge_ms(influx, policy.name, measurement, "ASC")
            last = await _edge_ms(influx, policy.name, measurement, "DESC")
            if first is None or last is None:
                continue
            relative = f"influx/{len(dumps):04d}.lp.gz"
            with open_output(root, relative, compress=True) as out:
                points, first_ns, last_ns = await _dump_series(
                    influx, out, policy.name, measurement, (first, last), slice_ms, progress
                )
            files.append(out.entry)
            dumps.append(
                SeriesDump(
                    retention_policy=policy.name,
                    measurement=measurement,
                    points=points,
                    first_ns=first_ns,
                    last_ns=last_ns,
                    file=relative,
                )
            )
            log.info(
                "backup: influx rp=%s measurement=%s points=%d", policy.name, measurement, points
            )
    section = InfluxSection(
        database=influx.database,
        retention_policies=policies,
        continuous_queries=queries,
        series=dumps,
    )
    return section, files
