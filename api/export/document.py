"""The record's header and summary as plain JSON-ready values, shared by every format so
CSV, JSON and PDF say exactly the same thing."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from api.export.devicereports import device_report_dict
from api.export.reconcile import ExcursionFinding, GapFinding
from api.export.record import AlertInfo, BatchRecord, PlacementInfo, SensorRef
from api.export.stats import SensorSummary
from api.export.summary import Figures
from api.export.timefmt import when_ms
from api.export.walk import Report
from coldchain.times import to_ms

__all__ = [
    "FORMAT_VERSION",
    "ExportMeta",
    "figures_dict",
    "header_dict",
    "placement_dict",
    "sensor_dict",
    "software_version",
    "summary_dict",
    "when_dict",
]

FORMAT_VERSION = 1


def software_version() -> str:
    try:
        return f"coldchain {version('coldchain')}"
    except PackageNotFoundError:
        return "coldchain (not installed)"


@dataclass(frozen=True, slots=True)
class ExportMeta:
    """Who asked for which format when, with which software."""

    fmt: str
    actor: str
    generated_at: datetime
    software: str


def _r(value: float | None, digits: int = 3) -> float | None:
    return None if value is None else round(value, digits)


def when_dict(moment: datetime | None, zone: str) -> dict[str, str] | None:
    if moment is None:
        return None
    return when_ms(to_ms(moment), zone)


def header_dict(record: BatchRecord, meta: ExportMeta) -> dict[str, Any]:
    """Batch, product, period, generation time, software version: the record's header."""
    product = record.product
    zone = record.placements[0].timezone if record.placements else "UTC"
    start = min((p.start for p in record.placements), default=None)
    end = max((p.until for p in record.placements), default=None)
    return {
        "batch": record.batch,
        "product": product.id,
        "product_name": product.name,
        "sponsor": product.sponsor,
        "storage_condition": product.label,
        "range_c": [product.min_c, product.max_c],
        "alarm_delay_min": product.alarm_delay_min,
        "budget": None
        if product.budget_hours is None
        else {
            "hours": product.budget_hours,
            "max_c": product.budget_max_c,
            "min_c": product.budget_min_c,
        },
        "mkt_delta_h_kj_per_mol": product.delta_h_kj_per_mol,
        "period_start": when_dict(start, zone),
        "period_end": when_dict(end, zone),
        "placements": len(record.placements),
        "generated_at": when_dict(meta.generated_at, zone),
        "generated_by": meta.actor,
        "software": meta.software,
        "format": meta.fmt,
        "format_version": FORMAT_VERSION,
    }


def placement_dict(placement: PlacementInfo) -> dict[str, Any]:
    return {
        "index": placement.index,
        "placement_id": placement.placement_id,
        "kind": placement.kind,
        "place": placement.place,
        "from": when_dict(placement.start, placement.timezone),
        "to": when_dict(placement.end, placement.timezone),
        "record_until": when_dict(placement.until, placement.timezone),
        "timezone": placement.timezone,
        "sensors": [sensor_dict(s) for s in placement.sensors],
    }


def sensor_dict(sensor: SensorRef) -> dict[str, Any]:
    return {
        "site": sensor.site,
        "source": sensor.source,
        "device": sensor.device,
        "sensor": sensor.sensor,
        "log_interval_s": sensor.log_interval_s,
    }


def figures_dict(figures: Figures, delta_h: float) -> dict[str, Any]:
    return {
        "readings": figures.count,
        "expected_readings": figures.expected,
        "present_share": _r(figures.present_share, 5),
        "min_c": _r(figures.min_c),
        "max_c": _r(figures.max_c),
        "mean_c": _r(figures.mean_c),
        "mkt_c": _r(figures.mkt_c),
        "mkt_delta_h_kj_per_mol": delta_h,
        "observed_h": _r(figures.observed_h, 4),
        "in_range_h": _r(figures.in_range_h, 4),
        "in_range_share": _r(figures.in_range_share, 5),
        "above_range_h": _r(figures.above_h, 4),
        "below_range_h": _r(figures.below_h, 4),
        "out_of_range_h": _r(figures.out_of_range_h, 4),
    }


