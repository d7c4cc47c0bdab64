"""The API's one data-access layer: every route reads and changes tenant data through
`Access`, which is bound to one viewer and scopes every answer (docs/design.md §6).

A route never queries the catalog or InfluxDB with an id it got from a request: it asks
`Access`, which answers with places, windows and alerts the viewer may see, or raises
`CatalogNotFound` (404) for anything else, exactly as for an id that does not exist. The
InfluxDB readers (`api.readings`) take those answers, never raw ids.
"""

from __future__ import annotations

import asyncio
from collections.abc import Callable
from datetime import UTC, datetime
from typing import TypeVar

from sqlalchemy import ColumnElement, Engine
from sqlalchemy.orm import Session

from api.access.alerts import (
    DEFAULT_WARNING_MARGIN_C,
    alert_item,
    closure_content,
    find_alert,
    visible_alerts,
)
from api.access.budget import record_carried_in, record_tor
from api.access.deviations import (
    assess,
    batch_release,
    check_signer,
    decide,
    find_deviation,
    open_on_findings,
    readable_batch,
    release,
    visible_deviations,
)
from api.access.model import (
    AlertItem,
    Device,
    HistorySegment,
    Limits,
    LivePlace,
    Location,
    Span,
)
from api.access.places import (
    Stay,
    find_shipment,
    find_unit,
    location_of,
    sponsor_windows,
    stays,
)
from api.access.scoped_queries import (
    find_batch,
    find_product,
    history_segments,
    live_places,
    visible_batches,
    visible_products,
)
from api.errors import Forbidden
from api.export.findings import Finding
from coldchain.catalog.alerts import acknowledge_alert, close_alert
from coldchain.catalog.budget import CarriedIn, TorEntry
from coldchain.catalog.deviations import CoveredFinding, Deviation
from coldchain.catalog.errors import SignatureRefused
from coldchain.catalog.queries import BatchView, PlacementView, ProductView
from coldchain.catalog.releases import ReleaseDecision
from coldchain.catalog.schema import AlertRow, PlacementRow
from coldchain.catalog.signatures import record_refused, sign
from coldchain.catalog.store import catalog_session
from coldchain.catalog.users import Viewer

__all__ = [
    "Access",
    "AlertFilter",
    "AlertItem",
    "Device",
    "HistorySegment",
    "Limits",
    "LivePlace",
    "Location",
    "PlaceDetail",
    "Span",
    "Stay",
]

T = TypeVar("T")

ACKNOWLEDGE_ROLES = frozenset({"warehouse_operator", "admin"})


class AlertFilter:
    """Filters of the alert list (all optional), turned into SQL conditions."""

    def __init__(
        self,
        *,
        state: str | None = None,
        severity: str | None = None,
        kind: str | None = None,
        site: str | None = None,
        device: str | None = None,
        since: datetime | None = None,
    ) -> None:
        self.conditions: list[ColumnElement[bool]] = []
        for column, value in (
            (AlertRow.state, state),
            (AlertRow.severity, severity),
            (AlertRow.kind, kind),
            (AlertRow.site_id, site),
            (AlertRow.device, device),
        ):
            if value is not None:
                self.conditions.append(column == value)
        if since is not None:
            self.conditions.append(AlertRow.end_at.is_(None) | (AlertRow.end_at >= since))


class PlaceDetail:
    """A unit or shipment with the placements the viewer may see in it."""

    def __init__(
        self, location: Location, stays: list[Stay], windows: tuple[Span, ...] | None
    ) -> None:
        self.location = location
        self.stays = stays
        self.windows = windows


