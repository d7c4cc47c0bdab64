"""Budget alerts: after the deviation scan judges a batch (api/deviation_watch.py), its
stability budget account is checked against `api_budget_alert_thresholds` (default 50, 80
and 100 % consumed) and an alert of kind `budget` opens for the threshold crossed, so
QA and the sponsor are warned before the budget runs out, not when the record is exported.

The alert (docs/design.md §9): id deterministic per batch and threshold (a scan repeated,
or two scans, find the existing row), source `batch`, device the batch id, sensor
`budget`, site that of the batch's latest placement (a shipment: its origin), severity
`warning` below 100 % and `alarm` at 100 %, detail the account's figures. Its start is
the instant the account crossed the threshold, not the scan that saw it: the account's
charges in time order (`crossing_ms`): the worst path's readings run by run, each manual
time out of refrigeration over its span, time and freeze events carried in at the
batch's first placement, each freeze event where it began. A scan sees it later (the
scan's period, a logger's backfill, an entry recorded after the fact); when it was is
what QA needs. It is an ordinary
alert: the catalog writes its MQTT event, the CMO's people are called by the detector's own
rule (coldchain/catalog/alert_notices.py: the site's on-call rota, else the global
settings; an alarm escalates, moved on by the detector of the site's partition), and the
sponsor's contacts get the `budget` event (coldchain/catalog/sponsor_notices.py).

How a budget alert ends (none stays open for ever unattended), resolved by "system":
- when the next threshold's alert opens: at most one budget alert of a batch is open;
- when the account falls back below its threshold (a manual entry voided, a carried-in
  amount corrected);
- when the batch's last placement has ended (it left this CMO's custody): the account
  can no longer grow here; the alert ends at that placement's end.
Each alert opens once per batch (its id): a threshold reached again after its alert ended
opens nothing new, and a scan that finds several thresholds passed at once opens the
highest only. A resolved budget alert is closed by QA with a root cause and a signature
like any other (the 100 % alarm's root cause is usually the deviation its `budget`
finding opened).
"""

from __future__ import annotations

import hashlib
import math
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.access.alerts import BATCH_SOURCE
from api.export.record import BatchRecord
from api.export.summary import readings_timeline
from api.export.walk import Report
from coldchain.catalog.alert_notices import Destination, NotifyConfig, RotaLookup, notify_people
from coldchain.catalog.alerts import NewAlert, alert_event, open_alert, resolve_alert
from coldchain.catalog.deviations import SYSTEM
from coldchain.catalog.schema import AlertRow, ShipmentRow
from coldchain.catalog.sponsor_notices import notify_sponsor_of_budget
from coldchain.catalog.store import catalog_session
from coldchain.config import Settings
from coldchain.judgement.budget import BudgetAccount, crossing_ms
from coldchain.times import from_ms, to_ms

__all__ = [
    "KIND",
    "SENSOR",
    "BudgetAlertChange",
    "budget_alert_id",
    "budget_alerts",
    "watch_budget",
]

KIND = "budget"
SENSOR = "budget"
_LIVE = ("open", "acknowledged")


@dataclass(frozen=True, slots=True)
class BudgetAlertChange:
    """What the budget step did to one alert: "open" or "resolve", and why (in words)."""

    alert_id: str
    batch: str
    threshold: float
    state: str
    why: str


def budget_alert_id(batch: str, threshold: float) -> str:
    """The alert of `batch` crossing `threshold` (a share, 0.8 = 80 %): the same id every
    scan, made like the detector's (`al-` and a hash), whatever the batch id's length."""
    text = f"{BATCH_SOURCE}/{batch}/{KIND}/{_percent(threshold)}"
    return "al-" + hashlib.sha256(text.encode()).hexdigest()[:24]


def watch_budget(
    engine: Engine, report: Report, *, settings: Settings, now: datetime
) -> list[BudgetAlertChange]:
    """The budget step of the scan for one judged batch, in one catalog transaction
    (blocking: run it in a thread)."""
    with catalog_session(engine) as session:
        return budget_alerts(session, report, settings=settings, now=now)


def _crossed_at(report: Report, share: float) -> datetime | None:
    """When the batch's account reached `share` consumed (the module's docstring says how
    it is timed); None if it has not (or the batch has no placement)."""
    record = report.record
    if not record.placements:
        return None
    budget = record.product.budget
    probes = {p.info.index: [s for _, s in p.sensors] for p in report.placements}
    path = report.worst.placements if report.worst is not None else ()
    readings = readings_timeline([probes[i] for i in path], len(budget.bands))
    since_ms = min(to_ms(p.start) for p in record.placements)
    entries = [c for c in report.budget.charges if c.source != "readings"]
    carried_freezes = sum(c.freeze_events for c in record.entries.carried_in)
    at = crossing_ms(
        budget,
        [*readings.charges, *entries],
        [*readings.freezes.starts_ms, *[since_ms] * carried_freezes],
        share,
        since_ms=since_ms,
    )
    return None if at is None else from_ms(at)


