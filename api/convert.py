"""Domain values (from `api.access` and `api.readings`) to response bodies."""

from __future__ import annotations

from datetime import UTC, datetime

from api.access import AlertItem, HistorySegment, Limits, Location, PlaceDetail, Span, Stay
from api.export.document import deviation_fields
from api.export.findings import SCREEN
from api.export.walk import Report
from api.readings import HistoryResult
from api.schemas import (
    AlertDetailPublic,
    AlertHistoryPublic,
    AlertPublic,
    BatchDetailPublic,
    BatchPublic,
    BudgetBandPublic,
    BudgetPublic,
    DeviationPublic,
    DevicePublic,
    FindingPublic,
    FindingsPublic,
    HistoryPublic,
    HistorySegmentPublic,
    HistorySeriesPublic,
    LimitSpanPublic,
    LimitsPublic,
    LocationPublic,
    PlaceDetailPublic,
    PlacementPublic,
    ProductPublic,
    ReleasePublic,
    SignaturePublic,
    SpanPublic,
)
from coldchain.catalog.deviations import Deviation
from coldchain.catalog.queries import BatchView, PlacementView, ProductView
from coldchain.catalog.releases import ReleaseDecision
from coldchain.catalog.signatures import Signature, check_signature
from coldchain.times import from_ms

__all__ = [
    "alert_detail_public",
    "alert_public",
    "batch_detail_public",
    "batch_public",
    "deviation_public",
    "findings_public",
    "history_public",
    "limits_public",
    "location_public",
    "place_detail_public",
    "product_public",
    "release_public",
    "signature_public",
]


def product_public(view: ProductView) -> ProductPublic:
    """`budget` null only for a product with no budget at all (neither bands nor freeze
    threshold: no time out of range allowed)."""
    single, stability = view.budget, view.stability
    budget = None
    if single is not None or stability.bands or stability.freeze_c is not None:
        budget = BudgetPublic(
            max_c=None if single is None else single.max_c,
            hours=None if single is None else single.hours,
            min_c=None if single is None else single.min_c,
            bands=[
                BudgetBandPublic(min_c=b.min_c, max_c=b.max_c, hours=b.hours)
                for b in stability.bands
            ],
            freeze_c=stability.freeze_c,
            freeze_events=stability.freeze_allowed,
        )
    return ProductPublic(
        id=view.id,
        sponsor=view.sponsor,
        name=view.name,
        min_c=view.min_c,
        max_c=view.max_c,
        alarm_delay_min=view.alarm_delay_min,
        label=view.label,
        budget=budget,
    )


def batch_public(view: BatchView) -> BatchPublic:
    return BatchPublic(id=view.id, product=view.product, sponsor=view.sponsor)


def _placement(view: PlacementView) -> PlacementPublic:
    return PlacementPublic(
        batch=view.batch,
        product=view.product,
        unit=view.unit,
        shipment=view.shipment,
        start=view.start,
        end=view.end,
    )


def batch_detail_public(view: BatchView, placements: list[PlacementView]) -> BatchDetailPublic:
    return BatchDetailPublic(
        id=view.id,
        product=view.product,
        sponsor=view.sponsor,
        placements=[_placement(p) for p in placements],
    )


def location_public(location: Location) -> LocationPublic:
    return LocationPublic(
        kind=location.kind,
        id=location.id,
        site=location.site,
        name=location.name,
        devices=[
            DevicePublic(
                site=d.site,
                source=d.source,
                device=d.device,
                sensors=list(d.sensors),
                log_interval_s=d.log_interval_s,
            )
            for d in location.devices
        ],
    )


def _span(span: Span) -> SpanPublic:
    return SpanPublic(start=span.start, end=span.end)


def _stay(stay: Stay, location: Location) -> PlacementPublic:
    return PlacementPublic(
        batch=stay.batch,
        product=stay.product,
        unit=location.id if location.kind == "unit" else None,
        shipment=stay.shipment_id,
        start=stay.start,
        end=stay.end,
    )


