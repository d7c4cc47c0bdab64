"""What a batch's stability budget is charged with besides its readings (#22): time out of
refrigeration recorded by hand, and time carried in from before the batch reached this site.

Both are record: every entry is audited and none is ever rewritten. A wrong time-out-of-
refrigeration entry is corrected by a new entry that voids it, with its own reason; the
voided one stays, shown as voided, and charges nothing. The account itself is built by the
pure `coldchain.judgement.budget` from these and the readings (api/export).
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace
from datetime import datetime
from typing import Final

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.conditions import condition_at
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound
from coldchain.catalog.schema import BatchRow, CarriedInRow, TorEntryRow
from coldchain.judgement.budget import budget_of
from coldchain.times import rfc3339, utc

__all__ = [
    "STAFF",
    "WITHHELD",
    "BudgetEntries",
    "CarriedIn",
    "TorEntry",
    "add_carried_in",
    "add_tor_entry",
    "budget_entries",
]

#: Who recorded an entry, and its reason, as a sponsor reads them (`sponsor_view`).
STAFF: Final = "CMO staff"
WITHHELD: Final = "(staff comment, not shown to sponsors)"


@dataclass(frozen=True, slots=True)
class TorEntry:
    """A time-out-of-refrigeration entry; `voided_by`: the entry that corrects it."""

    id: int
    batch: str
    start: datetime
    end: datetime
    max_c: float
    reason: str
    recorded_by: str
    recorded_at: datetime
    voids: int | None
    voided_by: int | None

    @property
    def in_force(self) -> bool:
        return self.voided_by is None


@dataclass(frozen=True, slots=True)
class CarriedIn:
    """Budget consumed before the batch reached this site, and where the figure is from."""

    id: int
    batch: str
    band_min_c: float
    band_max_c: float
    hours: float
    freeze_events: int
    source: str
    recorded_by: str
    recorded_at: datetime


@dataclass(frozen=True, slots=True)
class BudgetEntries:
    """A batch's manual entries (voided ones too, oldest first) and carried-in amounts."""

    tor: tuple[TorEntry, ...] = ()
    carried_in: tuple[CarriedIn, ...] = ()

    def sponsor_view(self) -> BudgetEntries:
        """The entries as a sponsor may read them: times, temperatures, hours and sources,
        but no staff names and no staff reason (a comment may name another sponsor's lot),
        as the alert API withholds actors and comments."""
        return BudgetEntries(
            tuple(replace(e, recorded_by=STAFF, reason=WITHHELD) for e in self.tor),
            tuple(replace(c, recorded_by=STAFF) for c in self.carried_in),
        )


def _batch(session: Session, batch_id: str) -> BatchRow:
    row = session.get(BatchRow, batch_id)
    if row is None:
        raise CatalogNotFound(f"batch {batch_id!r} not found")
    return row


def add_tor_entry(
    session: Session,
    batch_id: str,
    *,
    start: datetime,
    end: datetime,
    max_c: float,
    reason: str,
    actor: str,
    now: datetime,
    voids: int | None = None,
) -> TorEntry:
    """Record that the batch was out of refrigeration from `start` to `end`, at most
    `max_c`; with `voids`, the entry corrects (voids) an earlier one of the same batch.

    Raises:
        CatalogNotFound: no such batch, or `voids` is no entry of it.
        CatalogConflict: the times are not in order or lie in the future, the reason is
            empty, the maximum lies within the storage range (nothing to charge), or the
            voided entry is already voided.
    """
    batch = _batch(session, batch_id)
    start, end, now = utc(start), utc(end), utc(now)
    if end <= start:
        raise CatalogConflict(f"the end {rfc3339(end)} is not after the start {rfc3339(start)}")
    if end > now:
        raise CatalogConflict(f"the end {rfc3339(end)} lies in the future")
    if not reason.strip():
        raise CatalogConflict("a time out of refrigeration needs a reason")
    condition = condition_at(session, batch.product_id, start)
    if condition is not None and condition.min_c <= max_c <= condition.max_c:
        raise CatalogConflict(
            f"maximum {max_c:g} °C lies within the storage range "
            f"{condition.min_c:g}–{condition.max_c:g} °C: time in range is not charged"
        )
    if voids is not None:
        old = session.get(TorEntryRow, voids)
        if old is None or old.batch_id != batch_id:
            raise CatalogNotFound(f"no time-out-of-refrigeration entry {voids} of {batch_id}")
        if session.execute(select(TorEntryRow.id).where(TorEntryRow.voids_id == voids)).first():
            raise CatalogConflict(f"entry {voids} is already voided")
    row = TorEntryRow(
        batch_id=batch_id,
        start_at=start,
        end_at=end,
        max_c=max_c,
        reason=reason.strip(),
        recorded_by=actor,
        recorded_at=now,
        voids_id=voids,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="create",
        entity="tor_entry",
        entity_id=str(row.id),
        new={
            "batch": batch_id,
            "start": start,
            "end": end,
            "max_c": max_c,
            "reason": row.reason,
            "voids": voids,
        },
        at=now,
    )
    return _tor(row, None)


