"""The notification outbox: rows written in the same transaction as the alert change they
announce, delivered later by the detector's dispatcher with retries and backoff.

A row is never deleted and never given up on: a receiver that is down for hours gets every
notification once it is back. `dedupe_key` is unique, so writing the same state change twice
(a replay after a crash) enqueues nothing the second time: repeats are suppressed here.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from sqlalchemy import func, select
from sqlalchemy.orm import Session

from coldchain.catalog.schema import AlertRow, OutboxRow

__all__ = [
    "CHANNELS",
    "Notification",
    "due_notifications",
    "enqueue_notification",
    "mark_delivered",
    "mark_failed",
    "pending_count",
]

CHANNELS = ("webhook", "email", "mqtt")


@dataclass(frozen=True, slots=True)
class Notification:
    """One outbox row as the dispatcher sees it.

    Attributes:
        destination: a URL (webhook), an address (email) or a topic (mqtt).
        payload: the JSON text to deliver (the §9 alert event, plus keys of its own).
    """

    id: int
    alert_id: str | None
    channel: str
    destination: str
    payload: str
    attempts: int
    dedupe_key: str | None
    due: bool = True


def enqueue_notification(
    session: Session,
    *,
    alert_id: str | None,
    channel: str,
    destination: str,
    payload: str,
    dedupe_key: str,
    at: datetime | None = None,
) -> bool:
    """Add a notification unless one with `dedupe_key` exists; True when added."""
    if channel not in CHANNELS:
        raise ValueError(f"channel: expected one of {CHANNELS}, got {channel!r}")
    exists = session.execute(select(OutboxRow.id).where(OutboxRow.dedupe_key == dedupe_key)).first()
    if exists is not None:
        return False
    moment = (at or datetime.now(UTC)).astimezone(UTC)
    session.add(
        OutboxRow(
            alert_id=alert_id,
            channel=channel,
            destination=destination,
            payload=payload,
            created_at=moment,
            attempts=0,
            next_attempt_at=moment,
            delivered_at=None,
            last_error=None,
            dedupe_key=dedupe_key,
        )
    )
    session.flush()
    return True


def due_notifications(
    session: Session, *, now: datetime, limit: int = 100, sites: Collection[str] = ()
) -> list[Notification]:
    """Undelivered rows, oldest first, each marked `due` when its next attempt has come.

    Rows not yet due are returned too, so a sender keeps each destination's order: a later
    row must not overtake an earlier one that is waiting out its backoff. `sites`: only the
    rows of these sites' alerts (a detector partition delivers its own, so two partitions
    never send the same row); every row when empty.
    """
    query = select(OutboxRow).where(OutboxRow.delivered_at.is_(None))
    if sites:
        query = query.join(AlertRow, AlertRow.id == OutboxRow.alert_id).where(
            AlertRow.site_id.in_(sorted(sites))
        )
    rows = session.execute(query.order_by(OutboxRow.id).limit(limit)).scalars()
    return [
        Notification(
            r.id,
            r.alert_id,
            r.channel,
            r.destination,
            r.payload,
            r.attempts,
            r.dedupe_key,
            due=r.next_attempt_at <= now,
        )
        for r in rows
    ]


def mark_delivered(session: Session, *, notification_id: int, at: datetime) -> None:
    row = session.get(OutboxRow, notification_id)
    if row is not None and row.delivered_at is None:
        row.delivered_at = at
        row.attempts += 1
        row.last_error = None


def mark_failed(
    session: Session, *, notification_id: int, error: str, retry_in: timedelta, at: datetime
) -> None:
    """Record a failed attempt; the row is due again after `retry_in`."""
    row = session.get(OutboxRow, notification_id)
    if row is not None and row.delivered_at is None:
        row.attempts += 1
        row.last_error = error[:2000]
        row.next_attempt_at = at + retry_in


def pending_count(session: Session, *, sites: Collection[str] = ()) -> int:
    """Undelivered rows (of these sites' alerts when given)."""
    query = select(func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_(None))
    if sites:
        query = query.join(AlertRow, AlertRow.id == OutboxRow.alert_id).where(
            AlertRow.site_id.in_(sorted(sites))
        )
    return int(session.execute(query).scalar_one())
