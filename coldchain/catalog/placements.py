"""The chain of custody: placing batches, moving them, and the rules that keep it true.

Three rules hold for every write: one batch's placements in one place never overlap; a
batch is in two places at once only as a recorded split, both placements carrying a
`quantity` (else a forgotten close would pass for a split); and a recorded placement is
never rewritten. The only change to a stored placement is closing an open one (setting
`end_at`), which is what a move does before opening the next.
"""

from __future__ import annotations

from datetime import UTC, datetime

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound
from coldchain.catalog.schema import BatchRow, PlacementRow, ShipmentRow, StorageUnitRow
from coldchain.times import NaiveTimeError, rfc3339, utc

__all__ = [
    "Place",
    "close_placement",
    "find_overlap",
    "find_unsplit_overlap",
    "move_batch",
    "place_batch",
    "place_name",
    "placement_fields",
    "resolve_place",
]

Place = tuple[int | None, str | None]
"""(unit row id, shipment id): exactly one is set."""


def resolve_place(session: Session, *, unit: str | None, shipment: str | None) -> Place:
    """Turn "SITE/UNIT" or a shipment id into the keys placements store."""
    if (unit is None) == (shipment is None):
        raise CatalogConflict("a placement names exactly one of unit or shipment")
    if unit is not None:
        site_id, _, code = unit.partition("/")
        row = session.execute(
            select(StorageUnitRow.id).where(
                StorageUnitRow.site_id == site_id, StorageUnitRow.code == code
            )
        ).scalar_one_or_none()
        if row is None:
            raise CatalogNotFound(f"unit {unit!r} not found")
        return row, None
    if session.get(ShipmentRow, shipment) is None:
        raise CatalogNotFound(f"shipment {shipment!r} not found")
    return None, shipment


def find_overlap(
    session: Session,
    *,
    batch: str,
    place: Place,
    start: datetime,
    end: datetime | None,
    exclude_id: int | None = None,
) -> PlacementRow | None:
    """A recorded placement of `batch` in `place` that shares time with [start, end).

    Intervals are half-open, so a move at 08:00 (one ends, the next starts) is no overlap.
    """
    unit_id, shipment_id = place
    query = select(PlacementRow).where(
        PlacementRow.batch_id == batch,
        PlacementRow.unit_id == unit_id if unit_id is not None else PlacementRow.unit_id.is_(None),
        PlacementRow.shipment_id == shipment_id
        if shipment_id is not None
        else PlacementRow.shipment_id.is_(None),
        (PlacementRow.end_at.is_(None)) | (PlacementRow.end_at > start),
    )
    if end is not None:
        query = query.where(PlacementRow.start_at < end)
    if exclude_id is not None:
        query = query.where(PlacementRow.id != exclude_id)
    return session.execute(query.order_by(PlacementRow.start_at).limit(1)).scalar_one_or_none()


def find_unsplit_overlap(
    session: Session,
    *,
    batch: str,
    place: Place,
    start: datetime,
    end: datetime | None,
    quantity: int | None,
) -> PlacementRow | None:
    """A recorded placement of `batch` in another place that shares time with [start, end)
    while it or the new one (`quantity`) has no quantity: the batch would be in two places
    at once without a recorded split. Half-open, so a move is no overlap."""
    unit_id, shipment_id = place
    elsewhere = (
        PlacementRow.unit_id.is_(None) | (PlacementRow.unit_id != unit_id)
        if unit_id is not None
        else PlacementRow.shipment_id.is_(None) | (PlacementRow.shipment_id != shipment_id)
    )
    query = select(PlacementRow).where(
        PlacementRow.batch_id == batch,
        elsewhere,
        (PlacementRow.end_at.is_(None)) | (PlacementRow.end_at > start),
    )
    if end is not None:
        query = query.where(PlacementRow.start_at < end)
    if quantity is not None:
        query = query.where(PlacementRow.quantity.is_(None))
    return session.execute(query.order_by(PlacementRow.start_at).limit(1)).scalar_one_or_none()


def place_name(session: Session, row: PlacementRow) -> str:
    """ "unit SITE/UNIT" or "shipment ID", for messages."""
    fields = placement_fields(session, row)
    return f"unit {fields['unit']}" if "unit" in fields else f"shipment {fields['shipment']}"


def placement_fields(session: Session, row: PlacementRow) -> dict[str, object]:
    """The audited description of a placement, naming places by their fleet ids; `quantity`
    only for a part of a split (so a whole batch's entry reads as it always did)."""
    place: dict[str, object]
    if row.unit_id is not None:
        unit = session.get(StorageUnitRow, row.unit_id)
        place = {"unit": None if unit is None else f"{unit.site_id}/{unit.code}"}
    else:
        place = {"shipment": row.shipment_id}
    fields = {"batch": row.batch_id, **place, "from": row.start_at, "to": row.end_at}
    if row.quantity is not None:
        fields["quantity"] = row.quantity
    return fields


