"""Scoped catalog reads behind the routes: products, batches, places now (live) and
places over a time range (history). Sync; `Access` runs each in one transaction."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, select, true
from sqlalchemy.orm import Session, aliased

from api.access.alerts import DeviceKey, open_alerts_on
from api.access.model import HistorySegment, Limits, LivePlace, Location, Span
from api.access.places import (
    Stay,
    active_at,
    find_shipment,
    find_unit,
    group_by_place,
    idle_limits,
    limit_spans,
    locations_by_key,
    overlapping,
    sponsor_windows,
    stays,
    strictest,
)
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.queries import (
    BatchView,
    PlacementView,
    ProductView,
    chain_of_custody,
    placement_scope,
    product_view,
)
from coldchain.catalog.schema import (
    BatchRow,
    PlacementRow,
    ProductRow,
    ShipmentRow,
    StorageUnitRow,
)
from coldchain.catalog.users import Viewer

__all__ = [
    "find_batch",
    "find_product",
    "history_segments",
    "live_places",
    "visible_batches",
    "visible_products",
]


def _product_scope(viewer: Viewer) -> ColumnElement[bool]:
    """Products the viewer may see: a sponsor's own; an operator's those placed at their
    sites at some time; everything for QA and admin."""
    if viewer.role == "sponsor_viewer":
        return ProductRow.sponsor_id == viewer.sponsor
    placed_batch = aliased(BatchRow)
    placed = (
        select(PlacementRow.id)
        .join(placed_batch, placed_batch.id == PlacementRow.batch_id)
        .where(placed_batch.product_id == ProductRow.id)
    )
    return _visible_placement(viewer, placed, ProductRow)


def _visible_placement(
    viewer: Viewer, placed: Select[int], outer: type[BatchRow] | type[ProductRow]
) -> ColumnElement[bool]:
    """Whether `placed` (placements tied to the enclosing query's `outer` row) has one the
    viewer may see (`placement_scope`: for staff, by its unit's or shipment's sites).

    `placed` must not select from `outer`'s table itself: its condition would then compare
    the subquery's own rows and hold for any placement, showing an operator every batch
    and product in the catalog once anything was placed at one of their sites."""
    if viewer.sees_everything:
        return true()  # QA and admin: placed or not yet
    scoped = (
        placed.outerjoin(StorageUnitRow, StorageUnitRow.id == PlacementRow.unit_id)
        .outerjoin(ShipmentRow, ShipmentRow.id == PlacementRow.shipment_id)
        .where(placement_scope(viewer))
        .correlate(outer)
    )
    return exists(scoped)


def visible_products(session: Session, viewer: Viewer) -> list[ProductView]:
    query = select(ProductRow).where(_product_scope(viewer)).order_by(ProductRow.id)
    return [product_view(row) for row in session.execute(query).scalars()]


def find_product(session: Session, viewer: Viewer, product: str) -> ProductView:
    query = select(ProductRow).where(ProductRow.id == product, _product_scope(viewer))
    row = session.execute(query).scalar_one_or_none()
    if row is None:
        raise CatalogNotFound(f"product {product} not found")
    return product_view(row)


def _batch_scope(viewer: Viewer) -> ColumnElement[bool]:
    if viewer.role == "sponsor_viewer":
        return ProductRow.sponsor_id == viewer.sponsor
    placed = select(PlacementRow.id).where(PlacementRow.batch_id == BatchRow.id)
    return _visible_placement(viewer, placed, BatchRow)


def visible_batches(
    session: Session, viewer: Viewer, *, product: str | None = None
) -> list[BatchView]:
    query = (
        select(BatchRow.id, ProductRow.id, ProductRow.sponsor_id)
        .join(ProductRow, ProductRow.id == BatchRow.product_id)
        .where(_batch_scope(viewer))
        .order_by(BatchRow.id)
    )
    if product is not None:
        query = query.where(ProductRow.id == product)
    return [BatchView(id=b, product=p, sponsor=s) for b, p, s in session.execute(query)]


def find_batch(
    session: Session, viewer: Viewer, batch: str
) -> tuple[BatchView, list[PlacementView]]:
    """The batch and its chain of custody as the viewer may see it (an operator: the
    links at their sites)."""
    placements = chain_of_custody(session, batch=batch, viewer=viewer)
    found = visible_batches(session, viewer)
    view = next((b for b in found if b.id == batch), None)
    if view is None:
        raise CatalogNotFound(f"batch {batch} not found")
    return view, placements


def live_places(
    session: Session,
    viewer: Viewer,
    now: datetime,
    *,
    product: str | None = None,
    batch: str | None = None,
    unit: tuple[str, str] | None = None,
    shipment: str | None = None,
) -> list[LivePlace]:
    """Places holding the viewer's visible batches now (filtered by product, batch or
    place). Without a filter, an operator also gets the empty units at their sites and
    QA/admin every unit: an empty fridge that warms up is still their concern."""
    conditions: list[ColumnElement[bool]] = [active_at(now)]
    extra_units: set[int] = set()
    extra_shipments: set[str] = set()
    if product is not None:
        find_product(session, viewer, product)
        conditions.append(ProductRow.id == product)
    if batch is not None:
        find_batch(session, viewer, batch)
        conditions.append(PlacementRow.batch_id == batch)
    if unit is not None:
        unit_row = find_unit(session, viewer, *unit)
        conditions.append(PlacementRow.unit_id == unit_row.id)
        if viewer.role != "sponsor_viewer":
            extra_units.add(unit_row.id)
    if shipment is not None:
        shipment_row = find_shipment(session, viewer, shipment)
        conditions.append(PlacementRow.shipment_id == shipment_row.id)
        if viewer.role != "sponsor_viewer":
            extra_shipments.add(shipment_row.id)
    if product is None and batch is None and unit is None and shipment is None:
        extra_units |= _units_of_viewer(session, viewer)
    mine = group_by_place(stays(session, viewer, *conditions))
    unit_ids = {k for k in mine if isinstance(k, int)} | extra_units
    shipment_ids = {k for k in mine if isinstance(k, str)} | extra_shipments
    locations = locations_by_key(session, unit_ids, shipment_ids)
    everything_there = group_by_place(
        stays(
            session,
            None,
            active_at(now),
            PlacementRow.unit_id.in_(sorted(unit_ids))
            | PlacementRow.shipment_id.in_(sorted(shipment_ids)),
        )
    )
    sponsor = viewer.role == "sponsor_viewer"
    since: dict[int | str, datetime | None] = {}
    for key in locations:
        own = mine.get(key, [])
        since[key] = min(s.start for s in own) if sponsor and own else None
    device_since: dict[DeviceKey, datetime | None] = {
        (d.site, d.source, d.device): since[key]
        for key, location in locations.items()
        for d in location.devices
    }
    alerts = open_alerts_on(session, viewer, device_since)
    places = []
    for key, location in sorted(locations.items(), key=lambda kv: kv[1].id):
        own = mine.get(key, [])
        limits: Limits | None = strictest(own if sponsor else everything_there.get(key, []))
        if limits is None and not sponsor:
            limits = idle_limits(location)  # an empty unit: what the detector judges it by
        place_alerts = [
            a for d in location.devices for a in alerts.get((d.site, d.source, d.device), [])
        ]
        places.append(
            LivePlace(
                location=location,
                batches=tuple(sorted({s.batch for s in own})),
                products=tuple(sorted({s.product for s in own})),
                limits=limits,
                since=since[key],
                alerts=tuple(place_alerts),
            )
        )
    return places


def _units_of_viewer(session: Session, viewer: Viewer) -> set[int]:
    if viewer.sees_everything:
        return set(session.execute(select(StorageUnitRow.id)).scalars())
    if viewer.role == "warehouse_operator":
        query = select(StorageUnitRow.id).where(StorageUnitRow.site_id.in_(sorted(viewer.sites)))
        return set(session.execute(query).scalars())
    return set()


def _clip(span: Span, start: datetime, end: datetime) -> Span | None:
    lo = max(span.start, start)
    hi = end if span.end is None else min(span.end, end)
    return Span(lo, hi) if lo < hi else None


def _place_segment(
    session: Session,
    viewer: Viewer,
    location: Location,
    place: ColumnElement[bool],
    windows: tuple[Span, ...] | None,
    start: datetime,
    end: datetime,
) -> HistorySegment:
    asked = (Span(start, end),) if windows is None else windows
    clipped = tuple(c for c in (_clip(w, start, end) for w in asked) if c is not None)
    # A sponsor's chart is judged by their own products only; others by all that was there.
    judged: list[Stay] = stays(
        session, viewer if viewer.role == "sponsor_viewer" else None, place, overlapping(start, end)
    )
    return HistorySegment(location, clipped, tuple(limit_spans(judged, start, end)))


def history_segments(
    session: Session,
    viewer: Viewer,
    *,
    start: datetime,
    end: datetime,
    batch: str | None = None,
    unit: tuple[str, str] | None = None,
    shipment: str | None = None,
) -> list[HistorySegment]:
    """What of [start, end) the viewer may chart: for a unit or shipment, the periods
    they may see it; for a batch, each link of its chain of custody in the range."""
    if unit is not None:
        row = find_unit(session, viewer, *unit)
        location = locations_by_key(session, [row.id], [])[row.id]
        windows = sponsor_windows(session, viewer, unit_id=row.id)
        place = PlacementRow.unit_id == row.id
        return [_place_segment(session, viewer, location, place, windows, start, end)]
    if shipment is not None:
        ship: ShipmentRow = find_shipment(session, viewer, shipment)
        location = locations_by_key(session, [], [ship.id])[ship.id]
        windows = sponsor_windows(session, viewer, shipment_id=ship.id)
        place = PlacementRow.shipment_id == ship.id
        return [_place_segment(session, viewer, location, place, windows, start, end)]
    assert batch is not None
    find_batch(session, viewer, batch)
    links = stays(session, viewer, PlacementRow.batch_id == batch, overlapping(start, end))
    locations = locations_by_key(
        session,
        [s.unit_id for s in links if s.unit_id is not None],
        [s.shipment_id for s in links if s.shipment_id is not None],
    )
    segments = []
    for link in links:
        key: int | str = link.unit_id if link.unit_id is not None else str(link.shipment_id)
        window = _clip(link.span, start, end)
        if window is None:
            continue
        limits = strictest([link])
        assert limits is not None
        segments.append(
            HistorySegment(locations[key], (window,), ((window, limits),), batch=link.batch)
        )
    return segments
