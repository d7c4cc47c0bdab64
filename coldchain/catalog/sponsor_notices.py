"""Tell a sponsor's contacts about a deviation on their product: when it opens and when it
is assessed (the CMO reports, the sponsor decides; both want it fast).

One outbox row per contact and event, written in the transaction of the change it
announces, delivered by the dispatcher like alert notifications (retried, never given up,
never twice: the dedupe key). The event carries only what the sponsor may see: the
deviation, its findings and the assessment, never operators' comments.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.outbox import enqueue_notification
from coldchain.catalog.schema import SponsorContactRow

if TYPE_CHECKING:
    from coldchain.catalog.deviations import Deviation

__all__ = ["EVENTS", "deviation_event", "notify_sponsor"]

EVENTS = ("deviation_opened", "deviation_assessed")


def deviation_event(deviation: Deviation, *, event: str, at: datetime) -> dict[str, Any]:
    """The JSON a sponsor's webhook or e-mail receives (docs/design.md §9)."""
    return {
        "event": event,
        "deviation": deviation.number,
        "batch": deviation.batch,
        "sponsor": deviation.sponsor,
        "state": deviation.state,
        "title": deviation.title,
        "impact": deviation.impact,
        "reason": deviation.reason,
        "stability_reference": deviation.stability_reference,
        "findings": [f.content() for f in deviation.findings],
        "at": at.astimezone(UTC).isoformat(),
    }


def notify_sponsor(session: Session, deviation: Deviation, *, event: str, at: datetime) -> int:
    """Enqueue `event` for every contact of the deviation's sponsor; returns how many."""
    if event not in EVENTS:
        raise ValueError(f"event: expected one of {EVENTS}, got {event!r}")
    contacts = session.execute(
        select(SponsorContactRow)
        .where(SponsorContactRow.sponsor_id == deviation.sponsor)
        .order_by(SponsorContactRow.id)
    ).scalars()
    payload = json.dumps(deviation_event(deviation, event=event, at=at), separators=(",", ":"))
    stamp = at.astimezone(UTC).isoformat()
    return sum(
        enqueue_notification(
            session,
            alert_id=None,
            channel=c.channel,
            destination=c.destination,
            payload=payload,
            dedupe_key=f"{deviation.number}:{event}:{stamp}:{c.channel}:{c.destination}"[:200],
            at=at,
        )
        for c in contacts
    )
