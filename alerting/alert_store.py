"""Alert changes from the detector into the catalog: the alert rows, their history and
audit entries, and the outbox rows of every notification they cause, in one transaction.

Idempotent: an alert that exists is not opened again, a resolved one is not resolved again,
and outbox rows carry a dedupe key, so replaying a batch after a crash changes nothing.
"""

from __future__ import annotations

import json
from collections.abc import Collection, Sequence
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from alerting.episodes import AlertChange
from coldchain.catalog.alerts import (
    NewAlert,
    alert_event,
    due_escalations,
    escalate_alert,
    open_alert,
    raise_peaks,
    resolve_alert,
)
from coldchain.catalog.outbox import enqueue_notification, pending_count
from coldchain.catalog.schema import AlertRow
from coldchain.catalog.store import catalog_session
from coldchain.config import Settings
from coldchain.times import from_ms

__all__ = ["NotifyConfig", "count_pending", "escalate_due", "write_changes", "write_peaks"]

_SEVERITY = {"warning": 0, "alarm": 1}


@dataclass(frozen=True, slots=True)
class NotifyConfig:
    """Who hears of what. Level 0 is `email_to` (and the webhook); level n is
    `escalation[n-1]`, reached when an alarm stays unacknowledged `escalate_after` longer."""

    min_severity: str = "alarm"
    webhook_url: str | None = None
    email_to: tuple[str, ...] = ()
    escalation: tuple[tuple[str, ...], ...] = ()
    escalate_after: timedelta = timedelta(minutes=15)

    @classmethod
    def from_settings(cls, s: Settings) -> NotifyConfig:
        return cls(
            min_severity=s.notify_min_severity,
            webhook_url=s.notify_webhook_url,
            email_to=tuple(s.notify_email_to) if s.notify_smtp_host else (),
            escalation=tuple(tuple(level) for level in s.notify_escalation)
            if s.notify_smtp_host
            else (),
            escalate_after=timedelta(minutes=s.notify_escalate_after_min),
        )

    def notifies(self, severity: str) -> bool:
        return _SEVERITY[severity] >= _SEVERITY[self.min_severity]


def _notify(
    session: Session, row: AlertRow, cfg: NotifyConfig, at: datetime, emails: Sequence[str]
) -> None:
    payload = json.dumps(alert_event(row), separators=(",", ":"))
    stem = f"{row.id}:{row.state}"
    level = row.escalation_level
    if cfg.webhook_url:
        enqueue_notification(
            session,
            alert_id=row.id,
            channel="webhook",
            destination=cfg.webhook_url,
            payload=payload,
            dedupe_key=f"{stem}:webhook:{level}",
            at=at,
        )
    for address in emails:
        enqueue_notification(
            session,
            alert_id=row.id,
            channel="email",
            destination=address,
            payload=payload,
            dedupe_key=f"{stem}:email:{level}:{address}",
            at=at,
        )


def write_changes(engine: Engine, changes: Sequence[AlertChange], cfg: NotifyConfig) -> int:
    """Apply the detector's changes in one catalog transaction; returns how many took effect.

    Raises:
        CatalogError: nothing was written (retry with the same changes).
    """
    applied = 0
    with catalog_session(engine) as session:
        for ch in changes:
            at = from_ms(ch.at_ms)
            site, source, device, sensor = ch.key
            if ch.state == "open":
                escalate = cfg.escalation and ch.severity == "alarm"
                row = open_alert(
                    session,
                    NewAlert(
                        ch.alert_id,
                        ch.kind,
                        ch.severity,
                        site,
                        source,
                        device,
                        sensor,
                        from_ms(ch.start_ms),
                        None if ch.end_ms is None else from_ms(ch.end_ms),
                        ch.peak_c,
                        ch.retrospective,
                        ch.detail,
                        ch.rule_id,
                    ),
                    at=at,
                    escalate_at=at + cfg.escalate_after if escalate else None,
                )
            else:
                if session.get(AlertRow, ch.alert_id) is None:
                    continue  # its opening was never written (cannot happen in one batch)
                row = resolve_alert(
                    session,
                    ch.alert_id,
                    actor="detector",
                    at=at,
                    end=None if ch.end_ms is None else from_ms(ch.end_ms),
                    peak_c=ch.peak_c,
                )
            if row is None:
                continue
            applied += 1
            if cfg.notifies(ch.severity):
                _notify(session, row, cfg, at, cfg.email_to if ch.state == "open" else ())
    return applied


def write_peaks(engine: Engine, peaks: dict[str, float]) -> int:
    """Open alerts' peaks so far into the catalog (what the alert list and tiles show)."""
    with catalog_session(engine) as session:
        return raise_peaks(session, peaks)


def escalate_due(
    engine: Engine, cfg: NotifyConfig, now: datetime, sites: Collection[str] = ()
) -> list[str]:
    """Move every overdue unacknowledged alarm (of `sites`, when given) to its next contact
    level; returns their ids."""
    moved: list[str] = []
    with catalog_session(engine) as session:
        for row in due_escalations(session, now=now, sites=sites):
            level = row.escalation_level + 1
            more = level < len(cfg.escalation)
            updated = escalate_alert(
                session, row.id, at=now, next_at=now + cfg.escalate_after if more else None
            )
            if updated is None:
                continue
            contacts = cfg.escalation[level - 1] if level <= len(cfg.escalation) else ()
            _notify(session, updated, cfg, now, contacts)
            moved.append(row.id)
    return moved


def count_pending(engine: Engine, sites: Collection[str] = ()) -> int:
    """Notifications not yet delivered: the outbox depth the dashboards show."""
    with catalog_session(engine) as session:
        return pending_count(session, sites=sites)
