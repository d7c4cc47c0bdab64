"""Scoped catalog reads about places: which units and shipments a viewer may see, when,
and by which limits. Sync (SQLAlchemy); the `Access` facade runs them in a thread.

Visibility (docs/design.md §6): QA and admin see everything; a warehouse operator sees the
units at their sites and the shipments from or to them, for all time; a sponsor viewer
sees a unit or shipment only for the periods their batches were placed in it, so in a
shared fridge they never see another sponsor's period. Anything else is `CatalogNotFound`.

The limits a place's readings are judged by are the products' range (`strictest`) set up by
the alarm profiles in force (`limits_in_force`, #22), as the detector sets them up.
"""

from __future__ import annotations

import itertools
from collections import defaultdict
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.orm import Session

from api.access.model import Device, Limits, Location, Span
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.profiles import ProfileVersions
from coldchain.catalog.queries import placement_scope
from coldchain.catalog.schema import (
    BatchRow,
    LoggerRow,
    PlacementRow,
    ProductRow,
    SensorRow,
    ShipmentRow,
    StorageUnitRow,
)
from coldchain.catalog.users import Viewer
from coldchain.judgement.limits import KIND_DEFAULT_RANGES
from coldchain.judgement.limits import Limits as JudgedLimits
from coldchain.judgement.limits import strictest as combine_conditions
from coldchain.judgement.profiles import apply_profiles

__all__ = [
    "Stay",
    "active_at",
    "find_shipment",
    "find_unit",
    "group_by_place",
    "idle_limits",
    "limit_spans",
    "limits_in_force",
    "location_of",
    "locations_by_key",
    "merged_windows",
    "overlapping",
    "sponsor_windows",
    "stay_query",
    "stays",
    "strictest",
    "unit_ids",
]


@dataclass(frozen=True, slots=True)
class Stay:
    """One placement with what the access rules need about it."""

    batch: str
    product: str
    sponsor: str
    min_c: float
    max_c: float
    alarm_delay_min: float
    label: str
    unit_id: int | None
    shipment_id: str | None
    start: datetime
    end: datetime | None

    @property
    def id(self) -> str:
        """The product's id: a stay is a `StorageCondition` (coldchain.judgement.limits)."""
        return self.product

    @property
    def span(self) -> Span:
        return Span(self.start, self.end)


_StaySelect = Select[
    str, str, str, float, float, float, str, int | None, str | None, datetime, datetime | None
]


def stay_query() -> _StaySelect:
    return (
        select(
            PlacementRow.batch_id,
            ProductRow.id,
            ProductRow.sponsor_id,
            ProductRow.min_c,
            ProductRow.max_c,
            ProductRow.alarm_delay_min,
            ProductRow.label,
            PlacementRow.unit_id,
            PlacementRow.shipment_id,
            PlacementRow.start_at,
            PlacementRow.end_at,
        )
        .join(BatchRow, BatchRow.id == PlacementRow.batch_id)
        .join(ProductRow, ProductRow.id == BatchRow.product_id)
        .outerjoin(StorageUnitRow, StorageUnitRow.id == PlacementRow.unit_id)
        .outerjoin(ShipmentRow, ShipmentRow.id == PlacementRow.shipment_id)
    )


def stays(session: Session, viewer: Viewer | None, *conditions: ColumnElement[bool]) -> list[Stay]:
    """Placements matching `conditions`, oldest first; `viewer` None: unscoped (used only
    for limits of places the viewer already may see)."""
    query = stay_query().where(*conditions)
    if viewer is not None:
        query = query.where(placement_scope(viewer))
    return [Stay(*row) for row in session.execute(query.order_by(PlacementRow.start_at))]


def active_at(moment: datetime) -> ColumnElement[bool]:
    return (PlacementRow.start_at <= moment) & (
        PlacementRow.end_at.is_(None) | (PlacementRow.end_at > moment)
    )


def overlapping(start: datetime, end: datetime) -> ColumnElement[bool]:
    return (PlacementRow.start_at < end) & (
        PlacementRow.end_at.is_(None) | (PlacementRow.end_at > start)
    )


