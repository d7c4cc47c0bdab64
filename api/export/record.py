"""What a batch record is made of: the chain of custody from the catalog, the sensors that
applied to each placement, the detector's alerts on them, and the readings from InfluxDB.

The catalog is read once, up front (small); the readings are streamed per sensor in time
windows, so neither side holds the record in memory.
"""

from __future__ import annotations

import asyncio
import contextlib
import dataclasses
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo, ZoneInfoNotFoundError

import numpy as np
from sqlalchemy import Engine, select
from sqlalchemy.orm import Session

from api.export.influx_msgpack import MSGPACK, Chunk, readings
from api.export.inforce import LimitsInForce, alarm_limits, alarm_setup
from coldchain.catalog import Viewer, catalog_session, chain_of_custody
from coldchain.catalog.budget import BudgetEntries, budget_entries
from coldchain.catalog.calibration import calibrations
from coldchain.catalog.conditions import (
    ConditionSpan,
    ProductCondition,
    condition_at,
    conditions_in_force,
    installed_span,
)
from coldchain.catalog.deviations import Deviation, deviations_of_batch
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.logger_reports import StoredReport, imported_intervals_s, reports_for
from coldchain.catalog.profiles import profile_timeline
from coldchain.catalog.releases import ReleaseDecision, release_of
from coldchain.catalog.schema import (
    AlertHistoryRow,
    AlertRow,
    BatchRow,
    LoggerRow,
    PlacementRow,
    ProductRow,
    SensorRow,
    ShipmentRow,
    SiteRow,
    StorageUnitRow,
)
from coldchain.catalog.signatures import Signature, signatures_of_batch
from coldchain.errors import StoreRejected
from coldchain.influx import InfluxClient, quote_identifier, tags_condition
from coldchain.judgement.budget import Budget, budget_of
from coldchain.judgement.calibration import Calibration
from coldchain.judgement.limits import Limits, own_limits, strictest
from coldchain.judgement.profiles import (
    NO_PROFILES,
    ProfileTimeline,
    apply_profiles,
)
from coldchain.measurements import READING
from coldchain.models import SensorKey
from coldchain.times import to_ms

__all__ = [
    "AlertInfo",
    "BatchRecord",
    "Coverage",
    "PlacementInfo",
    "ProductInfo",
    "SensorRef",
    "load_batch_record",
    "prefetched",
    "sensor_request",
    "speaks_msgpack",
    "stream_sensor_readings",
    "window_queries",
    "with_calibrations",
]


@dataclass(frozen=True, slots=True)
class SensorRef:
    """One probe as InfluxDB tags it (DESIGN.md §3), and how often it logs; `installed_at`,
    `removed_at`: when it was fitted and taken out (None: always, still there), not part of
    its identity."""

    site: str
    source: str
    device: str
    sensor: str
    log_interval_s: int
    installed_at: datetime | None = field(default=None, compare=False)
    removed_at: datetime | None = field(default=None, compare=False)
    #: The probe's certificates in force over its placement (#22, api/export/calibration.py).
    calibration: Calibration | None = field(default=None, compare=False)

    @property
    def label(self) -> str:
        return f"{self.site}/{self.source}/{self.device}/{self.sensor}"

    @property
    def condition(self) -> str:
        """The InfluxQL condition that matches this probe's points (of any measurement)."""
        return tags_condition(
            (
                ("site", self.site),
                ("source", self.source),
                ("device", self.device),
                ("sensor", self.sensor),
            )
        )