def place_detail_public(detail: PlaceDetail) -> PlaceDetailPublic:
    return PlaceDetailPublic(
        location=location_public(detail.location),
        placements=[_stay(s, detail.location) for s in detail.stays],
        visible_windows=None if detail.windows is None else [_span(w) for w in detail.windows],
    )


def limits_public(limits: Limits | None) -> LimitsPublic | None:
    if limits is None:
        return None
    return LimitsPublic(
        min_c=limits.min_c, max_c=limits.max_c, label=limits.label, products=list(limits.products)
    )


def alert_public(item: AlertItem) -> AlertPublic:
    return AlertPublic(
        alert_id=item.alert_id,
        kind=item.kind,
        severity=item.severity,
        state=item.state,
        site=item.site,
        device=item.device,
        sensor=item.sensor,
        start=item.start,
        end=item.end,
        peak_c=item.peak_c,
        retrospective=item.retrospective,
        source=item.source,
        updated_at=item.updated_at,
        detail=dict(item.detail),
    )


def alert_detail_public(item: AlertItem) -> AlertDetailPublic:
    return AlertDetailPublic(
        **alert_public(item).model_dump(),
        history=[AlertHistoryPublic.model_validate(entry) for entry in item.history],
    )


def history_public(
    start: datetime, end: datetime, segments: list[HistorySegment], result: HistoryResult
) -> HistoryPublic:
    return HistoryPublic(
        start=start.astimezone(UTC),
        end=end.astimezone(UTC),
        resolution=result.resolution,
        bucket_ms=result.bucket_ms,
        segments=[
            HistorySegmentPublic(
                location=s.location.id,
                batch=s.batch,
                windows=[_span(w) for w in s.windows],
                limits=[
                    LimitSpanPublic(
                        start=span.start,
                        end=span.end,
                        min_c=limits.min_c,
                        max_c=limits.max_c,
                        label=limits.label,
                    )
                    for span, limits in s.limit_spans
                ],
            )
            for s in segments
        ],
        series=[
            HistorySeriesPublic(
                location=s.location,
                site=s.site,
                source=s.source,
                device=s.device,
                sensor=s.sensor,
                points=s.points,
                late=s.late,
            )
            for s in result.series
        ],
    )


def signature_public(signature: Signature) -> SignaturePublic:
    """The signature without its content (the export's manifest carries it), and whether
    it still holds."""
    fields = signature.manifest()
    del fields["content"]
    return SignaturePublic(**fields, valid=not check_signature(signature))


def deviation_public(deviation: Deviation) -> DeviationPublic:
    """The record's shape of a deviation (`deviation_fields`), its times as the catalog
    keeps them (aware, UTC) and its signatures whole. The model keeps its §9 fields: the
    record's `sponsor` and `sponsor_decision` are not among them."""
    fields = deviation_fields(deviation, lambda moment: moment)
    return DeviationPublic.model_validate(
        {**fields, "signatures": [signature_public(s) for s in deviation.signatures]}
    )


def release_public(decision: ReleaseDecision) -> ReleasePublic:
    return ReleasePublic(
        batch=decision.batch,
        decision=decision.decision,  # type: ignore[arg-type]  # releases.DECISIONS
        comment=decision.comment,
        decided_at=decision.decided_at,
        decided_by=decision.decided_by,
        signature=signature_public(decision.signature),
    )


def findings_public(
    batch: str, report: Report, generated_at: datetime, release: ReleaseDecision | None
) -> FindingsPublic:
    return FindingsPublic(
        batch=batch,
        verdict=report.verdict,  # type: ignore[arg-type]  # findings.verdict's three
        screen=SCREEN,
        generated_at=generated_at.astimezone(UTC),
        findings=[
            FindingPublic(
                **f.detail,
                id=f.id,
                kind=f.kind,
                start=None if f.start_ms is None else from_ms(f.start_ms),
                end=None if f.end_ms is None else from_ms(f.end_ms),
                where=f.where,
                state=f.state,  # type: ignore[arg-type]  # findings' four states
                deviation=f.deviation,
                timezone=f.zone,
            )
            for f in report.findings
        ],
        release=None if release is None else release_public(release),
    )
