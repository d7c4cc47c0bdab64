"""Who may record a batch's time out of refrigeration (#22): QA, and the warehouse
operators of its sites (those who see the batch at all: an operator sees only the links of
a chain of custody at their sites). A sponsor reads the budget, never writes to it.
Time carried in from before the batch reached this site is QA's alone: it comes from the
sponsor's or the previous holder's documents, which QA assesses."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.access.scoped_queries import find_batch
from api.errors import Forbidden
from coldchain.catalog.budget import CarriedIn, TorEntry, add_carried_in, add_tor_entry
from coldchain.catalog.users import Viewer

__all__ = ["TOR_RECORDERS", "record_carried_in", "record_tor"]

TOR_RECORDERS = frozenset({"qa", "warehouse_operator"})


def record_tor(
    session: Session,
    viewer: Viewer,
    start: datetime,
    end: datetime,
    max_c: float,
    reason: str,
    now: datetime,
    *,
    batch: str,
) -> TorEntry:
    """404 unless the viewer sees the batch, 403 for a role that records none, then the
    entry (409 for what the catalog refuses: times out of order, a maximum in range)."""
    find_batch(session, viewer, batch)
    if viewer.role not in TOR_RECORDERS:
        raise Forbidden(
            "time out of refrigeration is recorded by QA and the warehouse operators of the "
            "batch's sites"
        )
    return add_tor_entry(
        session,
        batch,
        start=start,
        end=end,
        max_c=max_c,
        reason=reason,
        actor=viewer.user_id,
        now=now,
    )


def record_carried_in(
    session: Session,
    viewer: Viewer,
    band_min_c: float,
    band_max_c: float,
    hours: float,
    freeze_events: int,
    source: str,
    reason: str,
    now: datetime,
    *,
    batch: str,
) -> CarriedIn:
    """404 unless the viewer sees the batch, 403 unless QA, then the amount, by the same
    catalog function as `coldchain budget carry-in` (409 for what it refuses: a band the
    product's budget does not have, no source)."""
    find_batch(session, viewer, batch)
    if viewer.role != "qa":
        raise Forbidden("time carried in from before this site is recorded by QA")
    return add_carried_in(
        session,
        batch,
        band_min_c=band_min_c,
        band_max_c=band_max_c,
        hours=hours,
        freeze_events=freeze_events,
        source=source,
        actor=viewer.user_id,
        now=now,
        reason=reason,
    )