@dataclass(frozen=True, slots=True)
class ProductInfo:
    """The product's labelled storage condition, stability budget and MKT parameter.

    The condition fields are those of the version in force at the generation time (what
    the stability budget is taken from); `conditions`: every version in force over the
    record, oldest first, each cut to the record (from its first placement on, the last
    open): what each part of the timeline is judged by (`in_force`). Empty: the fields'
    condition throughout.
    """

    id: str
    name: str | None
    sponsor: str
    min_c: float
    max_c: float
    alarm_delay_min: float
    budget_max_c: float | None
    budget_min_c: float | None
    budget_hours: float | None
    label: str
    delta_h_kj_per_mol: float
    conditions: tuple[ConditionSpan, ...] = ()
    budget_bands_json: str | None = None
    freeze_c: float | None = None
    freeze_events: int | None = None
    # The product's alarm profile versions (#22): with the place's, how `in_force` alarms.
    alarm_profiles: ProfileTimeline = NO_PROFILES

    @property
    def budget(self) -> Budget:
        """The stability budget charged: the bands of the version in force at generation
        time (#22; the old single form is one band)."""
        return budget_of(self)

    @property
    def limits(self) -> Limits:
        """The product's own limits under the version in force at the generation time."""
        return own_limits(self)

    @property
    def in_force(self) -> LimitsInForce:
        """The product's own limits by time: what its record judges each reading by,
        whoever else shares a unit with it."""
        if not self.conditions:
            return LimitsInForce.constant(self.limits)
        return LimitsInForce.from_spans(self.conditions)


@dataclass(frozen=True, slots=True)
class PlacementInfo:
    """One link of the chain of custody and the sensors whose readings describe it.

    Attributes:
        kind: "unit" or "shipment".
        place: "SITE/UNIT" or the shipment id.
        end: the recorded end, None while the batch is still there.
        until: where the record stops: `end`, or the generation time for an open placement.
        timezone: the IANA zone local times are shown in (the unit's site; a shipment's
            origin site, under which its loggers publish, DESIGN.md §10).
        logger_reports: USB logger exports imported for this unit or shipment whose
            recorded span overlaps [start, until): the device's own summary, shown next to
            ours, cut to the placement (`_clipped`).
    """

    index: int
    placement_id: int
    kind: str
    place: str
    start: datetime
    end: datetime | None
    until: datetime
    timezone: str
    sensors: tuple[SensorRef, ...]
    logger_reports: tuple[StoredReport, ...] = ()
    # The unit's alarm profile versions (#22; none for a shipment).
    alarm_profiles: ProfileTimeline = NO_PROFILES

    @property
    def start_ms(self) -> int:
        return to_ms(self.start)

    @property
    def until_ms(self) -> int:
        return to_ms(self.until)

    def fitted_ms(self, sensor: SensorRef) -> tuple[int, int]:
        """The part of [start, until) during which `sensor` was installed (record.py keeps
        only sensors installed during some of it); its readings count only there."""
        span = installed_span(sensor, self.start, self.until)
        if span is None:
            return self.start_ms, self.start_ms
        low, high = span
        return to_ms(low), self.until_ms if high is None else to_ms(high)


@dataclass(frozen=True, slots=True)
class AlertInfo:
    """A detector alert on one of the record's sensors, with how people handled it.

    Attributes:
        other_limits: an excursion alert raised while the place held other products too and
            its limits in force (the strictest of them all, as the detector alarms) were not
            the batch's product's own: it may be about another product's tighter condition
            or stricter alarm profile (#22: a critical limit, a shorter delay), which this
            record must neither judge by nor reveal.
    """

    id: str
    kind: str
    severity: str
    state: str
    sensor: SensorRef
    start: datetime
    end: datetime | None
    peak_c: float | None
    retrospective: bool
    acknowledged_by: str | None = None
    acknowledged_at: datetime | None = None
    acknowledge_comment: str | None = None
    closed_by: str | None = None
    closed_at: datetime | None = None
    root_cause: str | None = None
    other_limits: bool = False
    root_cause_withheld: bool = False

    @property
    def explained(self) -> bool:
        """Closed by QA with a root cause: the excursion or gap is accounted for (also
        when the root cause itself is withheld from a sponsor: `sponsor_view`)."""
        return self.state == "closed" and (
            self.root_cause_withheld or bool((self.root_cause or "").strip())
        )

    def sponsor_view(self) -> AlertInfo:
        """The alert as a sponsor may read it, as the alert API gives it
        (api/access/alerts.py `alert_item`): states and times, no actor, comment or root
        cause (an operator's comment may name another sponsor's lot). Whether QA closed it
        with a root cause still counts for the record's findings."""
        return dataclasses.replace(
            self,
            acknowledged_by=None,
            acknowledge_comment=None,
            closed_by=None,
            root_cause=None,
            root_cause_withheld=self.explained,
        )