def place_batch(
    session: Session,
    *,
    batch: str,
    start: datetime,
    actor: str,
    unit: str | None = None,
    shipment: str | None = None,
    end: datetime | None = None,
    quantity: int | None = None,
) -> int:
    """Record that `batch` (or `quantity` units of it, a part of a split) is or was in
    `unit` ("SITE/UNIT") or `shipment`; its row id.

    Raises:
        CatalogNotFound: unknown batch, unit or shipment.
        CatalogConflict: `quantity` is not a positive integer; it would overlap a recorded
            placement of the batch in that place, or one elsewhere unless both carry a
            quantity (a split).
    """
    if quantity is not None and (
        isinstance(quantity, bool) or not isinstance(quantity, int) or quantity <= 0
    ):
        raise CatalogConflict(
            f"placement of {batch!r}: quantity {quantity!r} is not a positive integer"
        )
    if session.get(BatchRow, batch) is None:
        raise CatalogNotFound(f"batch {batch!r} not found")
    place = resolve_place(session, unit=unit, shipment=shipment)
    start, end = _utc(start), None if end is None else _utc(end)
    if end is not None and end <= start:
        raise CatalogConflict(f"placement of {batch!r}: end {end} is not after start {start}")
    clash = find_overlap(session, batch=batch, place=place, start=start, end=end)
    if clash is not None:
        raise CatalogConflict(
            f"placement of {batch!r} from {start.isoformat()} overlaps the recorded one "
            f"from {clash.start_at.isoformat()} (placement {clash.id})"
        )
    elsewhere = find_unsplit_overlap(
        session, batch=batch, place=place, start=start, end=end, quantity=quantity
    )
    if elsewhere is not None:
        here = f"unit {unit}" if unit is not None else f"shipment {shipment}"
        raise CatalogConflict(
            f"placement of {batch!r} in {here} from {rfc3339(start)} to {_iso(end)} overlaps "
            f"placement {elsewhere.id} in {place_name(session, elsewhere)} from "
            f"{rfc3339(elsewhere.start_at)} to {_iso(elsewhere.end_at)}: a batch is in two "
            "places at once only as a split, with a quantity on both placements"
        )
    row = PlacementRow(
        batch_id=batch,
        unit_id=place[0],
        shipment_id=place[1],
        start_at=start,
        end_at=end,
        recorded_at=datetime.now(UTC),
        quantity=quantity,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="create",
        entity="placement",
        entity_id=str(row.id),
        new=placement_fields(session, row),
    )
    return row.id


def close_placement(session: Session, *, placement_id: int, at: datetime, actor: str) -> None:
    """End an open placement at `at`; an already closed one is history and stays as it is."""
    row = session.get(PlacementRow, placement_id)
    if row is None:
        raise CatalogNotFound(f"placement {placement_id} not found")
    at = _utc(at)
    if row.end_at is not None:
        raise CatalogConflict(
            f"placement {placement_id} of {row.batch_id!r} already ended at "
            f"{row.end_at.isoformat()}: moves are recorded, never overwritten"
        )
    if at <= row.start_at:
        raise CatalogConflict(
            f"placement {placement_id} of {row.batch_id!r} started {row.start_at.isoformat()}: "
            f"cannot end it at {at.isoformat()}"
        )
    row.end_at = at
    append_audit(
        session,
        actor=actor,
        action="close",
        entity="placement",
        entity_id=str(placement_id),
        old={"to": None},
        new={"to": at},
    )


def move_batch(
    session: Session,
    *,
    batch: str,
    at: datetime,
    actor: str,
    to_unit: str | None = None,
    to_shipment: str | None = None,
    quantity: int | None = None,
) -> int:
    """Close the batch's one open placement at `at` and open one in the new place, with
    `quantity` (default: the moved placement's own, so a part of a split stays one).

    A batch split over several places must be moved with `close_placement` and
    `place_batch`, naming which part moves.
    """
    open_rows = list(
        session.execute(
            select(PlacementRow).where(
                PlacementRow.batch_id == batch, PlacementRow.end_at.is_(None)
            )
        ).scalars()
    )
    if len(open_rows) > 1:
        raise CatalogConflict(
            f"batch {batch!r} is in {len(open_rows)} places: say which part moves"
        )
    if open_rows:
        close_placement(session, placement_id=open_rows[0].id, at=at, actor=actor)
        if quantity is None:
            quantity = open_rows[0].quantity
    return place_batch(
        session,
        batch=batch,
        start=at,
        actor=actor,
        unit=to_unit,
        shipment=to_shipment,
        quantity=quantity,
    )


def _iso(moment: datetime | None) -> str:
    return "open" if moment is None else rfc3339(moment)


def _utc(moment: datetime) -> datetime:
    """`moment` in UTC, as the catalog keeps it; a naive one is the caller's conflict."""
    try:
        return utc(moment)
    except NaiveTimeError:
        raise CatalogConflict(
            f"{moment.isoformat()}: needs a time zone (the catalog keeps UTC)"
        ) from None
