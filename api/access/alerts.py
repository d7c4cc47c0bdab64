"""Scoped reads of alerts: which alerts a viewer may see, trimmed to what they may read.

An alert is about a sensor (site, source, device, sensor), not a product. QA and admin see
all; a warehouse operator sees those at their sites and on loggers of shipments to them;
a sponsor sees an alert on a unit or logger only when it overlaps a period their batch was
there. For sponsors `detail` keeps only measurements of the place (a limit or a condition
label may be another sponsor's product's) and the history drops people's comments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping
from datetime import datetime

from sqlalchemy import ColumnElement, and_, or_, select, true, tuple_
from sqlalchemy.orm import Session

from api.access.model import AlertItem, Span
from api.access.places import group_by_place, locations_by_key, merged_windows, stays
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import AlertHistoryRow, AlertRow, LoggerRow, ShipmentRow
from coldchain.catalog.users import Viewer

__all__ = [
    "DeviceKey",
    "alert_item",
    "find_alert",
    "open_alerts_on",
    "sponsor_device_windows",
    "visible_alerts",
]

DeviceKey = tuple[str, str, str]  # (site, source, device)

# Measurements of the place itself; anything else (limit_c, condition) may describe
# another sponsor's product sharing the unit.
_SPONSOR_DETAIL_KEYS = frozenset(
    {"battery_pct", "c_per_min", "eta_min", "reason", "silent_min", "value_c"}
)
_OPEN = ("open", "acknowledged")


def sponsor_device_windows(session: Session, viewer: Viewer) -> dict[DeviceKey, tuple[Span, ...]]:
    """For a sponsor: each device their batches were with, and when."""
    grouped = group_by_place(stays(session, viewer))
    locations = locations_by_key(
        session,
        [k for k in grouped if isinstance(k, int)],
        [k for k in grouped if isinstance(k, str)],
    )
    windows: dict[DeviceKey, list[Span]] = {}
    for key, items in grouped.items():
        for device in locations[key].devices:
            windows.setdefault((device.site, device.source, device.device), []).extend(
                s.span for s in items
            )
    return {key: merged_windows(spans) for key, spans in windows.items()}


def _overlaps(row: AlertRow, windows: Iterable[Span]) -> bool:
    for window in windows:
        starts_before_window_ends = window.end is None or row.start_at < window.end
        ends_after_window_starts = row.end_at is None or row.end_at > window.start
        if starts_before_window_ends and ends_after_window_starts:
            return True
    return False


def _operator_scope(session: Session, viewer: Viewer) -> ColumnElement[bool]:
    sites = sorted(viewer.sites)
    inbound = session.execute(
        select(ShipmentRow.origin_site_id, LoggerRow.code)
        .join(LoggerRow, LoggerRow.shipment_id == ShipmentRow.id)
        .where(ShipmentRow.destination_site_id.in_(sites))
    ).all()
    scope: ColumnElement[bool] = AlertRow.site_id.in_(sites)
    if inbound:
        scope = or_(
            scope,
            and_(
                AlertRow.source == "logger",
                tuple_(AlertRow.site_id, AlertRow.device).in_([tuple(r) for r in inbound]),
            ),
        )
    return scope


def _sponsor_filter(
    session: Session, viewer: Viewer
) -> tuple[ColumnElement[bool], dict[DeviceKey, tuple[Span, ...]]]:
    windows = sponsor_device_windows(session, viewer)
    if not windows:
        return AlertRow.id.is_(None), windows  # matches nothing
    keys = tuple_(AlertRow.site_id, AlertRow.source, AlertRow.device)
    return keys.in_(sorted(windows)), windows


def visible_alerts(
    session: Session,
    viewer: Viewer,
    *,
    conditions: Iterable[ColumnElement[bool]] = (),
    limit: int = 500,
) -> list[AlertItem]:
    """Alerts the viewer may see, newest first, matching `conditions`."""
    query = select(AlertRow).where(*conditions).order_by(AlertRow.start_at.desc(), AlertRow.id)
    windows: Mapping[DeviceKey, tuple[Span, ...]] | None = None
    if viewer.role == "sponsor_viewer":
        scope, windows = _sponsor_filter(session, viewer)
    elif viewer.role == "warehouse_operator":
        scope = _operator_scope(session, viewer)
    else:
        scope = true() if viewer.sees_everything else AlertRow.id.is_(None)
    items: list[AlertItem] = []
    for row in session.execute(query.where(scope)).scalars():
        if windows is not None and not _overlaps(row, windows[_key(row)]):
            continue
        items.append(alert_item(row, viewer))
        if len(items) >= limit:
            break
    return items


def _key(row: AlertRow) -> DeviceKey:
    return (row.site_id, row.source, row.device)


def find_alert(session: Session, viewer: Viewer, alert_id: str) -> AlertRow:
    """The alert if the viewer may see it, else `CatalogNotFound` (as for an unknown id)."""
    found = visible_alerts(session, viewer, conditions=[AlertRow.id == alert_id], limit=1)
    row = session.get(AlertRow, alert_id) if found else None
    if row is None:
        raise CatalogNotFound(f"alert {alert_id} not found")
    return row


def open_alerts_on(
    session: Session, viewer: Viewer, keys: Mapping[DeviceKey, datetime | None]
) -> dict[DeviceKey, list[AlertItem]]:
    """Open or acknowledged alerts on these devices, each shown only if it overlaps the
    time from which the viewer may see the device (the value in `keys`, None: always)."""
    if not keys:
        return {}
    rows = session.execute(
        select(AlertRow)
        .where(
            AlertRow.state.in_(_OPEN),
            tuple_(AlertRow.site_id, AlertRow.source, AlertRow.device).in_(sorted(keys)),
        )
        .order_by(AlertRow.start_at.desc())
    ).scalars()
    found: dict[DeviceKey, list[AlertItem]] = {}
    for row in rows:
        since = keys[_key(row)]
        if since is not None and row.end_at is not None and row.end_at <= since:
            continue
        found.setdefault(_key(row), []).append(alert_item(row, viewer))
    return found


def alert_item(row: AlertRow, viewer: Viewer, *, session: Session | None = None) -> AlertItem:
    """The alert as `viewer` may read it; with `session`, its history too."""
    detail: dict[str, object] = json.loads(row.detail_json) if row.detail_json else {}
    sponsor = viewer.role == "sponsor_viewer"
    if sponsor:
        detail = {k: v for k, v in detail.items() if k in _SPONSOR_DETAIL_KEYS}
    history: tuple[dict[str, object], ...] = ()
    if session is not None:
        entries = session.execute(
            select(AlertHistoryRow)
            .where(AlertHistoryRow.alert_id == row.id)
            .order_by(AlertHistoryRow.at, AlertHistoryRow.id)
        ).scalars()
        history = tuple(
            {"state": h.state, "at": h.at}
            if sponsor
            else {
                "state": h.state,
                "at": h.at,
                "actor": h.actor,
                "comment": h.comment,
                "root_cause": h.root_cause,
            }
            for h in entries
        )
    return AlertItem(
        alert_id=row.id,
        kind=row.kind,
        severity=row.severity,
        state=row.state,
        site=row.site_id,
        source=row.source,
        device=row.device,
        sensor=row.sensor,
        start=row.start_at,
        end=row.end_at,
        peak_c=row.peak_c,
        retrospective=bool(row.retrospective),
        updated_at=row.updated_at,
        detail=detail,
        history=history,
    )