@dataclass(frozen=True, slots=True)
class Coverage:
    """A finding a deviation of the batch covers, by id and span (findings.py applies it)."""

    finding_id: str
    start_ms: int | None
    end_ms: int | None
    deviation: str
    state: str


def _coverage(deviations: Sequence[Deviation]) -> tuple[Coverage, ...]:
    return tuple(
        Coverage(
            f.finding_id,
            None if f.start_at is None else to_ms(f.start_at),
            None if f.end_at is None else to_ms(f.end_at),
            d.number,
            d.state,
        )
        for d in deviations
        for f in d.findings
    )


@dataclass(frozen=True, slots=True)
class BatchRecord:
    """What the catalog says of a batch. `deviations`, `signatures` (every electronic
    signature about the batch, oldest first: the export's signature manifest) and `release`
    (QA's signed decision, None before it) are shared with the batch's sponsor in full;
    only alerts are cut for a sponsor (`AlertInfo.sponsor_view`)."""

    batch: str
    product: ProductInfo
    placements: tuple[PlacementInfo, ...]
    alerts: tuple[AlertInfo, ...]
    generated_at: datetime
    coverage: tuple[Coverage, ...] = ()
    deviations: tuple[Deviation, ...] = ()
    signatures: tuple[Signature, ...] = ()
    release: ReleaseDecision | None = None
    #: Manual time-out-of-refrigeration entries and carried-in time (#22), shown in full.
    entries: BudgetEntries = field(default_factory=BudgetEntries)


def load_batch_record(
    engine: Engine, *, batch: str, viewer: Viewer | None, now: datetime
) -> BatchRecord:
    """Read the batch's chain of custody, product, sensors and alerts (blocking: SQLAlchemy).

    Raises:
        CatalogNotFound: unknown batch, or one the viewer may not see.
    """
    with catalog_session(engine) as session:
        views = chain_of_custody(session, batch=batch, viewer=viewer)
        batch_row = session.get(BatchRow, batch)
        if batch_row is None:  # chain_of_custody checked it; a concurrent delete is possible
            raise CatalogNotFound(f"batch {batch!r} not found")
        rows = sorted(
            (_placement_row(session, view.placement_id) for view in views),
            key=lambda r: (r.start_at, r.end_at is None, r.end_at or r.start_at, r.id),
        )
        first = min((r.start_at for r in rows), default=now)
        product = _product(session, batch_row.product_id, first, now)
        intervals = imported_intervals_s(session)
        sponsor = viewer is not None and viewer.role == "sponsor_viewer"
        placements = tuple(
            _placement(session, index, row, now, intervals, sponsor=sponsor)
            for index, row in enumerate(rows, start=1)
        )
        placements = with_calibrations(placements, calibrations(session))
        sensors = sorted({s for p in placements for s in p.sensors}, key=lambda s: s.label)
        alerts = _alerts(session, sensors, placements, product)
        if sponsor:
            alerts = tuple(a.sponsor_view() for a in alerts if _concerns_product(a, product))
        deviations = tuple(deviations_of_batch(session, batch))
        signatures = tuple(signatures_of_batch(session, batch))
        release = release_of(session, batch)
        entries = budget_entries(session, batch)
        if sponsor:
            entries = entries.sponsor_view()
    return BatchRecord(
        batch,
        product,
        placements,
        alerts,
        now,
        _coverage(deviations),
        deviations,
        signatures,
        release,
        entries=entries,
    )


