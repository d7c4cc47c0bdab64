"""Scoped reads of alerts: which alerts a viewer may see, trimmed to what they may read.

An alert is about a sensor (site, source, device, sensor), not a product. QA and admin see
all; a warehouse operator sees those at their sites and on loggers of shipments to them;
a sponsor sees an alert on a unit or logger only when it overlaps a period their batch was
there, and the alerts about their own batches themselves (source `batch`: the budget).
For sponsors `detail` keeps only measurements of the place (a limit or a condition
label may be another sponsor's product's) and the history drops people's comments.
"""

from __future__ import annotations

import json
from collections.abc import Iterable, Mapping, Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import ColumnElement, and_, or_, select, true, tuple_
from sqlalchemy.orm import Session

from api.access.model import AlertItem, Span
from api.access.places import (
    Stay,
    group_by_place,
    limits_in_force,
    locations_by_key,
    merged_windows,
    stays,
)
from coldchain.catalog.alerts import alert_event
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.profiles import ProfileVersions, load_profile_versions
from coldchain.catalog.schema import (
    AlertHistoryRow,
    AlertRow,
    BatchRow,
    LoggerRow,
    ProductRow,
    ShipmentRow,
)
from coldchain.catalog.users import Viewer
from coldchain.config import Settings
from coldchain.judgement.limits import alert_share
from coldchain.judgement.limits import strictest as combine_conditions
from coldchain.times import to_ms

__all__ = [
    "BATCH_SOURCE",
    "DEFAULT_WARNING_MARGIN_C",
    "DeviceKey",
    "alert_item",
    "closure_content",
    "find_alert",
    "open_alerts_on",
    "visible_alerts",
]

DeviceKey = tuple[str, str, str]  # (site, source, device)

# Measurements of the place itself; anything else (limit_c, condition) may describe
# another sponsor's product sharing the unit.
_SPONSOR_DETAIL_KEYS = frozenset(
    {"battery_pct", "c_per_min", "eta_min", "reason", "silent_min", "value_c"}
)
_OPEN = ("open", "acknowledged")
#: The source of an alert about a batch itself (its stability budget), not a sensor: its
#: device is the batch id, and its sponsor sees it whole.
BATCH_SOURCE = "batch"
DEFAULT_WARNING_MARGIN_C: float = Settings.model_fields["detect_warning_margin_c"].default


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


def _own_stays(session: Session, viewer: Viewer) -> dict[DeviceKey, list[Stay]]:
    """For a sponsor: their own batches' stays with each device."""
    grouped = group_by_place(stays(session, viewer))
    locations = locations_by_key(
        session,
        [k for k in grouped if isinstance(k, int)],
        [k for k in grouped if isinstance(k, str)],
    )
    found: dict[DeviceKey, list[Stay]] = {}
    for key, items in grouped.items():
        for device in locations[key].devices:
            found.setdefault((device.site, device.source, device.device), []).extend(items)
    return found


def _own_batch_alerts(viewer: Viewer) -> ColumnElement[bool]:
    """For a sponsor: alerts about its own batches themselves (source `batch`, device the
    batch id: the budget alerts of api/budget_watch.py), wherever the batch is."""
    own_batches = (
        select(BatchRow.id)
        .join(ProductRow, ProductRow.id == BatchRow.product_id)
        .where(ProductRow.sponsor_id == viewer.sponsor)
    )
    return and_(AlertRow.source == BATCH_SOURCE, AlertRow.device.in_(own_batches))


def _sponsor_filter(
    own: Mapping[DeviceKey, Sequence[Stay]],
) -> tuple[ColumnElement[bool], dict[DeviceKey, tuple[Span, ...]]]:
    """The devices a sponsor's batches were with (`own`), and when."""
    windows = {key: merged_windows([s.span for s in items]) for key, items in own.items()}
    if not windows:
        return AlertRow.id.is_(None), windows  # matches nothing
    keys = tuple_(AlertRow.site_id, AlertRow.source, AlertRow.device)
    return keys.in_(sorted(windows)), windows


