"""Who may record a batch's time out of refrigeration (#22): QA, and the warehouse
operators of its sites (those who see the batch at all: an operator sees only the links of
a chain of custody at their sites). A sponsor reads the budget, never writes to it."""

from __future__ import annotations

from datetime import datetime

from sqlalchemy.orm import Session

from api.access.scoped_queries import find_batch
from api.errors import Forbidden
from coldchain.catalog.budget import TorEntry, add_tor_entry
from coldchain.catalog.users import Viewer

__all__ = ["TOR_RECORDERS", "record_tor"]

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
