"""The questions the rest of the system asks the catalog, answered as frozen values.

Tenant scoping happens here, in the data-access layer (docs/design.md §6): every query that
returns tenant data takes a `viewer` (None only for trusted services such as the
detector), and an id the viewer may not see raises `CatalogNotFound`, as an unknown id
does, so the API answers 404 for both and ids do not leak.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import ColumnElement, Select, exists, false, or_, select, true
from sqlalchemy.orm import Session

from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import (
    BatchRow,
    LoggerRow,
    PlacementRow,
    ProductRow,
    SensorRow,
    ShipmentRow,
    SponsorRow,
    StorageUnitRow,
)
from coldchain.catalog.users import Viewer
from coldchain.judgement.budget import Budget as StabilityBudget
from coldchain.judgement.budget import budget_of
from coldchain.judgement.limits import MINUTE_MS, strictest
from coldchain.times import utc

__all__ = [
    "AppliedCondition",
    "BatchView",
    "Budget",
    "PlacementView",
    "ProductView",
    "batches_for_sponsor",
    "chain_of_custody",
    "placement_scope",
    "product_view",
    "products_for_sponsor",
    "storage_condition_for_sensor",
    "stored_in_unit",
    "visible_sponsors_for_unit",
    "where_is_batch",
]


@dataclass(frozen=True, slots=True)
class Budget:
    """Allowed cumulative time out of range: up to `hours` between `min_c` and `max_c`."""

    max_c: float
    hours: float
    min_c: float | None = None


@dataclass(frozen=True, slots=True)
class PlacementView:
    """One link of the chain of custody; `unit` is "SITE/UNIT", else `shipment` is set."""

    placement_id: int
    batch: str
    product: str
    sponsor: str
    unit: str | None
    shipment: str | None
    start: datetime
    end: datetime | None


@dataclass(frozen=True, slots=True)
class ProductView:
    id: str
    sponsor: str
    name: str | None
    min_c: float
    max_c: float
    alarm_delay_min: float
    budget: Budget | None
    label: str
    mkt_delta_h_kj_per_mol: float
    #: The whole stability budget (#22): bands (the old single form as one band), freeze
    #: threshold and events allowed; `budget` above says only the old single form.
    stability: StabilityBudget = field(default_factory=StabilityBudget)


@dataclass(frozen=True, slots=True)
class BatchView:
    id: str
    product: str
    sponsor: str


@dataclass(frozen=True, slots=True)
class AppliedCondition:
    """The strictest storage condition of everything in one place at one moment.

    Attributes:
        products: the products it was combined from, sorted.
        conflicting: True when no temperature satisfies them all (min_c >= max_c): the
            products should not share the unit, which is itself worth an alert.
    """

    min_c: float
    max_c: float
    alarm_delay_min: float
    budget: Budget | None
    label: str
    products: tuple[str, ...]
    conflicting: bool


# SQLAlchemy 2.1 types a select by its columns (PEP 646), hence the >=2.1 requirement.
_PlacementSelect = Select[PlacementRow, str, str, StorageUnitRow]


def _placements() -> _PlacementSelect:
    return (
        select(PlacementRow, ProductRow.id, ProductRow.sponsor_id, StorageUnitRow)
        .join(BatchRow, BatchRow.id == PlacementRow.batch_id)
        .join(ProductRow, ProductRow.id == BatchRow.product_id)
        .outerjoin(StorageUnitRow, StorageUnitRow.id == PlacementRow.unit_id)
        .outerjoin(ShipmentRow, ShipmentRow.id == PlacementRow.shipment_id)
    )


def placement_scope(viewer: Viewer | None) -> ColumnElement[bool]:
    """Which placements the viewer may see, in any select that joins a placement's batch's
    product, its unit and its shipment (as `_placements()` does): the one tenant rule for
    the catalog's queries and the API's access layer alike. A sponsor viewer without a
    sponsor sees nothing."""
    if viewer is None or viewer.sees_everything:
        return true()
    if viewer.role == "sponsor_viewer" and viewer.sponsor is not None:
        return ProductRow.sponsor_id == viewer.sponsor
    if viewer.role == "warehouse_operator":
        sites = sorted(viewer.sites)
        return or_(
            StorageUnitRow.site_id.in_(sites),
            ShipmentRow.origin_site_id.in_(sites),
            ShipmentRow.destination_site_id.in_(sites),
        )
    return false()


def _active_at(at: datetime) -> ColumnElement[bool]:
    return (PlacementRow.start_at <= at) & (
        PlacementRow.end_at.is_(None) | (PlacementRow.end_at > at)
    )


def _views(session: Session, query: _PlacementSelect) -> list[PlacementView]:
    views = []
    for row, product, sponsor, unit in session.execute(query.order_by(PlacementRow.start_at)):
        views.append(
            PlacementView(
                placement_id=row.id,
                batch=row.batch_id,
                product=product,
                sponsor=sponsor,
                unit=None if unit is None else f"{unit.site_id}/{unit.code}",
                shipment=row.shipment_id,
                start=row.start_at,
                end=row.end_at,
            )
        )
    return views


def _visible_batch(session: Session, batch: str, viewer: Viewer | None) -> None:
    row = session.get(BatchRow, batch)
    if row is None:
        raise CatalogNotFound(f"batch {batch!r} not found")
    if viewer is None or viewer.sees_everything:
        return
    product = session.get(ProductRow, row.product_id)
    if viewer.role == "sponsor_viewer" and product is not None:
        if product.sponsor_id == viewer.sponsor:
            return
    elif session.execute(
        select(exists(_placements().where(PlacementRow.batch_id == batch, placement_scope(viewer))))
    ).scalar():
        return
    raise CatalogNotFound(f"batch {batch!r} not found")


def where_is_batch(
    session: Session, *, batch: str, viewer: Viewer | None, at: datetime | None = None
) -> list[PlacementView]:
    """Where batch `batch` is now (its open placements), or was at `at`; may be several
    places when the lot is split, none when it has left the chain (e.g. dispensed)."""
    _visible_batch(session, batch, viewer)
    when = PlacementRow.end_at.is_(None) if at is None else _active_at(utc(at))
    query = _placements().where(PlacementRow.batch_id == batch, when, placement_scope(viewer))
    return _views(session, query)


def chain_of_custody(session: Session, *, batch: str, viewer: Viewer | None) -> list[PlacementView]:
    """Every placement of `batch`, oldest first: the record a QA export walks."""
    _visible_batch(session, batch, viewer)
    query = _placements().where(PlacementRow.batch_id == batch, placement_scope(viewer))
    return _views(session, query)


def _unit(session: Session, site: str, unit: str, viewer: Viewer | None) -> StorageUnitRow:
    row = session.execute(
        select(StorageUnitRow).where(StorageUnitRow.site_id == site, StorageUnitRow.code == unit)
    ).scalar_one_or_none()
    visible = row is not None and (
        viewer is None
        or viewer.sees_everything
        or (viewer.role == "warehouse_operator" and site in viewer.sites)
        or (
            viewer.role == "sponsor_viewer"
            and session.execute(
                select(
                    exists(
                        _placements().where(PlacementRow.unit_id == row.id, placement_scope(viewer))
                    )
                )
            ).scalar()
        )
    )
    if row is None or not visible:
        raise CatalogNotFound(f"unit {site}/{unit} not found")
    return row


def stored_in_unit(
    session: Session,
    *,
    site: str,
    unit: str,
    start: datetime,
    end: datetime,
    viewer: Viewer | None,
) -> list[PlacementView]:
    """The placements in unit `site`/`unit` that share any time with [start, end)."""
    row = _unit(session, site, unit, viewer)
    query = _placements().where(
        PlacementRow.unit_id == row.id,
        PlacementRow.start_at < utc(end),
        PlacementRow.end_at.is_(None) | (PlacementRow.end_at > utc(start)),
        placement_scope(viewer),
    )
    return _views(session, query)


def visible_sponsors_for_unit(
    session: Session, *, site: str, unit: str, at: datetime, viewer: Viewer | None
) -> frozenset[str]:
    """The sponsors whose batches were in the unit at `at`, so may see its readings then.

    A sponsor viewer only ever learns about their own sponsor.
    """
    row = _unit(session, site, unit, viewer)
    query = _placements().where(
        PlacementRow.unit_id == row.id, _active_at(utc(at)), placement_scope(viewer)
    )
    return frozenset(view.sponsor for view in _views(session, query))


def storage_condition_for_sensor(
    session: Session, *, site: str, source: str, device: str, sensor: str, at: datetime
) -> AppliedCondition | None:
    """The condition sensor (site, source, device, sensor) must hold at `at`: the strictest
    of the products then in its unit or shipment; None when nothing is stored there.

    `source` is "unit" or "logger" as in the MQTT topic (docs/design.md §2); a logger is found
    under the origin site of its shipment (§10). Trusted services only: no viewer.
    """
    unit_ids, shipment_ids = _places_of_sensor(
        session, site=site, source=source, device=device, sensor=sensor
    )
    query = (
        select(ProductRow)
        .join(BatchRow, BatchRow.product_id == ProductRow.id)
        .join(PlacementRow, PlacementRow.batch_id == BatchRow.id)
        .where(
            _active_at(utc(at)),
            PlacementRow.unit_id.in_(unit_ids) | PlacementRow.shipment_id.in_(shipment_ids),
        )
        .distinct()
    )
    products = sorted(session.execute(query).scalars(), key=lambda p: p.id)
    return _strictest([product_view(p) for p in products]) if products else None


def _places_of_sensor(
    session: Session, *, site: str, source: str, device: str, sensor: str
) -> tuple[list[int], list[str]]:
    """(unit ids, shipment ids) the sensor measures; a logger reused on several shipments
    names them all, and only those with a placement at the moment count."""
    if source == "unit":
        unit_query = (
            select(StorageUnitRow.id)
            .join(SensorRow, SensorRow.unit_id == StorageUnitRow.id)
            .where(StorageUnitRow.site_id == site, StorageUnitRow.code == device)
            .where(SensorRow.code == sensor)
        )
        units, shipments = list(session.execute(unit_query).scalars()), []
    elif source == "logger":
        shipment_query = (
            select(LoggerRow.shipment_id)
            .join(ShipmentRow, ShipmentRow.id == LoggerRow.shipment_id)
            .join(SensorRow, SensorRow.logger_id == LoggerRow.id)
            .where(ShipmentRow.origin_site_id == site, LoggerRow.code == device)
            .where(SensorRow.code == sensor)
        )
        units, shipments = [], list(session.execute(shipment_query).scalars())
    else:
        raise CatalogNotFound(f"source {source!r}: expected 'unit' or 'logger'")
    if not units and not shipments:
        raise CatalogNotFound(f"sensor {site}/{source}/{device}/{sensor} not found")
    return units, shipments


def _strictest(products: list[ProductView]) -> AppliedCondition:
    """The condition of a place holding all of `products`: the limits and alarm delay are
    the domain's `strictest` (docs/design.md §11, what the detector alarms by); the stability
    budget combines here, as only the batch record and this answer carry it."""
    limits = strictest(products)
    budgets = [p.budget for p in products]
    budget = None
    # Any product without a budget allows no excursion at all, so neither does the unit.
    if budgets and all(b is not None for b in budgets):
        present = [b for b in budgets if b is not None]
        floors = [b.min_c for b in present if b.min_c is not None]
        budget = Budget(
            max_c=min(b.max_c for b in present),
            hours=min(b.hours for b in present),
            min_c=max(floors) if floors else None,
        )
    labels = sorted({p.label for p in products})
    return AppliedCondition(
        min_c=limits.low_c,
        max_c=limits.high_c,
        alarm_delay_min=limits.alarm_delay_ms / MINUTE_MS,
        budget=budget,
        label=" + ".join(labels),
        products=tuple(p.id for p in products),
        conflicting=limits.low_c >= limits.high_c,
    )


def product_view(row: ProductRow) -> ProductView:
    """A product row as the value the rest of the system reads."""
    budget = None
    if row.budget_max_c is not None and row.budget_hours is not None:
        budget = Budget(max_c=row.budget_max_c, hours=row.budget_hours, min_c=row.budget_min_c)
    return ProductView(
        id=row.id,
        sponsor=row.sponsor_id,
        name=row.name,
        min_c=row.min_c,
        max_c=row.max_c,
        alarm_delay_min=row.alarm_delay_min,
        budget=budget,
        label=row.label,
        mkt_delta_h_kj_per_mol=row.mkt_delta_h_kj_per_mol,
        stability=budget_of(row),
    )


def _sponsor_batches(session: Session, sponsor: str, viewer: Viewer | None) -> Select[str]:
    """Batches of `sponsor` the viewer may see (a subquery of batch ids)."""
    if session.get(SponsorRow, sponsor) is None or (
        viewer is not None and viewer.role == "sponsor_viewer" and viewer.sponsor != sponsor
    ):
        raise CatalogNotFound(f"sponsor {sponsor!r} not found")
    base = select(BatchRow.id).join(ProductRow, ProductRow.id == BatchRow.product_id)
    base = base.where(ProductRow.sponsor_id == sponsor)
    if viewer is not None and viewer.role == "warehouse_operator":
        placed = (
            _placements().with_only_columns(PlacementRow.batch_id).where(placement_scope(viewer))
        )
        base = base.where(BatchRow.id.in_(placed))
    return base


def products_for_sponsor(
    session: Session, *, sponsor: str, viewer: Viewer | None
) -> list[ProductView]:
    """The sponsor's products; a warehouse operator sees those ever placed at their sites."""
    query = select(ProductRow).where(ProductRow.sponsor_id == sponsor)
    if viewer is not None and viewer.role == "warehouse_operator":
        query = query.join(BatchRow, BatchRow.product_id == ProductRow.id).where(
            BatchRow.id.in_(_sponsor_batches(session, sponsor, viewer))
        )
    else:
        _sponsor_batches(session, sponsor, viewer)
    rows = session.execute(query.distinct().order_by(ProductRow.id)).scalars()
    return [product_view(row) for row in rows]


def batches_for_sponsor(
    session: Session, *, sponsor: str, viewer: Viewer | None
) -> list[BatchView]:
    """The sponsor's batches (lots); a warehouse operator sees those placed at their sites."""
    query = (
        select(BatchRow.id, BatchRow.product_id)
        .where(BatchRow.id.in_(_sponsor_batches(session, sponsor, viewer)))
        .order_by(BatchRow.id)
    )
    return [BatchView(id=b, product=p, sponsor=sponsor) for b, p in session.execute(query)]