def _concerns_product(alert: AlertInfo, product: ProductInfo) -> bool:
    """Whether a sponsor's record may name the alert: one raised under another product's
    stricter limits only where its peak left the product's own range (then the readings
    show an alarm excursion of the product that it explains). Otherwise naming it, even as
    context, tells the sponsor that a product with tighter limits shares the place, which
    the alert API withholds too (api/access/alerts.py)."""
    if not alert.other_limits:
        return True
    own = product.in_force.at(to_ms(alert.start))
    return alert.peak_c is not None and own is not None and own.direction(alert.peak_c) != 0


def _product(session: Session, product_id: str, first: datetime, now: datetime) -> ProductInfo:
    """The product with the condition versions in force from `first` on, and the one in
    force at `now` (the generation time) as its own fields."""
    row = session.get(ProductRow, product_id)
    if row is None:
        raise CatalogNotFound(f"product {product_id!r} not found")
    spans = tuple(conditions_in_force(session, product_id, min(first, now), None))
    current: ProductCondition | ProductRow | None = condition_at(session, product_id, now)
    if current is None:  # generated before the first version: the first one
        current = spans[0].condition if spans else row
    return ProductInfo(
        id=row.id,
        name=row.name,
        sponsor=row.sponsor_id,
        min_c=current.min_c,
        max_c=current.max_c,
        alarm_delay_min=current.alarm_delay_min,
        budget_max_c=current.budget_max_c,
        budget_min_c=current.budget_min_c,
        budget_hours=current.budget_hours,
        label=current.label,
        delta_h_kj_per_mol=row.mkt_delta_h_kj_per_mol,
        conditions=spans,
        budget_bands_json=current.budget_bands_json,
        freeze_c=current.freeze_c,
        freeze_events=current.freeze_events,
        alarm_profiles=profile_timeline(session, product_id=product_id),
    )


def _placement_row(session: Session, placement_id: int) -> PlacementRow:
    row = session.get(PlacementRow, placement_id)
    if row is None:
        raise CatalogNotFound(f"placement {placement_id} not found")
    return row


def _sensor(
    site: str,
    source: str,
    device: str,
    row: SensorRow,
    interval_s: int,
    imported: dict[SensorKey, int],
) -> SensorRef:
    """A probe with the interval it logs at: the catalog's, or the longer one of a logger
    export imported for it, as the detector takes it (alerting/conditions.py), so that the
    record and the alarms count gaps and the alarm delay on the same time base; and when it
    was fitted."""
    sensor = row.code
    longest = max(interval_s, imported.get(SensorKey(site, source, device, sensor), 0))
    return SensorRef(site, source, device, sensor, longest, row.installed_at, row.removed_at)


def with_calibrations(
    placements: tuple[PlacementInfo, ...], found: dict[SensorKey, Calibration]
) -> tuple[PlacementInfo, ...]:
    """Each probe with its certificates in force over its placement (#22): what corrects
    its readings there and what the record names (docs/design.md §11)."""

    def calibrated(placement: PlacementInfo, sensor: SensorRef) -> SensorRef:
        key = SensorKey(sensor.site, sensor.source, sensor.device, sensor.sensor)
        calibration = found.get(key)
        if calibration is None:
            return sensor
        certificates = calibration.between(*placement.fitted_ms(sensor))
        if not certificates:
            return sensor
        return dataclasses.replace(sensor, calibration=Calibration(certificates))

    return tuple(
        dataclasses.replace(p, sensors=tuple(calibrated(p, s) for s in p.sensors))
        for p in placements
    )