def _concerns_own_product(
    item: AlertItem, own: Sequence[Stay], warning_margin_c: float, profiles: ProfileVersions
) -> bool:
    """Whether a sponsor's own products in the place had a say in the alert: a limit alert
    in a shared unit may have been raised under another product's stricter limits, and
    then concerns the sponsor only as `coldchain.judgement.limits.alert_share` says against
    their own products' limits as the alarm profiles in force when it started set them up
    (`limits_in_force`: a warning at their own product's alert limit is theirs; the live
    tile judges it the same way)."""
    there = [s for s in own if s.start <= item.start and (s.end is None or s.end > item.start)]
    if not there:
        return True
    share = alert_share(
        limits_in_force(
            combine_conditions(there),
            profiles,
            units={s.unit_id for s in there if s.unit_id is not None},
            products=[s.product for s in there],
            at_ms=to_ms(item.start),
        ),
        kind=item.kind,
        severity="alarm" if item.severity == "alarm" else "warning",
        peak_c=item.peak_c,
        limit_c=item.limit_c,
        margin_c=warning_margin_c,
    )
    return share is not None


def visible_alerts(
    session: Session,
    viewer: Viewer,
    *,
    conditions: Iterable[ColumnElement[bool]] = (),
    limit: int = 500,
    warning_margin_c: float = DEFAULT_WARNING_MARGIN_C,
) -> list[AlertItem]:
    """Alerts the viewer may see, newest first, matching `conditions`; for a sponsor, not
    a limit alert raised only under another product's stricter limits."""
    query = select(AlertRow).where(*conditions).order_by(AlertRow.start_at.desc(), AlertRow.id)
    windows: Mapping[DeviceKey, tuple[Span, ...]] | None = None
    own: dict[DeviceKey, list[Stay]] = {}
    if viewer.role == "sponsor_viewer":
        own = _own_stays(session, viewer)
        scope, windows = _sponsor_filter(own)
        scope = or_(scope, _own_batch_alerts(viewer))
    elif viewer.role == "warehouse_operator":
        scope = _operator_scope(session, viewer)
    else:
        scope = true() if viewer.sees_everything else AlertRow.id.is_(None)
    # The sponsor's own limits are set up by the alarm profiles (one small read per list).
    profiles = load_profile_versions(session) if own else ProfileVersions()
    items: list[AlertItem] = []
    for row in session.execute(query.where(scope)).scalars():
        about_place = row.source != BATCH_SOURCE  # a batch's own: `_own_batch_alerts` chose
        if windows is not None and about_place and not _overlaps(row, windows[_key(row)]):
            continue
        item = alert_item(row, viewer)
        if windows is not None and not _concerns_own_product(
            item, own.get(_key(row), []), warning_margin_c, profiles
        ):
            continue
        items.append(item)
        if len(items) >= limit:
            break
    return items


def _key(row: AlertRow) -> DeviceKey:
    return (row.site_id, row.source, row.device)


def find_alert(
    session: Session,
    viewer: Viewer,
    alert_id: str,
    *,
    warning_margin_c: float = DEFAULT_WARNING_MARGIN_C,
) -> AlertRow:
    """The alert if the viewer may see it, else `CatalogNotFound` (as for an unknown id)."""
    found = visible_alerts(
        session,
        viewer,
        conditions=[AlertRow.id == alert_id],
        limit=1,
        warning_margin_c=warning_margin_c,
    )
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


#: The alert event's keys of docs/design.md §9: what a closure signature binds of the alert.
_EVENT_KEYS = (
    "alert_id",
    "kind",
    "severity",
    "state",
    "site",
    "device",
    "sensor",
    "start",
    "end",
    "peak_c",
    "retrospective",
)


def closure_content(row: AlertRow, *, root_cause: str, comment: str | None) -> dict[str, Any]:
    """What QA signs on closing an alert: the alert as closed (its §9 event fields), the
    root cause and the comment."""
    event = alert_event(row)
    return {
        "subject": "alert_closure",
        "alert": {key: event[key] for key in _EVENT_KEYS},
        "root_cause": root_cause,
        "comment": comment,
    }


def alert_item(row: AlertRow, viewer: Viewer, *, session: Session | None = None) -> AlertItem:
    """The alert as `viewer` may read it; with `session`, its history too."""
    detail: dict[str, object] = json.loads(row.detail_json) if row.detail_json else {}
    limit_c = detail.get("limit_c")
    sponsor = viewer.role == "sponsor_viewer"
    if sponsor and row.source != BATCH_SOURCE:  # a batch's own figures are its sponsor's
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
        limit_c=float(limit_c) if isinstance(limit_c, int | float) else None,
    )