class Access:
    """Scoped reads and changes for one viewer; each call is one catalog transaction,
    run in a worker thread (the catalog is sync SQLAlchemy).

    Usage:
        access = Access(engine, viewer)
        product = await access.product("VAX-1")        # CatalogNotFound unless visible
        places = await access.live(product="VAX-1")
    """

    def __init__(
        self,
        engine: Engine,
        viewer: Viewer,
        *,
        clock: Callable[[], datetime] = lambda: datetime.now(UTC),
        warning_margin_c: float = DEFAULT_WARNING_MARGIN_C,
    ) -> None:
        """`warning_margin_c`: the detector's (`detect_warning_margin_c`), by which a sponsor
        is shown only the limit alerts that concern their own product."""
        self.engine = engine
        self.viewer = viewer
        self._clock = clock
        self._margin_c = warning_margin_c

    def _in_session(
        self, fn: Callable[..., T], args: tuple[object, ...], kwargs: dict[str, object]
    ) -> T:
        with catalog_session(self.engine) as session:
            return fn(session, self.viewer, *args, **kwargs)

    async def _run(self, fn: Callable[..., T], *args: object, **kwargs: object) -> T:
        return await asyncio.to_thread(self._in_session, fn, args, kwargs)

    async def products(self) -> list[ProductView]:
        return await self._run(visible_products)

    async def product(self, product: str) -> ProductView:
        return await self._run(find_product, product)

    async def batches(self, *, product: str | None = None) -> list[BatchView]:
        if product is not None:
            await self.product(product)
        return await self._run(visible_batches, product=product)

    async def batch(self, batch: str) -> tuple[BatchView, list[PlacementView]]:
        return await self._run(find_batch, batch)

    async def unit(self, site: str, unit: str) -> PlaceDetail:
        return await self._run(_unit_detail, site, unit)

    async def shipment(self, shipment: str) -> PlaceDetail:
        return await self._run(_shipment_detail, shipment)

    async def live(
        self,
        *,
        product: str | None = None,
        batch: str | None = None,
        unit: tuple[str, str] | None = None,
        shipment: str | None = None,
    ) -> list[LivePlace]:
        return await self._run(
            live_places,
            self._clock(),
            product=product,
            batch=batch,
            unit=unit,
            shipment=shipment,
        )

    async def history(
        self,
        *,
        start: datetime,
        end: datetime,
        batch: str | None = None,
        unit: tuple[str, str] | None = None,
        shipment: str | None = None,
    ) -> list[HistorySegment]:
        return await self._run(
            history_segments, start=start, end=end, batch=batch, unit=unit, shipment=shipment
        )

    async def alerts(self, filters: AlertFilter, *, limit: int) -> list[AlertItem]:
        return await self._run(
            visible_alerts,
            conditions=filters.conditions,
            limit=limit,
            warning_margin_c=self._margin_c,
        )

    async def alert(self, alert_id: str) -> AlertItem:
        return await self._run(_alert_with_history, alert_id, warning_margin_c=self._margin_c)

    async def acknowledge(self, alert_id: str, *, comment: str) -> AlertItem:
        """Acknowledge (warehouse operator, admin); audited by the catalog."""
        return await self._run(_acknowledge, alert_id, comment, self._clock())

    async def close(
        self,
        alert_id: str,
        *,
        root_cause: str,
        comment: str | None,
        password: str,
        timezone: str = "UTC",
    ) -> AlertItem:
        """Close a resolved alert with its root cause: QA's electronic signature (meaning
        `approved`) of the alert's §9 event, root cause and comment; audited by the catalog."""
        return await self._signed(
            "alert_closure",
            alert_id,
            "approved",
            _close,
            alert_id,
            root_cause,
            comment,
            password,
            timezone,
            self._clock(),
        )

    async def refused(self, subject: str, subject_id: str, meaning: str, reason: str) -> None:
        """Audit a refused signature in a transaction of its own (Part 11 §11.300(d))."""
        await asyncio.to_thread(self._record_refused, subject, subject_id, meaning, reason)

    def _record_refused(self, subject: str, subject_id: str, meaning: str, reason: str) -> None:
        with catalog_session(self.engine) as session:
            record_refused(
                session,
                user_id=self.viewer.user_id,
                subject=subject,
                subject_id=subject_id,
                meaning=meaning,
                reason=reason,
            )

    async def may_sign(self, subject: str, subject_id: str, meaning: str) -> None:
        """`SignatureRefused` (audited) unless the viewer's role signs `subject`; asked
        after the thing was found (404 first) and before the password is."""
        try:
            check_signer(self.viewer, subject)
        except SignatureRefused as exc:
            await self.refused(subject, subject_id, meaning, str(exc))
            raise

    async def _signed(
        self,
        subject: str,
        subject_id: str,
        meaning: str,
        fn: Callable[..., T],
        /,
        *args: object,
        **kwargs: object,
    ) -> T:
        """Run a signing change; a refused signature rolled it back and is audited."""
        try:
            return await self._run(fn, *args, **kwargs)
        except SignatureRefused as exc:
            await self.refused(subject, subject_id, meaning, str(exc))
            raise

    async def record_tor(
        self, batch: str, *, start: datetime, end: datetime, max_c: float, reason: str
    ) -> TorEntry:
        """A time-out-of-refrigeration entry of a batch the viewer sees (404 otherwise),
        by QA or a warehouse operator of one of its sites (403 otherwise); audited (#22)."""
        return await self._run(record_tor, start, end, max_c, reason, self._clock(), batch=batch)

    async def record_carried_in(
        self,
        batch: str,
        *,
        band_min_c: float,
        band_max_c: float,
        hours: float,
        freeze_events: int,
        source: str,
        reason: str,
    ) -> CarriedIn:
        """Budget a batch the viewer sees (404 otherwise) consumed before it reached this
        site, recorded by QA (403 otherwise); audited with its reason (#22)."""
        return await self._run(
            record_carried_in,
            band_min_c,
            band_max_c,
            hours,
            freeze_events,
            source,
            reason,
            self._clock(),
            batch=batch,
        )

    async def deviations(
        self, *, batch: str | None, state: str | None, limit: int
    ) -> list[Deviation]:
        return await self._run(visible_deviations, batch=batch, state=state, limit=limit)

    async def deviation(self, deviation_id: int) -> Deviation:
        return await self._run(find_deviation, deviation_id)

    async def deviation_batch(self, batch: str) -> None:
        """404 unless the batch is visible, 403 for a role that reads no deviations."""
        await self._run(readable_batch, batch)

    async def release_of(self, batch: str) -> ReleaseDecision | None:
        return await self._run(batch_release, batch)

    async def open_deviation(
        self, batch: str, findings: list[CoveredFinding], title: str
    ) -> Deviation:
        """QA opens a deviation on findings of the batch's judged record."""
        return await self._run(open_on_findings, batch, findings, title, self._clock())

    async def assess(
        self,
        deviation_id: int,
        *,
        reason: str,
        stability_reference: str | None,
        impact: str,
        password: str,
        timezone: str = "UTC",
    ) -> Deviation:
        """QA's signed assessment (meaning `authored`)."""
        return await self._signed(
            "deviation_assessment",
            f"DEV-{deviation_id}",
            "authored",
            assess,
            deviation_id,
            password=password,
            reason=reason,
            stability_reference=stability_reference,
            impact=impact,
            timezone=timezone,
            now=self._clock(),
        )

    async def decide(
        self,
        deviation_id: int,
        *,
        agree: bool,
        comment: str | None,
        password: str,
        timezone: str = "UTC",
    ) -> Deviation:
        """The sponsor's signed agreement (`approved`, closes it) or dispute (`rejected`)."""
        return await self._signed(
            "deviation_agreement",
            f"DEV-{deviation_id}",
            "approved" if agree else "rejected",
            decide,
            deviation_id,
            agree=agree,
            password=password,
            comment=comment,
            timezone=timezone,
            now=self._clock(),
        )

    async def release(
        self,
        batch: str,
        *,
        decision: str,
        comment: str | None,
        password: str,
        verdict: str,
        findings: tuple[Finding, ...],
        timezone: str = "UTC",
    ) -> ReleaseDecision:
        """QA's signed release decision on the record as judged."""
        return await self._signed(
            "release",
            batch,
            "approved" if decision == "released" else "rejected",
            release,
            batch,
            decision=decision,
            comment=comment,
            password=password,
            verdict=verdict,
            findings=findings,
            timezone=timezone,
            now=self._clock(),
        )