def find_unit(session: Session, viewer: Viewer, site: str, unit: str) -> StorageUnitRow:
    row = session.execute(
        select(StorageUnitRow).where(StorageUnitRow.site_id == site, StorageUnitRow.code == unit)
    ).scalar_one_or_none()
    if row is None or not _sees_place(session, viewer, row.site_id, (), unit_id=row.id):
        raise CatalogNotFound(f"unit {site}/{unit} not found")
    return row


def find_shipment(session: Session, viewer: Viewer, shipment: str) -> ShipmentRow:
    row = session.get(ShipmentRow, shipment)
    sites = () if row is None else (row.origin_site_id, row.destination_site_id)
    if row is None or not _sees_place(session, viewer, None, sites, shipment_id=row.id):
        raise CatalogNotFound(f"shipment {shipment} not found")
    return row


def _sees_place(
    session: Session,
    viewer: Viewer,
    site: str | None,
    shipment_sites: Sequence[str],
    *,
    unit_id: int | None = None,
    shipment_id: str | None = None,
) -> bool:
    if viewer.sees_everything:
        return True
    if viewer.role == "warehouse_operator":
        return (site in viewer.sites) or any(s in viewer.sites for s in shipment_sites)
    if viewer.role != "sponsor_viewer":
        return False
    where = (
        PlacementRow.unit_id == unit_id
        if unit_id is not None
        else PlacementRow.shipment_id == shipment_id
    )
    return bool(stays(session, viewer, where))


def sponsor_windows(
    session: Session, viewer: Viewer, *, unit_id: int | None = None, shipment_id: str | None = None
) -> tuple[Span, ...] | None:
    """When the viewer may see readings of the place: None = always (not a sponsor)."""
    if viewer.role != "sponsor_viewer":
        return None
    where = (
        PlacementRow.unit_id == unit_id
        if unit_id is not None
        else PlacementRow.shipment_id == shipment_id
    )
    return merged_windows(stay.span for stay in stays(session, viewer, where))


def merged_windows(spans: Iterable[Span]) -> tuple[Span, ...]:
    """Union of spans, sorted, touching or overlapping ones joined."""
    merged: list[Span] = []
    for span in sorted(spans, key=lambda s: s.start):
        if merged and (merged[-1].end is None or span.start <= merged[-1].end):
            last = merged[-1]
            end = None if last.end is None or span.end is None else max(last.end, span.end)
            merged[-1] = Span(last.start, end)
        else:
            merged.append(span)
    return tuple(merged)


def strictest(items: Sequence[Stay]) -> Limits | None:
    """The range every product in `items` allows: the domain's one combination rule
    (`coldchain.judgement.limits.strictest`, which the detector alarms by), labelled with
    the products' storage conditions."""
    if not items:
        return None
    combined = combine_conditions(items)
    return Limits(
        min_c=combined.low_c,
        max_c=combined.high_c,
        label=" + ".join(sorted({s.label for s in items})),
        products=tuple(sorted({s.product for s in items})),
    )


def idle_limits(location: Location) -> Limits | None:
    """What an empty unit must hold: its kind's default range, as the detector judges it
    (`coldchain.judgement.limits.KIND_DEFAULT_RANGES`); a shipment holding nothing, none."""
    if location.unit_kind is None or location.unit_kind not in KIND_DEFAULT_RANGES:
        return None
    low, high = KIND_DEFAULT_RANGES[location.unit_kind]
    return Limits(min_c=low, max_c=high, label=f"default of a {location.unit_kind}", products=())


def limits_in_force(
    limits: JudgedLimits,
    profiles: ProfileVersions,
    *,
    units: Iterable[int],
    products: Iterable[str],
    at_ms: int,
) -> JudgedLimits:
    """`limits` (the products' range, or an empty unit's default) set up by the strictest of
    the alarm profiles in force at `at_ms`: the units' own and the products' (#22). The
    detector's one rule (`apply_profiles`), so a tile's warning band is where the
    detector's warning limits are."""
    in_force = [profiles.unit(u, at_ms) for u in units]
    in_force += [profiles.product(p, at_ms) for p in products]
    return apply_profiles(limits, in_force)


def unit_ids(session: Session) -> dict[str, int]:
    """Each storage unit's id by its location id ("SITE/UNIT", `Location.id`): where a
    unit's alarm profile is found for a place."""
    rows = session.execute(select(StorageUnitRow.id, StorageUnitRow.site_id, StorageUnitRow.code))
    return {f"{site}/{code}": unit_id for unit_id, site, code in rows}


