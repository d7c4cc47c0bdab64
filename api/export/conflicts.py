"""Refused re-sends of the record's readings (`reading_conflict`, written by ingest:
`ingest/conflicts.py`): someone sent a reading InfluxDB already held with another value.

The stored reading is what the record judges; the refused one is shown beside it so QA
sees that a gateway (or whoever holds its password) tried to change the past. They are
read like the readings: per placement, per sensor, over the span the sensor was fitted
there (`PlacementInfo.fitted_ms`), so a record shows only what happened to its own
placements' sensors during them, never another sponsor's time in a shared unit.

A placement's table holds at most `SHOWN_PER_SENSOR` conflicts per sensor (a compromised
gateway could send millions); the count (`total`) is always exact.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any, Final

from api.export.record import PlacementInfo, SensorRef
from api.export.timefmt import when_ms
from coldchain.influx import InfluxClient, Series, quote_identifier
from coldchain.measurements import READING_CONFLICT

__all__ = [
    "SHOWN_PER_SENSOR",
    "ConflictRun",
    "ReadingConflict",
    "conflict_dict",
    "conflict_rows",
    "placement_conflicts",
]

#: Conflicts a record lists per sensor and placement; the rest are counted.
SHOWN_PER_SENSOR: Final = 200

_MEASURED: Final = ("temp_c", "rh")
_STORED: Final = "stored_"


@dataclass(frozen=True, slots=True)
class ReadingConflict:
    """One refused reading: its time, the values kept (`stored`) and refused, and when the
    refused one arrived."""

    time_ms: int
    stored: dict[str, float]
    refused: dict[str, float]
    received_ms: int | None


@dataclass(frozen=True, slots=True)
class ConflictRun:
    """The conflicts over one sensor during one placement: `total` of them, from the
    reading time `start_ms` to `end_ms`, the first `SHOWN_PER_SENSOR` in time order in
    `shown`."""

    placement: int
    sensor: SensorRef
    total: int
    end_ms: int
    shown: tuple[ReadingConflict, ...]

    @property
    def start_ms(self) -> int:
        return self.shown[0].time_ms


def _statements(placement: PlacementInfo, sensor: SensorRef) -> tuple[str, str, str]:
    start_ms, end_ms = placement.fitted_ms(sensor)
    span = f"{sensor.condition} AND time >= {start_ms}ms AND time < {end_ms}ms"
    measurement, field = quote_identifier(READING_CONFLICT), quote_identifier("received_ms")
    return (
        f"SELECT COUNT({field}) FROM {measurement} WHERE {span}",
        f"SELECT LAST({field}) FROM {measurement} WHERE {span}",
        f"SELECT * FROM {measurement} WHERE {span} LIMIT {SHOWN_PER_SENSOR}",
    )


def _conflicts(answer: list[Series]) -> tuple[ReadingConflict, ...]:
    found: list[ReadingConflict] = []
    for series in answer:
        for row in series.values:
            point = dict(zip(series.columns, row, strict=True))
            received = point.get("received_ms")
            found.append(
                ReadingConflict(
                    time_ms=int(point["time"]),
                    stored={
                        n: float(point[_STORED + n])
                        for n in _MEASURED
                        if point.get(_STORED + n) is not None
                    },
                    refused={n: float(point[n]) for n in _MEASURED if point.get(n) is not None},
                    received_ms=None if received is None else int(received),
                )
            )
    return tuple(sorted(found, key=lambda c: (c.time_ms, c.received_ms or 0)))


def _count(answer: list[Series]) -> int:
    return sum(int(row[1]) for series in answer for row in series.values if row[1] is not None)


def _last_ms(answer: list[Series]) -> int | None:
    return max((int(row[0]) for series in answer for row in series.values), default=None)


async def placement_conflicts(influx: InfluxClient, placement: PlacementInfo) -> list[ConflictRun]:
    """The refused re-sends over each of the placement's sensors while fitted there, in
    one request."""
    statements = [s for sensor in placement.sensors for s in _statements(placement, sensor)]
    answers = await influx.query_each(statements)
    runs: list[ConflictRun] = []
    for n, sensor in enumerate(placement.sensors):
        count, last, rows = answers[3 * n : 3 * n + 3]
        shown = _conflicts(rows)
        if shown:
            total = max(_count(count), len(shown))
            end_ms = max(_last_ms(last) or 0, shown[-1].time_ms)
            runs.append(ConflictRun(placement.index, sensor, total, end_ms, shown))
    return runs


def _values(values: dict[str, float]) -> dict[str, float | None]:
    return {name: values.get(name) for name in _MEASURED}


def conflict_dict(run: ConflictRun, conflict: ReadingConflict, zone: str) -> dict[str, Any]:
    """One row of the record's conflict table (JSON, CSV, PDF)."""
    stored, refused = _values(conflict.stored), _values(conflict.refused)
    return {
        "placement": run.placement,
        "sensor": run.sensor.label,
        "time": when_ms(conflict.time_ms, zone),
        "stored_temp_c": stored["temp_c"],
        "stored_rh": stored["rh"],
        "refused_temp_c": refused["temp_c"],
        "refused_rh": refused["rh"],
        "received": None if conflict.received_ms is None else when_ms(conflict.received_ms, zone),
    }


def conflict_rows(runs: Sequence[ConflictRun], zones: dict[int, str]) -> list[dict[str, Any]]:
    """Every shown conflict of the record, placement by placement, as `conflict_dict`."""
    return [conflict_dict(r, c, zones[r.placement]) for r in runs for c in r.shown]