def add_carried_in(
    session: Session,
    batch_id: str,
    *,
    band_min_c: float,
    band_max_c: float,
    hours: float,
    freeze_events: int,
    source: str,
    actor: str,
    now: datetime,
    reason: str | None = None,
) -> CarriedIn:
    """Record budget the batch consumed before it reached this site; `reason`: the reason
    for change, kept as `"reason"` in the audit entry (the API asks for one, as for every
    change it records; the fleet file and the CLI name the `source` only).

    Raises:
        CatalogNotFound: no such batch.
        CatalogConflict: negative amounts, no source, an empty reason when one is given, or
            a band the product's budget in force now does not have (the amount could be
            charged nowhere).
    """
    batch = _batch(session, batch_id)
    now = utc(now)
    if hours < 0 or freeze_events < 0:
        raise CatalogConflict("carried-in hours and freeze events cannot be negative")
    if not source.strip():
        raise CatalogConflict("carried-in time needs its source, e.g. 'sponsor CoA 2026-11-02'")
    if reason is not None and not reason.strip():
        raise CatalogConflict("a reason for change cannot be empty")
    condition = condition_at(session, batch.product_id, now)
    budget = None if condition is None else budget_of(condition)
    if budget is None or budget.band_matching(band_min_c, band_max_c) is None:
        bands = ", ".join(b.label for b in budget.bands) if budget else ""
        raise CatalogConflict(
            f"the budget of {batch.product_id} has no band {band_min_c:g}–{band_max_c:g} °C"
            + (f" (its bands: {bands})" if bands else " (it has no bands)")
        )
    row = CarriedInRow(
        batch_id=batch_id,
        band_min_c=band_min_c,
        band_max_c=band_max_c,
        hours=hours,
        freeze_events=freeze_events,
        source=source.strip(),
        recorded_by=actor,
        recorded_at=now,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="create",
        entity="carried_in",
        entity_id=str(row.id),
        new={
            "batch": batch_id,
            "band_min_c": band_min_c,
            "band_max_c": band_max_c,
            "hours": hours,
            "freeze_events": freeze_events,
            "source": row.source,
            **({} if reason is None else {"reason": reason.strip()}),
        },
        at=now,
    )
    return _carried(row)


def budget_entries(session: Session, batch_id: str) -> BudgetEntries:
    """The batch's manual entries and carried-in amounts, oldest first."""
    tor_rows: Sequence[TorEntryRow] = (
        session.execute(
            select(TorEntryRow).where(TorEntryRow.batch_id == batch_id).order_by(TorEntryRow.id)
        )
        .scalars()
        .all()
    )
    voided_by = {r.voids_id: r.id for r in tor_rows if r.voids_id is not None}
    carried = (
        session.execute(
            select(CarriedInRow).where(CarriedInRow.batch_id == batch_id).order_by(CarriedInRow.id)
        )
        .scalars()
        .all()
    )
    return BudgetEntries(
        tuple(_tor(r, voided_by.get(r.id)) for r in tor_rows),
        tuple(_carried(r) for r in carried),
    )


def _tor(row: TorEntryRow, voided_by: int | None) -> TorEntry:
    return TorEntry(
        id=row.id,
        batch=row.batch_id,
        start=row.start_at,
        end=row.end_at,
        max_c=row.max_c,
        reason=row.reason,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
        voids=row.voids_id,
        voided_by=voided_by,
    )


def _carried(row: CarriedInRow) -> CarriedIn:
    return CarriedIn(
        id=row.id,
        batch=row.batch_id,
        band_min_c=row.band_min_c,
        band_max_c=row.band_max_c,
        hours=row.hours,
        freeze_events=row.freeze_events,
        source=row.source,
        recorded_by=row.recorded_by,
        recorded_at=row.recorded_at,
    )