def _placement(
    session: Session,
    index: int,
    row: PlacementRow,
    now: datetime,
    imported: dict[SensorKey, int],
    *,
    sponsor: bool = False,
) -> PlacementInfo:
    until = row.end_at if row.end_at is not None else max(now, row.start_at)
    if row.unit_id is not None:
        unit = session.get(StorageUnitRow, row.unit_id)
        assert unit is not None  # foreign key
        probes = session.execute(
            select(SensorRow).where(SensorRow.unit_id == unit.id).order_by(SensorRow.code)
        ).scalars()
        sensors = tuple(
            _sensor(unit.site_id, "unit", unit.code, probe, unit.log_interval_s, imported)
            for probe in probes
        )
        kind, place, site = "unit", f"{unit.site_id}/{unit.code}", unit.site_id
        reports = reports_for(session, unit_id=unit.id, start=row.start_at, until=until)
    else:
        shipment = session.get(ShipmentRow, row.shipment_id)
        assert shipment is not None  # the one_place constraint and a foreign key
        site = shipment.origin_site_id
        pairs = session.execute(
            select(LoggerRow.code, LoggerRow.log_interval_s, SensorRow)
            .join(SensorRow, SensorRow.logger_id == LoggerRow.id)
            .where(LoggerRow.shipment_id == shipment.id)
            .order_by(LoggerRow.code, SensorRow.code)
        ).all()
        sensors = tuple(_sensor(site, "logger", lg, probe, iv, imported) for lg, iv, probe in pairs)
        kind, place = "shipment", shipment.id
        reports = reports_for(session, shipment=shipment.id, start=row.start_at, until=until)
    # A probe counts only while it was fitted: one never installed during the placement
    # is not one of its sensors (design.md §10, `installed_span`).
    sensors = tuple(s for s in sensors if installed_span(s, row.start_at, until) is not None)
    return PlacementInfo(
        index=index,
        placement_id=row.id,
        kind=kind,
        place=place,
        start=row.start_at,
        end=row.end_at,
        until=until,
        timezone=_timezone(session, site),
        sensors=sensors,
        logger_reports=tuple(_clipped(r, row.start_at, until, sponsor=sponsor) for r in reports),
        alarm_profiles=NO_PROFILES
        if row.unit_id is None
        else profile_timeline(session, unit_id=row.unit_id),
    )


def _clipped(
    report: StoredReport, start: datetime, until: datetime, *, sponsor: bool
) -> StoredReport:
    """`report` as this placement's record shows it: the device's figures over time outside
    [start, until) are left out, since the unit or shipment may then have held another
    sponsor's goods (issue #20). A day's figures stay when the whole local day lies within
    the placement, the run's (and its alarm events) when the file's whole span does; our
    figures next to them are computed over the placement's part only (devicereports.py).
    For a sponsor, who imported the file and its name are withheld too."""
    record = report.record
    zone = ZoneInfo(report.timezone)

    def day_inside(day: date) -> bool:
        first = datetime.combine(day, time(), zone)
        return start <= first and first + timedelta(days=1) <= until

    inside = (
        report.first_reading_at is not None
        and report.last_reading_at is not None
        and start <= report.first_reading_at
        and report.last_reading_at <= until  # a last reading at the hand-over counts
    )
    record = dataclasses.replace(
        record,
        daily=tuple(d for d in record.daily if day_inside(d.day)),
        run=record.run if inside else None,
    )
    if sponsor:
        return dataclasses.replace(report, record=record, file_name="", imported_by="")
    return dataclasses.replace(report, record=record)


def _timezone(session: Session, site: str) -> str:
    row = session.get(SiteRow, site)
    name = row.timezone if row is not None and row.timezone else "UTC"
    try:
        ZoneInfo(name)
    except (ZoneInfoNotFoundError, ValueError):
        return "UTC"
    return name