def limit_spans(items: Sequence[Stay], start: datetime, end: datetime) -> list[tuple[Span, Limits]]:
    """Piecewise strictest limits over [start, end) as the stays in `items` come and go."""
    cuts = {start, end}
    for stay in items:
        cuts.update(t for t in (stay.start, stay.end) if t is not None and start < t < end)
    ordered = sorted(cuts)
    spans: list[tuple[Span, Limits]] = []
    for lo, hi in itertools.pairwise(ordered):
        here = [s for s in items if s.start <= lo and (s.end is None or s.end > lo)]
        limits = strictest(here)
        if limits is None:
            continue
        if spans and spans[-1][1] == limits and spans[-1][0].end == lo:
            spans[-1] = (Span(spans[-1][0].start, hi), limits)
        else:
            spans.append((Span(lo, hi), limits))
    return spans


def location_of(
    session: Session, *, unit: StorageUnitRow | None = None, shipment: ShipmentRow | None = None
) -> Location:
    """The InfluxDB identity of one unit or shipment (see `locations_by_key`)."""
    if unit is not None:
        return locations_by_key(session, [unit.id], [])[unit.id]
    assert shipment is not None
    return locations_by_key(session, [], [shipment.id])[shipment.id]


def locations_by_key(
    session: Session, unit_ids: Iterable[int], shipment_ids: Iterable[str]
) -> dict[int | str, Location]:
    """Locations of units (one device each) and shipments (their loggers, which publish
    under the origin site, docs/design.md §10), keyed by unit id or shipment id. A handful of
    queries whatever the count, so a live view of hundreds of places stays fast."""
    found: dict[int | str, Location] = {}
    wanted_units = sorted(set(unit_ids))
    if wanted_units:
        sensors: dict[int, list[str]] = defaultdict(list)
        for unit_id, code in session.execute(
            select(SensorRow.unit_id, SensorRow.code)
            .where(SensorRow.unit_id.in_(wanted_units))
            .order_by(SensorRow.code)
        ):
            if unit_id is not None:
                sensors[unit_id].append(code)
        for row in session.execute(
            select(StorageUnitRow).where(StorageUnitRow.id.in_(wanted_units))
        ).scalars():
            device = Device(
                row.site_id, "unit", row.code, tuple(sensors[row.id]), row.log_interval_s
            )
            found[row.id] = Location(
                "unit",
                f"{row.site_id}/{row.code}",
                row.site_id,
                row.name,
                (device,),
                unit_kind=row.kind,
            )
    wanted_shipments = sorted(set(shipment_ids))
    if wanted_shipments:
        shipments = {
            row.id: row
            for row in session.execute(
                select(ShipmentRow).where(ShipmentRow.id.in_(wanted_shipments))
            ).scalars()
        }
        devices: dict[str, list[Device]] = defaultdict(list)
        logger_rows = session.execute(
            select(LoggerRow, SensorRow.code)
            .outerjoin(SensorRow, SensorRow.logger_id == LoggerRow.id)
            .where(LoggerRow.shipment_id.in_(wanted_shipments))
            .order_by(LoggerRow.code, SensorRow.code)
        )
        logger_sensors: dict[int, tuple[LoggerRow, list[str]]] = {}
        for logger, code in logger_rows:
            entry = logger_sensors.setdefault(logger.id, (logger, []))
            if code is not None:
                entry[1].append(code)
        for logger, codes in logger_sensors.values():
            origin = shipments[logger.shipment_id].origin_site_id
            devices[logger.shipment_id].append(
                Device(
                    origin,
                    "logger",
                    logger.code,
                    tuple(codes),
                    logger.log_interval_s,
                    offline=logger.offline,
                )
            )
        for shipment_id, shipment in shipments.items():
            found[shipment_id] = Location(
                "shipment", shipment_id, shipment.origin_site_id, None, tuple(devices[shipment_id])
            )
    return found


def group_by_place(items: Iterable[Stay]) -> dict[int | str, list[Stay]]:
    grouped: dict[int | str, list[Stay]] = defaultdict(list)
    for stay in items:
        key: int | str = stay.unit_id if stay.unit_id is not None else str(stay.shipment_id)
        grouped[key].append(stay)
    return grouped
