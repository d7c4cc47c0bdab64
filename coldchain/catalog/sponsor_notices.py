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

__all__ = [
    "BUDGET_EVENT",
    "EVENTS",
    "deviation_event",
    "notify_sponsor",
    "notify_sponsor_of_budget",
]

EVENTS = ("deviation_opened", "deviation_assessed")
#: A batch's stability budget crossed a threshold (api/budget_watch.py). Not in `EVENTS`:
#: its payload is the §9 alert event (plus `event`, `batch`, `sponsor`), so an e-mail
#: renders it as the alert it is and a webhook signs it with the sponsor's key.
BUDGET_EVENT = "budget"


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


def notify_sponsor_of_budget(
    session: Session, alert: dict[str, Any], *, batch: str, sponsor: str, at: datetime
) -> int:
    """Enqueue the budget alert event `alert` (`alerts.alert_event` of the row) for every
    contact of the batch's sponsor, once per alert and state; returns how many."""
    contacts = session.execute(
        select(SponsorContactRow)
        .where(SponsorContactRow.sponsor_id == sponsor)
        .order_by(SponsorContactRow.id)
    ).scalars()
    event = {"event": BUDGET_EVENT, "batch": batch, "sponsor": sponsor, **alert}
    payload = json.dumps(event, separators=(",", ":"))
    stem = f"{alert['alert_id']}:{BUDGET_EVENT}:{alert['state']}"
    return sum(
        enqueue_notification(
            session,
            alert_id=None,  # a sponsor's notice: signed with the sponsor's key (webhook.py)
            channel=c.channel,
            destination=c.destination,
            payload=payload,
            dedupe_key=f"{stem}:{c.channel}:{c.destination}"[:200],
            at=at,
        )
        for c in contacts
    )
