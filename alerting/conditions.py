"""Which limits apply to which sensor when: the catalog's chain of custody turned into a
timeline per sensor, loaded in bulk and cached (the hot path never queries the catalog).

For each storage unit and shipment the placements are cut into segments at every start and
end; a segment's limits are the strictest of the products then there (highest minimum,
lowest maximum, shortest alarm delay), as `coldchain.catalog.queries.
storage_condition_for_sensor` answers for a single moment. Where nothing is stored:
a unit falls back to its kind's default range (`KIND_DEFAULT_RANGES`), a shipment's logger
has no limits and is not expected to report (it may be on a shelf).
"""

from __future__ import annotations

import bisect
from collections import defaultdict
from collections.abc import Collection
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import Engine, select

from alerting.rules import KIND_DEFAULT_RANGES, NO_LIMITS, Limits, SensorKey
from coldchain.catalog.schema import (
    BatchRow,
    LoggerRow,
    PlacementRow,
    ProductRow,
    SensorRow,
    ShipmentRow,
    StorageUnitRow,
)
from coldchain.catalog.store import catalog_session

__all__ = ["FAR_FUTURE", "FAR_PAST", "ConditionTimeline", "Segment", "load_timeline"]

FAR_PAST = -(2**62)
FAR_FUTURE = 2**62


@dataclass(frozen=True, slots=True)
class Segment:
    """Limits valid for event times in [start_ms, end_ms); `expected`: the sensor should be
    reporting then (units always; loggers while they carry something)."""

    start_ms: int
    end_ms: int
    limits: Limits
    expected: bool


_UNKNOWN = Segment(FAR_PAST, FAR_FUTURE, NO_LIMITS, False)


class ConditionTimeline:
    """Usage:
    timeline = load_timeline(engine)
    segment = timeline.lookup(("BSL", "unit", "FRIDGE-01", "p1"), ts_ms)
    """

    def __init__(self, segments: dict[SensorKey, list[Segment]]) -> None:
        self._segments = segments
        self._starts = {k: [s.start_ms for s in v] for k, v in segments.items()}

    def for_sites(self, sites: Collection[str]) -> ConditionTimeline:
        """Only the sensors of these sites (a detector partition); all when empty, so a
        partition never reports another partition's sensors as missing."""
        if not sites:
            return self
        return ConditionTimeline({k: v for k, v in self._segments.items() if k[0] in sites})

    def known(self, key: SensorKey) -> bool:
        return key in self._segments

    def sensors(self) -> list[SensorKey]:
        return list(self._segments)

    def lookup(self, key: SensorKey, ts_ms: int) -> Segment:
        segments = self._segments.get(key)
        if not segments:
            return _UNKNOWN
        i = bisect.bisect_right(self._starts[key], ts_ms) - 1
        return segments[max(i, 0)]


def _ms(moment: datetime | None, default: int) -> int:
    return default if moment is None else int(moment.timestamp() * 1000)


def _combine(products: list[ProductRow], label_prefix: str) -> Limits:
    return Limits(
        low_c=max(p.min_c for p in products),
        high_c=min(p.max_c for p in products),
        alarm_delay_ms=round(min(p.alarm_delay_min for p in products) * 60_000),
        label=label_prefix + " + ".join(sorted(p.id for p in products)),
    )


def _cut(
    placements: list[tuple[int, int, ProductRow]], idle: Limits, idle_expected: bool
) -> list[Segment]:
    """Segments over the whole time axis: stored products' limits, `idle` in between."""
    points = sorted({FAR_PAST, *(p[0] for p in placements), *(p[1] for p in placements)})
    segments: list[Segment] = []
    for start, end in zip(points, [*points[1:], FAR_FUTURE], strict=True):
        if start >= end:
            continue
        active = [p for a, b, p in placements if a <= start and b > start]
        if active:
            segment = Segment(start, end, _combine(active, "products "), True)
        else:
            segment = Segment(start, end, idle, idle_expected)
        if (
            segments
            and segments[-1].limits == segment.limits
            and (segments[-1].expected == segment.expected)
        ):
            segments[-1] = Segment(segments[-1].start_ms, end, segment.limits, segment.expected)
        else:
            segments.append(segment)
    return segments


def load_timeline(engine: Engine, default_alarm_delay_ms: int = 1_800_000) -> ConditionTimeline:
    """Read units, loggers, sensors and placements once and build every sensor's timeline.

    Raises:
        CatalogError: the catalog could not be read (translated in `catalog_session`).
    """
    with catalog_session(engine) as session:
        products = {p.id: p for p in session.execute(select(ProductRow)).scalars()}
        batch_product = {b: p for b, p in session.execute(select(BatchRow.id, BatchRow.product_id))}
        by_unit: dict[int, list[tuple[int, int, ProductRow]]] = defaultdict(list)
        by_shipment: dict[str, list[tuple[int, int, ProductRow]]] = defaultdict(list)
        for row in session.execute(select(PlacementRow)).scalars():
            entry = (
                _ms(row.start_at, FAR_PAST),
                _ms(row.end_at, FAR_FUTURE),
                products[batch_product[row.batch_id]],
            )
            if row.unit_id is not None:
                by_unit[row.unit_id].append(entry)
            elif row.shipment_id is not None:
                by_shipment[row.shipment_id].append(entry)
        units = {u.id: u for u in session.execute(select(StorageUnitRow)).scalars()}
        loggers = {g.id: g for g in session.execute(select(LoggerRow)).scalars()}
        origins = {
            s: o for s, o in session.execute(select(ShipmentRow.id, ShipmentRow.origin_site_id))
        }
        sensors = list(session.execute(select(SensorRow)).scalars())
    segments: dict[SensorKey, list[Segment]] = {}
    carried: dict[SensorKey, list[tuple[int, int, ProductRow]]] = {}
    for sensor in sensors:
        if sensor.unit_id is not None:
            unit = units[sensor.unit_id]
            low, high = KIND_DEFAULT_RANGES.get(unit.kind, (NO_LIMITS.low_c, NO_LIMITS.high_c))
            idle = Limits(low, high, default_alarm_delay_ms, f"default of a {unit.kind}")
            key: SensorKey = (unit.site_id, "unit", unit.code, sensor.code)
            segments[key] = _cut(by_unit.get(unit.id, []), idle, True)
        elif sensor.logger_id is not None:
            logger = loggers[sensor.logger_id]
            key = (origins[logger.shipment_id], "logger", logger.code, sensor.code)
            # A logger reused on several shipments: every shipment's placements count.
            carried.setdefault(key, []).extend(by_shipment.get(logger.shipment_id, []))
    for key, placements in carried.items():
        segments[key] = _cut(placements, NO_LIMITS, False)
    return ConditionTimeline(segments)