def _alerts(
    session: Session,
    sensors: Sequence[SensorRef],
    placements: Sequence[PlacementInfo],
    product: ProductInfo,
) -> tuple[AlertInfo, ...]:
    """Excursion, missing-data and sensor-fault alerts on the record's sensors during the
    record.

    Only columns of the first schema are read by name, so fields the detector's engineer
    adds later cannot break the export.
    """
    if not sensors or not placements:
        return ()
    first = min(p.start for p in placements)
    last = max(p.until for p in placements)
    by_key = {(s.site, s.source, s.device, s.sensor): s for s in sensors}
    rows = session.execute(
        select(AlertRow)
        .where(
            AlertRow.kind.in_(("excursion", "missing_data", "sensor_fault")),
            AlertRow.device.in_(sorted({s.device for s in sensors})),
            AlertRow.start_at < last,
            AlertRow.end_at.is_(None) | (AlertRow.end_at > first),
        )
        .order_by(AlertRow.start_at, AlertRow.id)
    ).scalars()
    found: list[AlertInfo] = []
    for row in rows:
        ref = by_key.get((row.site_id, row.source, row.device, row.sensor))
        if ref is None:
            continue
        place = _place(ref, placements, row.start_at)
        own = alarm_setup(alarm_limits(product, place).at(to_ms(row.start_at)))
        other = (
            row.kind == "excursion"
            and row.rule_id is None
            and _limits_in_force(session, place, row.start_at) != own
        )
        found.append(_alert(session, row, ref, other))
    return tuple(found)


def _place(sensor: SensorRef, placements: Sequence[PlacementInfo], at: datetime) -> PlacementInfo:
    """The placement of the record `sensor` read at `at` (its first one, if none then)."""
    return next(
        (p for p in placements if sensor in p.sensors and p.start <= at < p.until),
        next(p for p in placements if sensor in p.sensors),
    )


def _limits_in_force(
    session: Session, place: PlacementInfo, at: datetime
) -> tuple[float, ...] | None:
    """How the detector alarmed in `place` at `at` (`alarm_setup`): the strictest of the
    products then there, each by its condition version in force at `at` (`strictest`, as
    alerting/conditions.py cuts them), set up by the strictest of their alarm profiles and
    the unit's then in force (#22); None when the place held none of them (its kind's
    default applied)."""
    held = session.get(PlacementRow, place.placement_id)
    assert held is not None  # read moments ago in the same session
    where = (
        PlacementRow.unit_id == held.unit_id
        if held.unit_id is not None
        else PlacementRow.shipment_id == held.shipment_id
    )
    held_ids = (
        session.execute(
            select(BatchRow.product_id)
            .join(PlacementRow, PlacementRow.batch_id == BatchRow.id)
            .where(
                where,
                PlacementRow.start_at <= at,
                PlacementRow.end_at.is_(None) | (PlacementRow.end_at > at),
            )
        )
        .scalars()
        .unique()
        .all()
    )
    products = [
        c for c in (condition_at(session, pid, at) for pid in sorted(held_ids)) if c is not None
    ]
    if not products:
        return None
    ms = to_ms(at)
    profiles = [profile_timeline(session, product_id=pid).at(ms) for pid in sorted(held_ids)]
    return alarm_setup(
        apply_profiles(strictest(products), [*profiles, place.alarm_profiles.at(ms)])
    )


def _alert(session: Session, row: AlertRow, ref: SensorRef, other_limits: bool) -> AlertInfo:
    history = session.execute(
        select(AlertHistoryRow)
        .where(AlertHistoryRow.alert_id == row.id)
        .order_by(AlertHistoryRow.at, AlertHistoryRow.id)
    ).scalars()
    steps: dict[str, Any] = {}
    for step in history:
        steps.setdefault(step.state, step)  # the first time it reached each state
    ack, closed = steps.get("acknowledged"), steps.get("closed")
    return AlertInfo(
        id=row.id,
        kind=row.kind,
        severity=row.severity,
        state=row.state,
        sensor=ref,
        start=row.start_at,
        end=row.end_at,
        peak_c=row.peak_c,
        retrospective=bool(row.retrospective),
        acknowledged_by=None if ack is None else ack.actor,
        acknowledged_at=None if ack is None else ack.at,
        acknowledge_comment=None if ack is None else ack.comment,
        closed_by=None if closed is None else closed.actor,
        closed_at=None if closed is None else closed.at,
        root_cause=None if closed is None else closed.root_cause,
        other_limits=other_limits,
    )