def _sensor_figures(summary: SensorSummary) -> dict[str, Any]:
    return {
        "readings": summary.count,
        "expected_readings": summary.expected,
        "present_share": _r(summary.present_share, 5),
        "min_c": _r(summary.min_c),
        "max_c": _r(summary.max_c),
        "mean_c": _r(summary.mean_c),
        "mkt_c": _r(summary.mkt.value_or_none()),
        "gaps": len(summary.gaps),
        "excursions": len(summary.excursions),
    }


def _alert_dict(alert: AlertInfo | None, zone: str) -> dict[str, Any] | None:
    if alert is None:
        return None
    return {
        "alert_id": alert.id,
        "state": alert.state,
        "severity": alert.severity,
        "retrospective": alert.retrospective,
        "start": when_dict(alert.start, zone),
        "end": when_dict(alert.end, zone),
        "peak_c": alert.peak_c,
        "acknowledged_by": alert.acknowledged_by,
        "acknowledged_at": when_dict(alert.acknowledged_at, zone),
        "acknowledge_comment": alert.acknowledge_comment,
        "closed_by": alert.closed_by,
        "closed_at": when_dict(alert.closed_at, zone),
        "root_cause": alert.root_cause,
    }


def excursion_dict(finding: ExcursionFinding, zone: str) -> dict[str, Any]:
    exc = finding.excursion
    return {
        "placement": finding.placement,
        "sensor": finding.sensor.label,
        "agreement": finding.agreement,
        "alarm": finding.counts,
        "explained": finding.explained,
        "start": None if exc is None else when_ms(exc.start_ms, zone),
        "end": None if exc is None else when_ms(exc.end_ms, zone),
        "duration_min": None if exc is None else round(exc.duration_ms / 60_000, 2),
        "peak_c": None if exc is None else exc.peak_c,
        "direction": None if exc is None else exc.direction,
        "ongoing": None if exc is None else exc.ongoing,
        "detector_alert": _alert_dict(finding.alert, zone),
    }


def gap_dict(finding: GapFinding, zone: str) -> dict[str, Any]:
    gap = finding.gap
    return {
        "placement": finding.placement,
        "sensor": finding.sensor.label,
        "where": gap.where,
        "start": when_ms(gap.start_ms, zone),
        "end": when_ms(gap.end_ms, zone),
        "duration_min": round(gap.duration_ms / 60_000, 2),
        "missing_readings": gap.missing,
        "explained_by": None if finding.explained_by is None else finding.explained_by.id,
    }


def summary_dict(report: Report) -> dict[str, Any]:
    """Figures per placement (and per sensor) and for the chain, budget, excursions, gaps,
    recommendation."""
    delta_h = report.record.product.delta_h_kj_per_mol
    zones = {p.index: p.timezone for p in report.record.placements}
    budget = report.budget
    return {
        "placements": [
            {
                "index": p.info.index,
                "place": p.info.place,
                **figures_dict(p.figures, delta_h),
                "sensors": {s.label: _sensor_figures(summary) for s, summary in p.sensors},
            }
            for p in report.placements
        ],
        "chain": figures_dict(report.chain, delta_h),
        "budget": {
            "allowed_h": budget.allowed_h,
            "charged_h": round(budget.charged_h, 4),
            "remaining_h": round(budget.remaining_h, 4),
            "exceeded": budget.exceeded,
            "over_by_h": round(budget.over_by_h, 4),
            "reasons": list(budget.reasons),
        },
        "excursions": [excursion_dict(f, zones.get(f.placement, "UTC")) for f in report.excursions],
        "gaps": [gap_dict(g, zones.get(g.placement, "UTC")) for g in report.gaps],
        "device_reports": [
            device_report_dict(c) for p in report.placements for c in p.logger_reports
        ],
        "recommendation": {
            "verdict": report.recommendation.verdict,
            "release": report.recommendation.release,
            "reasons": list(report.recommendation.reasons),
            "notes": list(report.recommendation.notes),
            "confirmation": "to be confirmed by QA",
        },
    }