def _unit_detail(session: Session, viewer: Viewer, site: str, unit: str) -> PlaceDetail:
    row = find_unit(session, viewer, site, unit)
    placements = stays(session, viewer, PlacementRow.unit_id == row.id)
    windows = sponsor_windows(session, viewer, unit_id=row.id)
    return PlaceDetail(location_of(session, unit=row), placements, windows)


def _shipment_detail(session: Session, viewer: Viewer, shipment: str) -> PlaceDetail:
    row = find_shipment(session, viewer, shipment)
    placements = stays(session, viewer, PlacementRow.shipment_id == row.id)
    windows = sponsor_windows(session, viewer, shipment_id=row.id)
    return PlaceDetail(location_of(session, shipment=row), placements, windows)


def _alert_with_history(
    session: Session,
    viewer: Viewer,
    alert_id: str,
    *,
    warning_margin_c: float = DEFAULT_WARNING_MARGIN_C,
) -> AlertItem:
    found = find_alert(session, viewer, alert_id, warning_margin_c=warning_margin_c)
    return alert_item(found, viewer, session=session)


def _acknowledge(
    session: Session, viewer: Viewer, alert_id: str, comment: str, now: datetime
) -> AlertItem:
    find_alert(session, viewer, alert_id)  # 404 before 403: roles do not reveal ids
    if viewer.role not in ACKNOWLEDGE_ROLES:
        raise Forbidden("acknowledging alerts needs the warehouse_operator or admin role")
    acknowledge_alert(session, alert_id, actor=viewer.user_id, at=now, comment=comment)
    return _alert_with_history(session, viewer, alert_id)


def _close(
    session: Session,
    viewer: Viewer,
    alert_id: str,
    root_cause: str,
    comment: str | None,
    password: str,
    timezone: str,
    now: datetime,
) -> AlertItem:
    find_alert(session, viewer, alert_id)
    check_signer(viewer, "alert_closure")
    row = close_alert(
        session, alert_id, actor=viewer.user_id, at=now, root_cause=root_cause, comment=comment
    )
    sign(
        session,
        user_id=viewer.user_id,
        password=password,
        meaning="approved",
        subject="alert_closure",
        subject_id=alert_id,
        batch_id=None,
        content=closure_content(row, root_cause=root_cause, comment=comment),
        roles=("qa",),
        timezone=timezone,
        now=now,
    )
    return _alert_with_history(session, viewer, alert_id)