def window_queries(
    sensor: SensorRef, *, start_ms: int, end_ms: int, window_ms: int = 7 * 86_400_000
) -> list[str]:
    """The statements that read one sensor in [start_ms, end_ms), one per time window, so
    that InfluxDB never holds more than a window's chunk; InfluxDB runs the statements of
    one request one after the other."""
    where = sensor.condition
    bounds = range(start_ms, end_ms, window_ms)
    return [
        f"SELECT {quote_identifier('temp_c')} FROM {quote_identifier(READING)} "
        f"WHERE {where} AND time >= {lower}ms AND time < {min(lower + window_ms, end_ms)}ms"
        for lower in bounds
    ]


def sensor_request(
    sensor: SensorRef, *, start_ms: int, end_ms: int, window_ms: int = 7 * 86_400_000
) -> str:
    """All of `window_queries` as one request: a request costs InfluxDB and httpx
    milliseconds, and a year has 53 windows."""
    return ";".join(window_queries(sensor, start_ms=start_ms, end_ms=end_ms, window_ms=window_ms))


async def speaks_msgpack(influx: InfluxClient) -> bool:
    """Whether the server answers queries in MessagePack (InfluxDB 1.x does; a server that
    ignores Accept answers JSON, InfluxDB 3 Core refuses it). Asked once per export."""
    try:
        async with influx.raw_query("SHOW MEASUREMENTS LIMIT 1", accept=MSGPACK) as answer:
            return answer.media_type == MSGPACK
    except StoreRejected:
        return False


async def stream_sensor_readings(
    influx: InfluxClient,
    sensor: SensorRef,
    *,
    start_ms: int,
    end_ms: int,
    window_ms: int = 7 * 86_400_000,
    msgpack: bool = False,
) -> AsyncIterator[Chunk]:
    """(times in epoch ms, temperatures in °C) of one sensor in [start_ms, end_ms), in time
    order, chunk by chunk (InfluxDB's chunks of each window's statement).

    `msgpack`: the server answers MessagePack (`speaks_msgpack`): all the windows go in one
    request (`sensor_request`), read without a Python object per reading. Otherwise, one
    JSON request per window, as a server of another kind may take only one statement.
    """
    if start_ms >= end_ms:
        return
    if msgpack:
        request = sensor_request(sensor, start_ms=start_ms, end_ms=end_ms, window_ms=window_ms)
        async with influx.raw_query(request, accept=MSGPACK) as answer:
            async for chunk in readings(answer.pieces):
                yield chunk
        return
    for statement in window_queries(sensor, start_ms=start_ms, end_ms=end_ms, window_ms=window_ms):
        async for series in influx.stream_query(statement):
            if not series.values:
                continue
            pairs = np.asarray(series.values, dtype=np.float64)
            keep = np.isfinite(pairs[:, 1])
            yield pairs[keep, 0].astype(np.int64), np.ascontiguousarray(pairs[keep, 1])


async def prefetched(chunks: AsyncIterator[Chunk], depth: int = 4) -> AsyncIterator[Chunk]:
    """`chunks`, read ahead by a task into a queue of `depth`: InfluxDB prepares and sends
    the next chunk while this one is being formatted (two cores, two workers). The task
    belongs to this generator and is cancelled when it ends, however it ends."""
    queue: asyncio.Queue[Chunk | BaseException | None] = asyncio.Queue(maxsize=depth)

    async def pump() -> None:
        try:
            async for chunk in chunks:
                await queue.put(chunk)
            await queue.put(None)
        except asyncio.CancelledError:
            raise
        except BaseException as exc:  # handed to the consumer, re-raised there
            await queue.put(exc)

    task = asyncio.create_task(pump())
    try:
        while (item := await queue.get()) is not None:
            if isinstance(item, BaseException):
                raise item
            yield item
    finally:
        task.cancel()
        with contextlib.suppress(asyncio.CancelledError):
            await task
