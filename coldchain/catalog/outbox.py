"""The notification outbox: rows written in the same transaction as the alert change they
announce, delivered later by the detector's dispatcher with retries and backoff.

A row is never deleted and never given up on: a receiver that is down for hours gets every
notification once it is back. `dedupe_key` is unique, so writing the same state change twice
(a replay after a crash) enqueues nothing the second time: repeats are suppressed here.

Rows are not claimed, so each row must have exactly one sender. A detector partition sends
the rows of its sites' alerts; rows of no alert (a sponsor's deviation notices,
`sponsor_notices`) belong to no site, and are sent by the partition that watches the
catalog's first site (by id): in a set of partitions that covers every site (what
`GET /v1/metrics` checks), that is exactly one.
"""

from __future__ import annotations

from collections.abc import Collection
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import TypeVar

from sqlalchemy import Select, and_, func, or_, select
from sqlalchemy.orm import Session

from coldchain.catalog.schema import AlertRow, OutboxRow, SiteRow

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

_RowT = TypeVar("_RowT")


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
    rows the partition watching these sites sends (`_of_partition`), so two partitions never
    send the same row; every row when empty.
    """
    query = _of_partition(select(OutboxRow).where(OutboxRow.delivered_at.is_(None)), sites)
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
    """Undelivered rows (those the partition watching `sites` sends, when given)."""
    query = select(func.count()).select_from(OutboxRow).where(OutboxRow.delivered_at.is_(None))
    return int(session.execute(_of_partition(query, sites)).scalar_one())


def _of_partition(query: Select[_RowT], sites: Collection[str]) -> Select[_RowT]:
    """`query` narrowed to the rows the partition watching `sites` sends (module doc): its
    sites' alerts' rows, and the rows of no alert when it watches the catalog's first site.

    Decided in each round's statement, from the catalog as it is: a site added with a
    smaller id moves the rows of no alert to the partition that watches it, without a
    restart. Until one does, they wait (delayed, never lost). Only a partition configured
    for a site before the site is in the catalog could, in the round the site arrives, send
    a row the previous sender is sending too."""
    if not sites:
        return query
    watched = sorted(sites)
    first_site = select(func.min(SiteRow.id)).scalar_subquery()
    return query.outerjoin(AlertRow, AlertRow.id == OutboxRow.alert_id).where(
        or_(
            AlertRow.site_id.in_(watched),
            and_(OutboxRow.alert_id.is_(None), first_site.in_(watched)),
        )
    )
