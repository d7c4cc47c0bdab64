"""Alerts and their lifecycle: open → acknowledged → resolved → closed (by QA, with a root
cause), each change recorded in `alert_history`, the audit trail and, as the §9 alert event,
in the notification outbox for the site's MQTT alert topic, all in the caller's transaction.

Alert ids are chosen by the detector from what the alert is about (site, device, sensor,
kind, severity, start), so writing the same alert twice, e.g. after a crash and a replay of
the readings, finds the existing row and changes nothing.

    open ──► acknowledged ──► resolved ──► closed
      └──────────────────────►┘ (the condition cleared before anyone acknowledged)

A latching alarm (raised under an alarm profile with `latching`, #22; its detail says
`"latching": true`) skips that shortcut: readings back in range while it is still open only
record its end, and it stays open, escalating, until acknowledged; the acknowledgement then
resolves it at once. Acknowledged first, it resolves when the readings are back.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Mapping
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogConflict, CatalogNotFound, SegregationOfDuties
from coldchain.catalog.outbox import enqueue_notification
from coldchain.catalog.schema import AlertHistoryRow, AlertRow
from coldchain.times import rfc3339
from coldchain.wire import alerts_topic

__all__ = [
    "NewAlert",
    "acknowledge_alert",
    "alert_event",
    "close_alert",
    "disposition_alert",
    "due_escalations",
    "escalate_alert",
    "get_alert",
    "list_alerts",
    "open_alert",
    "raise_peaks",
    "resolve_alert",
]

_NEXT: dict[str, tuple[str, ...]] = {
    "open": ("acknowledged", "resolved"),
    "acknowledged": ("resolved",),
    "resolved": ("closed",),
    "closed": (),
}


@dataclass(frozen=True, slots=True)
class NewAlert:
    """An alert as the detector raises it (docs/design.md §9 event fields, times aware UTC)."""

    alert_id: str
    kind: str
    severity: str
    site: str
    source: str
    device: str
    sensor: str
    start: datetime
    end: datetime | None = None
    peak_c: float | None = None
    retrospective: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    rule_id: int | None = None  # the `alert_rules` row that raised it (a device's own rule)


def alert_event(row: AlertRow) -> dict[str, Any]:
    """The §9 alert event of a row: these keys exactly, plus `source`, `escalation_level`
    and `detail` (keys may be added, never renamed)."""
    return {
        "alert_id": row.id,
        "kind": row.kind,
        "severity": row.severity,
        "state": row.state,
        "site": row.site_id,
        "device": row.device,
        "sensor": row.sensor,
        "start": rfc3339(row.start_at),
        "end": None if row.end_at is None else rfc3339(row.end_at),
        "peak_c": row.peak_c,
        "retrospective": bool(row.retrospective),
        "source": row.source,
        "escalation_level": row.escalation_level,
        "detail": json.loads(row.detail_json) if row.detail_json else {},
    }


def _snapshot(row: AlertRow) -> dict[str, Any]:
    event = alert_event(row)
    event.pop("detail")
    return event


def _record(
    session: Session,
    row: AlertRow,
    *,
    actor: str,
    action: str,
    at: datetime,
    old: dict[str, Any] | None,
    comment: str | None = None,
    root_cause: str | None = None,
) -> None:
    """History, audit entry and the MQTT alert event of one state change."""
    session.add(
        AlertHistoryRow(
            alert_id=row.id,
            at=at,
            state=row.state,
            actor=actor,
            comment=comment,
            root_cause=root_cause,
        )
    )
    new = _snapshot(row)
    if comment is not None:
        new["comment"] = comment
    if root_cause is not None:
        new["root_cause"] = root_cause
    append_audit(
        session,
        actor=actor,
        action=action,
        entity="alert",
        entity_id=row.id,
        old=old,
        new=new,
        at=at,
    )
    enqueue_notification(
        session,
        alert_id=row.id,
        channel="mqtt",
        destination=alerts_topic(row.site_id),
        payload=json.dumps(alert_event(row), separators=(",", ":")),
        dedupe_key=f"{row.id}:{row.state}:mqtt:{row.escalation_level}",
        at=at,
    )


def open_alert(
    session: Session,
    alert: NewAlert,
    *,
    at: datetime,
    actor: str = "detector",
    escalate_at: datetime | None = None,
) -> AlertRow | None:
    """Insert the alert unless its id exists; returns the new row, or None if it existed."""
    if session.get(AlertRow, alert.alert_id) is not None:
        return None
    row = AlertRow(
        id=alert.alert_id,
        kind=alert.kind,
        severity=alert.severity,
        state="open",
        site_id=alert.site,
        source=alert.source,
        device=alert.device,
        sensor=alert.sensor,
        start_at=alert.start,
        end_at=alert.end,
        peak_c=alert.peak_c,
        retrospective=alert.retrospective,
        rule_id=alert.rule_id,
        updated_at=at,
        escalation_level=0,
        next_escalation_at=escalate_at,
        detail_json=json.dumps(alert.detail, sort_keys=True) if alert.detail else None,
    )
    session.add(row)
    session.flush()
    _record(session, row, actor=actor, action="open", at=at, old=None)
    return row


def get_alert(session: Session, alert_id: str) -> AlertRow:
    row = session.get(AlertRow, alert_id)
    if row is None:
        raise CatalogNotFound(f"alert {alert_id!r} not found")
    return row


def _move(row: AlertRow, state: str) -> None:
    if state not in _NEXT[row.state]:
        raise CatalogConflict(
            f"alert {row.id}: cannot go from {row.state} to {state} "
            f"(allowed: {', '.join(_NEXT[row.state]) or 'none'})"
        )
    row.state = state


def acknowledge_alert(
    session: Session, alert_id: str, *, actor: str, at: datetime, comment: str | None = None
) -> AlertRow:
    """A person has seen the alert: escalation stops; a latching alarm whose readings are
    already back in range resolves with it. Raises `CatalogConflict` unless open."""
    row = get_alert(session, alert_id)
    old = _snapshot(row)
    _move(row, "acknowledged")
    row.updated_at = at
    row.next_escalation_at = None
    _record(session, row, actor=actor, action="acknowledge", at=at, old=old, comment=comment)
    if _latching(row) and row.end_at is not None:
        back = rfc3339(row.end_at)
        old = _snapshot(row)
        _move(row, "resolved")
        _record(
            session,
            row,
            actor="detector",
            action="resolve",
            at=at,
            old=old,
            comment=f"latching alarm acknowledged; the readings were back in range since {back}",
        )
    return row


def _latching(row: AlertRow) -> bool:
    """Raised under a latching alarm profile: the readings alone do not resolve it."""
    detail = json.loads(row.detail_json) if row.detail_json else {}
    return detail.get("latching") is True


def raise_peaks(session: Session, peaks: Mapping[str, float]) -> int:
    """Set the peak so far of alerts still open or acknowledged (`peaks`: alert id -> the
    detector's peak of its episode); returns how many changed. Not a state change: no history
    or audit entry (the readings are the record; resolving records the final peak)."""
    if not peaks:
        return 0
    rows = session.execute(
        select(AlertRow).where(
            AlertRow.id.in_(list(peaks)), AlertRow.state.in_(("open", "acknowledged"))
        )
    ).scalars()
    changed = 0
    for row in rows:
        if row.peak_c != peaks[row.id]:
            row.peak_c = peaks[row.id]
            changed += 1
    return changed


def resolve_alert(
    session: Session,
    alert_id: str,
    *,
    actor: str,
    at: datetime,
    end: datetime | None = None,
    peak_c: float | None = None,
    comment: str | None = None,
    by_readings: bool = False,
) -> AlertRow | None:
    """The condition is over (the detector saw it clear, or a person says so).

    Idempotent for the detector: an alert already resolved or closed is left alone (None).
    `by_readings`: the detector saw the readings back; a latching alarm not yet
    acknowledged only records its end then and stays open (None; see the module's doc).
    """
    row = get_alert(session, alert_id)
    if row.state in ("resolved", "closed"):
        return None
    old = _snapshot(row)
    if by_readings and row.state == "open" and _latching(row):
        row.end_at, row.updated_at = end or at, at
        if peak_c is not None:
            row.peak_c = peak_c
        append_audit(
            session,
            actor=actor,
            action="latch",
            entity="alert",
            entity_id=row.id,
            old=old,
            new=_snapshot(row) | {"comment": "readings back in range; open until acknowledged"},
            at=at,
        )
        return None
    _move(row, "resolved")
    if end is not None:
        row.end_at = end
    if peak_c is not None:
        row.peak_c = peak_c
    row.updated_at = at
    row.next_escalation_at = None
    _record(session, row, actor=actor, action="resolve", at=at, old=old, comment=comment)
    return row


def close_alert(
    session: Session,
    alert_id: str,
    *,
    actor: str,
    at: datetime,
    root_cause: str,
    comment: str | None = None,
) -> AlertRow:
    """QA closes a resolved alert, naming its root cause (required, not blank); someone
    other than who acknowledged it (`SegregationOfDuties` otherwise)."""
    if not root_cause.strip():
        raise CatalogConflict(f"alert {alert_id}: closing needs a root cause")
    row = get_alert(session, alert_id)
    _refuse_acknowledger(session, row.id, actor)
    old = _snapshot(row)
    _move(row, "closed")
    row.updated_at = at
    _record(
        session,
        row,
        actor=actor,
        action="close",
        at=at,
        old=old,
        comment=comment,
        root_cause=root_cause,
    )
    return row


def _refuse_acknowledger(session: Session, alert_id: str, actor: str) -> None:
    """Two persons: whoever acknowledged the alert (and recorded what was done) may not
    also close it as QA, or one person's account of an excursion would stand unreviewed."""
    acknowledged_by = session.execute(
        select(AlertHistoryRow.id).where(
            AlertHistoryRow.alert_id == alert_id,
            AlertHistoryRow.state == "acknowledged",
            AlertHistoryRow.actor == actor,
        )
    ).first()
    if acknowledged_by is not None:
        raise SegregationOfDuties(
            f"alert {alert_id}: {actor} acknowledged it, so someone else must close it "
            "(acknowledging and closing need two persons)"
        )


def escalate_alert(
    session: Session, alert_id: str, *, at: datetime, next_at: datetime | None
) -> AlertRow | None:
    """Move an unacknowledged open alert one contact level up; None if it is no longer open."""
    row = get_alert(session, alert_id)
    if row.state != "open":
        return None
    old = _snapshot(row)
    row.escalation_level += 1
    row.next_escalation_at = next_at
    row.updated_at = at
    append_audit(
        session,
        actor="detector",
        action="escalate",
        entity="alert",
        entity_id=row.id,
        old=old,
        new=_snapshot(row),
        at=at,
    )
    return row


def list_alerts(
    session: Session,
    *,
    state: str | None = None,
    site: str | None = None,
    kind: str | None = None,
    limit: int = 1000,
) -> list[AlertRow]:
    """Alerts newest first, optionally of one state, site or kind (trusted callers only)."""
    query = select(AlertRow).order_by(AlertRow.start_at.desc()).limit(limit)
    if state is not None:
        query = query.where(AlertRow.state == state)
    if site is not None:
        query = query.where(AlertRow.site_id == site)
    if kind is not None:
        query = query.where(AlertRow.kind == kind)
    return list(session.execute(query).scalars())


def due_escalations(
    session: Session, *, now: datetime, limit: int = 100, sites: Collection[str] = ()
) -> list[AlertRow]:
    """Open alerts whose acknowledgement is overdue; of `sites` only, when given (one
    detector partition escalates its own alerts)."""
    query = select(AlertRow).where(
        AlertRow.state == "open",
        AlertRow.next_escalation_at.is_not(None),
        AlertRow.next_escalation_at <= now,
    )
    if sites:
        query = query.where(AlertRow.site_id.in_(sorted(sites)))
    query = query.order_by(AlertRow.next_escalation_at).limit(limit)
    return list(session.execute(query).scalars())


def disposition_alert(
    session: Session, alert_id: str, *, actor: str, at: datetime, deviation: str, end: datetime
) -> AlertRow | None:
    """Close an alert through the closed deviation that covers its finding (QA's
    disposition, `actor` the assessor): the way out for an alert the detector cannot
    resolve, such as a cumulative device rule's, which would otherwise stay open for ever
    and overlap every later trip of the logger. An alert with no end gets `end`, the end of
    the span the deviation covered. None when it was already closed."""
    row = get_alert(session, alert_id)
    if row.state == "closed":
        return None
    old = _snapshot(row)
    row.state = "closed"
    if row.end_at is None:
        row.end_at = end
    row.updated_at = at
    row.next_escalation_at = None
    _record(
        session,
        row,
        actor=actor,
        action="disposition",
        at=at,
        old=old,
        root_cause=f"dispositioned through deviation {deviation}",
    )
    return row
