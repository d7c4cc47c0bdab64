"""Alert changes from the detector into the catalog: the alert rows, their history and
audit entries, and the outbox rows of every notification they cause, in one transaction.

Idempotent: an alert that exists is not opened again, a resolved one is not resolved again,
and outbox rows carry a dedupe key, so replaying a batch after a crash changes nothing.

Who is called is the one rule of coldchain/catalog/alert_notices.py (the site's on-call
rota, else the global settings), shared with the API's budget alerts.
"""

from __future__ import annotations

from collections.abc import Collection, Sequence
from datetime import datetime

from sqlalchemy import Engine

from alerting.episodes import AlertChange
from coldchain.catalog.alert_notices import (
    Destination,
    NotifyConfig,
    RotaLookup,
    notify_people,
)
from coldchain.catalog.alerts import (
    NewAlert,
    due_escalations,
    escalate_alert,
    open_alert,
    raise_peaks,
    resolve_alert,
)
from coldchain.catalog.outbox import pending_count
from coldchain.catalog.schema import AlertRow
from coldchain.catalog.store import catalog_session
from coldchain.times import from_ms

__all__ = [
    "NotifyConfig",
    "count_pending",
    "escalate_due",
    "write_changes",
    "write_peaks",
]


def write_changes(engine: Engine, changes: Sequence[AlertChange], cfg: NotifyConfig) -> int:
    """Apply the detector's changes in one catalog transaction; returns how many took effect.

    Raises:
        CatalogError: nothing was written (retry with the same changes).
    """
    applied = 0
    with catalog_session(engine) as session:
        rotas = RotaLookup(session, cfg)
        for ch in changes:
            at = from_ms(ch.at_ms)
            site, source, device, sensor = ch.key
            contacts: tuple[Destination, ...] = ()
            if ch.state == "open":
                callees = rotas.callees(site, at)
                contacts = callees.at_level(0)
                escalate = callees.escalates_past(0) and ch.severity == "alarm"
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
                    escalate_at=at + callees.escalate_after if escalate else None,
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
                    by_readings=True,  # a latching alarm waits for its acknowledgement
                )
            if row is None:
                continue
            applied += 1
            if cfg.notifies(ch.severity):
                notify_people(session, row, cfg, at, contacts)
    return applied


def write_peaks(engine: Engine, peaks: dict[str, float]) -> int:
    """Open alerts' peaks so far into the catalog (what the alert list and tiles show)."""
    with catalog_session(engine) as session:
        return raise_peaks(session, peaks)


def escalate_due(
    engine: Engine, cfg: NotifyConfig, now: datetime, sites: Collection[str] = ()
) -> list[str]:
    """Move every overdue unacknowledged alarm (of `sites`, when given) to its next contact
    level, the one of its site's shift in force `now`; returns their ids."""
    moved: list[str] = []
    with catalog_session(engine) as session:
        rotas = RotaLookup(session, cfg)
        for row in due_escalations(session, now=now, sites=sites):
            level = row.escalation_level + 1
            callees = rotas.callees(row.site_id, now)
            more = callees.escalates_past(level)
            updated = escalate_alert(
                session, row.id, at=now, next_at=now + callees.escalate_after if more else None
            )
            if updated is None:
                continue
            notify_people(session, updated, cfg, now, callees.at_level(level))
            moved.append(row.id)
    return moved


def count_pending(engine: Engine, sites: Collection[str] = ()) -> int:
    """Notifications not yet delivered: the outbox depth the dashboards show."""
    with catalog_session(engine) as session:
        return pending_count(session, sites=sites)