def budget_alerts(
    session: Session,
    report: Report,
    *,
    settings: Settings,
    now: datetime,
) -> list[BudgetAlertChange]:
    """Open the alerts of the thresholds the report's account has crossed, each starting
    when it crossed (`_crossed_at`; the scan's `now` if the timeline cannot say), resolve
    those that ended (the module's docstring says when), in the caller's transaction; the
    changes made."""
    record, account = report.record, report.budget
    batch = record.batch
    share = account.consumed_share
    crossed = [t for t in settings.api_budget_alert_thresholds if share >= t]
    changes: list[BudgetAlertChange] = []
    site = _site(session, record)
    cfg = NotifyConfig.from_settings(settings)
    if crossed and site is not None:
        highest = crossed[-1]
        severity = "alarm" if highest >= 1.0 else "warning"
        callees = RotaLookup(session, cfg).callees(site, now)
        escalates = severity == "alarm" and callees.escalates_past(0)
        row = open_alert(
            session,
            NewAlert(
                budget_alert_id(batch, highest),
                KIND,
                severity,
                site,
                BATCH_SOURCE,
                batch,
                SENSOR,
                min(_crossed_at(report, highest) or now, now),
                detail=_detail(account, highest),
            ),
            at=now,
            actor=SYSTEM,
            escalate_at=now + callees.escalate_after if escalates else None,
        )
        if row is not None:
            _notify(session, row, record, cfg, now, callees.at_level(0))
            changes.append(
                BudgetAlertChange(row.id, batch, highest, "open", f"{_percent(share)} % consumed")
            )
    left_at = _custody_ended(record)
    for threshold in settings.api_budget_alert_thresholds:
        why = _why_it_ends(threshold, crossed, share, left_at)
        if why is None:
            continue
        row = _live_alert(session, budget_alert_id(batch, threshold))
        if row is None:
            continue
        end = left_at if left_at is not None and share >= threshold else now
        resolved = resolve_alert(session, row.id, actor=SYSTEM, at=now, end=end, comment=why)
        if resolved is not None:
            _notify(session, resolved, record, cfg, now, ())
            changes.append(BudgetAlertChange(row.id, batch, threshold, "resolve", why))
    return changes


def _why_it_ends(
    threshold: float, crossed: Sequence[float], share: float, left_at: datetime | None
) -> str | None:
    """Why the alert of `threshold` is over, None while it stands."""
    if threshold not in crossed:
        return f"the budget fell back to {_percent(share)} % consumed"
    if threshold != crossed[-1]:
        return f"superseded by the {_percent(crossed[-1])} % budget alert"
    if left_at is not None:
        return f"the batch left custody with {_percent(share)} % of its budget consumed"
    return None


def _live_alert(session: Session, alert_id: str) -> AlertRow | None:
    row = session.get(AlertRow, alert_id)
    return row if row is not None and row.state in _LIVE else None


def _site(session: Session, record: BatchRecord) -> str | None:
    """The site of the batch's latest placement (a shipment's: its origin); None without
    placements (nothing was charged here)."""
    if not record.placements:
        return None
    latest = max(record.placements, key=lambda p: p.start)
    if latest.kind == "unit":
        return latest.place.split("/", 1)[0]
    return session.execute(
        select(ShipmentRow.origin_site_id).where(ShipmentRow.id == latest.place)
    ).scalar_one_or_none()


def _custody_ended(record: BatchRecord) -> datetime | None:
    """When the batch's last placement ended; None while one is open."""
    if not record.placements or any(p.end is None for p in record.placements):
        return None
    return max(p.end for p in record.placements if p.end is not None)


def _notify(
    session: Session,
    row: AlertRow,
    record: BatchRecord,
    cfg: NotifyConfig,
    at: datetime,
    contacts: Sequence[Destination],
) -> None:
    """The CMO's people as the detector's alerts call them (`notify_people`: same payload
    and dedupe keys), then the sponsor's contacts."""
    if cfg.notifies(row.severity):
        notify_people(session, row, cfg, at, contacts)
    notify_sponsor_of_budget(
        session, alert_event(row), batch=record.batch, sponsor=record.product.sponsor, at=at
    )


def _detail(account: BudgetAccount, threshold: float) -> dict[str, Any]:
    """The account's figures when the alert opened (what the alert list and mails show)."""
    return {
        "threshold": threshold,
        "consumed_share": _finite(account.consumed_share),
        "allowed_h": round(account.allowed_h, 4),
        "charged_h": round(account.charged_h, 4),
        "remaining_h": round(account.remaining_h, 4),
        "bands": [
            {
                "min_c": b.min_c,
                "max_c": b.max_c,
                "allowed_h": b.allowed_h,
                "charged_h": round(b.charged_h, 4),
            }
            for b in account.bands
        ],
        "freeze_events": account.freeze_events,
        "freeze_allowed": account.freeze_allowed,
        "reasons": list(account.reasons),
    }


def _finite(share: float) -> float | None:
    """JSON has no infinity: None for "charged where nothing is allowed"."""
    return round(share, 4) if math.isfinite(share) else None


def _percent(share: float) -> str:
    """50 % for 0.5; 83.33 % for 0.83333; ∞ when charged where nothing is allowed."""
    return "∞" if not math.isfinite(share) else f"{share * 100:.4g}"
