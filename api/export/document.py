"""The record's header and summary as plain JSON-ready values, shared by every format so
CSV, JSON and PDF say exactly the same thing."""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from importlib.metadata import PackageNotFoundError, version
from typing import Any

from api.export.budget_doc import account_dict
from api.export.calibration import calibration_dicts, calibration_rows
from api.export.conflicts import conflict_rows
from api.export.devicereports import device_report_dict
from api.export.findings import SCREEN, Finding
from api.export.inforce import alarm_limits
from api.export.mktwindow import MARGIN_H
from api.export.reconcile import (
    ExcursionFinding,
    GapFinding,
    InvalidFinding,
    stricter_limits_text,
)
from api.export.record import AlertInfo, BatchRecord, PlacementInfo, ProductInfo, SensorRef
from api.export.stats import SensorSummary
from api.export.summary import Figures
from api.export.timefmt import when_ms
from api.export.timeline import CustodyGap
from api.export.walk import Report
from coldchain.catalog.deviations import Deviation
from coldchain.catalog.releases import ReleaseDecision
from coldchain.judgement.budget import budget_of
from coldchain.mkt import GAS_CONSTANT_J_PER_MOL_K
from coldchain.times import to_ms

__all__ = [
    "FORMAT_VERSION",
    "MKT_CAVEAT",
    "WINDOW_RULE",
    "ExportMeta",
    "alarm_limits_dicts",
    "budget_applies",
    "conditions_over",
    "deviation_dict",
    "deviation_fields",
    "figures_dict",
    "finding_dict",
    "header_dict",
    "manifest_dict",
    "placement_dict",
    "record_zone",
    "release_dict",
    "sensor_dict",
    "software_version",
    "summary_dict",
    "when_dict",
]

#: 2: `summary.verdict` and `summary.findings` replace the recommendation; invalid readings
#: are marked; paths, custody gaps, MKT windows.
FORMAT_VERSION = 2

MKT_CAVEAT = (
    "MKT summarises the thermal history; it never excuses an excursion: each excursion is "
    "judged by its own time beyond the range"
)
WINDOW_RULE = (
    f"MKT of each alarm excursion's window: from {MARGIN_H} h before the clock hour it began "
    f"in to {MARGIN_H} h after the clock hour it ended in, clipped to the placements of the "
    "probes that recorded it"
)


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


def _budget_dict(condition: Any) -> dict[str, Any] | None:
    """The budget of a condition: the old single form's keys (null for a list of bands),
    then its bands (the single form as one band) and freezing (#22)."""
    budget = budget_of(condition)
    if not budget.bands and budget.freeze_c is None:
        return None
    return {
        "hours": condition.budget_hours,
        "max_c": condition.budget_max_c,
        "min_c": condition.budget_min_c,
        "bands": [{"min_c": b.min_c, "max_c": b.max_c, "hours": b.hours} for b in budget.bands],
        "freeze_c": budget.freeze_c,
        "freeze_events": budget.freeze_allowed,
    }


def _budget_key(condition: Any) -> tuple[Any, ...]:
    return (
        condition.budget_hours,
        condition.budget_max_c,
        condition.budget_min_c,
        condition.budget_bands_json,
        condition.freeze_c,
        condition.freeze_events,
    )


def conditions_over(record: BatchRecord) -> list[tuple[datetime, datetime, Any]]:
    """(from, to, condition) of each version of the product's storage condition in force
    over the record's period, oldest first, cut to the period (the last `to` is the
    period's end). Without versions: the product's own fields over the whole period."""
    product = record.product
    start = min((p.start for p in record.placements), default=record.generated_at)
    end = max((p.until for p in record.placements), default=record.generated_at)
    spans: list[tuple[datetime, datetime, Any]] = [
        (max(s.valid_from, start), end if s.valid_to is None else min(s.valid_to, end), s.condition)
        for s in product.conditions
        if s.valid_from < end and (s.valid_to is None or s.valid_to > start)
    ]
    if not spans:
        return [(start, end, product)]
    return spans


def budget_applies(product: ProductInfo, record: BatchRecord) -> tuple[str, bool]:
    """Which stability budget the record charges, in words, and whether the condition
    versions in force over the period differ in their budgets (then the one in force at
    the generation time applies)."""
    budgets = {_budget_key(c) for _, _, c in conditions_over(record)} | {_budget_key(product)}
    bands = product.budget.bands
    if product.budget_bands_json is not None:  # a list of bands (#22)
        hours = ", ".join(f"{b.hours:g} h at {b.label}" for b in bands) or "none"
    else:
        hours = "none" if not bands else f"{product.budget_hours:g} h"
    text = (
        f"the stability budget of the storage condition in force at generation time "
        f"({product.label}): {hours}"
    )
    differ = len(budgets) > 1
    if differ:
        text += (
            "; the condition versions in force over the period differ in their budgets, "
            "this one applies to the hours charged"
        )
    return text, differ


def _condition_dict(
    start: datetime, end: datetime | None, condition: Any, zone: str
) -> dict[str, Any]:
    return {
        "from": when_dict(start, zone),
        "to": when_dict(end, zone),
        "storage_condition": condition.label,
        "range_c": [condition.min_c, condition.max_c],
        "alarm_delay_min": condition.alarm_delay_min,
        "budget": _budget_dict(condition),
    }


def header_dict(record: BatchRecord, meta: ExportMeta) -> dict[str, Any]:
    """Batch, product, period, generation time, software version: the record's header.

    `storage_condition`, `range_c`, `alarm_delay_min` and `budget` are the condition in
    force at the generation time; `conditions_in_force` lists each version in force over
    the period with from/to (one entry when it did not change): each part of the record
    is judged by the version then in force.
    """
    product = record.product
    zone = record_zone(record)
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
        "budget": _budget_dict(product),
        "conditions_in_force": [
            _condition_dict(low, high, condition, zone)
            for low, high, condition in conditions_over(record)
        ],
        "mkt_delta_h_kj_per_mol": product.delta_h_kj_per_mol,
        "mkt_gas_constant_j_per_mol_k": GAS_CONSTANT_J_PER_MOL_K,
        "period_start": when_dict(start, zone),
        "period_end": when_dict(end, zone),
        "placements": len(record.placements),
        "generated_at": when_dict(meta.generated_at, zone),
        "generated_by": meta.actor,
        "software": meta.software,
        "format": meta.fmt,
        "format_version": FORMAT_VERSION,
    }


def _finite(value: float) -> float | None:
    return value if math.isfinite(value) else None


def alarm_limits_dicts(record: BatchRecord, placement: PlacementInfo) -> list[dict[str, Any]]:
    """The limits the record alarmed by in `placement` (#22: the product's range set up by
    the strictest of its alarm profile and the unit's, `inforce.alarm_limits`), one entry per
    version in force over it, oldest first: range, the profile's warning limits (null: not
    set, the detector's warning band), the delay above and below the range (the profile's,
    never longer than the condition's), the critical limits (null: none) and whether an
    alarm latches."""
    zone = placement.timezone
    return [
        {
            "from": when_ms(start, zone),
            "to": when_ms(end, zone),
            "range_c": [limits.low_c, limits.high_c],
            "warning_low_c": limits.warning_low_c,
            "warning_high_c": limits.warning_high_c,
            "high_delay_min": _minutes(limits.delay_ms(1)),
            "low_delay_min": _minutes(limits.delay_ms(-1)),
            "critical_low_c": _finite(limits.critical_low_c),
            "critical_high_c": _finite(limits.critical_high_c),
            "latching": limits.latching,
        }
        for start, end, limits in alarm_limits(record.product, placement).spans(
            placement.start_ms, placement.until_ms
        )
    ]


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
        "sensors": [sensor_dict(s, placement.timezone) for s in placement.sensors],
    }


def sensor_dict(sensor: SensorRef, zone: str = "UTC") -> dict[str, Any]:
    out: dict[str, Any] = {
        "site": sensor.site,
        "source": sensor.source,
        "device": sensor.device,
        "sensor": sensor.sensor,
        "log_interval_s": sensor.log_interval_s,
    }
    if sensor.installed_at is not None:
        out["installed"] = when_dict(sensor.installed_at, zone)
    if sensor.removed_at is not None:
        out["removed"] = when_dict(sensor.removed_at, zone)
    if sensor.calibration is not None:
        out["calibration"] = calibration_dicts(sensor.calibration, zone)
    return out


def figures_dict(figures: Figures, delta_h: float) -> dict[str, Any]:
    return {
        "readings": figures.count,
        "invalid_readings": figures.invalid,
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


def _sensor_figures(summary: SensorSummary, excursions: int) -> dict[str, Any]:
    return {
        # #22: valid readings at or after the due date of the certificate in force.
        "past_calibration_readings": sum(n for _, n in summary.past_calibration),
        "readings": summary.count,
        "invalid_readings": summary.invalid,
        "expected_readings": summary.expected,
        "present_share": _r(summary.present_share, 5),
        "min_c": _r(summary.min_c),
        "max_c": _r(summary.max_c),
        "mean_c": _r(summary.mean_c),
        "mkt_c": _r(summary.mkt.value_or_none()),
        "gaps": len(summary.gaps),
        "excursions": excursions,
    }


def _limits_text(alert: AlertInfo, place: PlacementInfo) -> str:
    """Whose limits an alarm was raised under, without naming another product or its
    limits (a sponsor's record never shows them)."""
    return stricter_limits_text(place) if alert.other_limits else "the product's own"


def _alert_dict(alert: AlertInfo | None, place: PlacementInfo) -> dict[str, Any] | None:
    if alert is None:
        return None
    zone = place.timezone
    return {
        "alert_id": alert.id,
        "state": alert.state,
        "severity": alert.severity,
        "limits": _limits_text(alert, place) if alert.kind == "excursion" else None,
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


def _minutes(ms: float) -> float:
    return round(ms / 60_000, 2)


def excursion_dict(finding: ExcursionFinding, place: PlacementInfo) -> dict[str, Any]:
    exc, window, zone = finding.excursion, finding.window, place.timezone
    out: dict[str, Any] = {
        "placement": finding.placement,
        "sensor": finding.sensor.label,
        "where": None if exc is None else exc.where,
        "agreement": finding.agreement,
        "alarm": finding.alarm,
        "explained": finding.explained,
        "start": None,
        "end": None,
        "duration_min": None,
        "beyond_since": None,
        "beyond_min": None,
        "alarm_at": None,
        "peak_c": None,
        "direction": None,
        "readings": None,
        "ended": None,
        "ongoing": None,
        "mkt_window": None
        if window is None
        else {
            "start": when_ms(window.start_ms, zone),
            "end": when_ms(window.end_ms, zone),
            "mkt_c": _r(window.mkt_c),
        },
        "detector_alert": _alert_dict(finding.alert, place),
    }
    if exc is not None:
        run = exc.run
        out |= {
            "start": when_ms(exc.start_ms, zone),
            "end": when_ms(exc.end_ms, zone),
            "duration_min": _minutes(exc.duration_ms),
            "beyond_since": when_ms(run.since_ms, zone),
            "beyond_min": _minutes(run.sustained_ms),
            "alarm_at": None if run.alarm_ms is None else when_ms(run.alarm_ms, zone),
            "peak_c": run.peak_c,
            "direction": exc.direction,
            "readings": run.readings,
            "ended": exc.ended,
            "ongoing": exc.ongoing,
        }
    return out


def gap_dict(finding: GapFinding, zone: str) -> dict[str, Any]:
    gap = finding.gap
    return {
        "placement": finding.placement,
        "sensor": finding.sensor.label,
        "where": gap.where,
        "start": when_ms(gap.start_ms, zone),
        "end": when_ms(gap.end_ms, zone),
        "duration_min": _minutes(gap.duration_ms),
        "missing_readings": gap.missing,
        "explained_by": None if finding.explained_by is None else finding.explained_by.id,
    }


def invalid_dict(finding: InvalidFinding, zone: str) -> dict[str, Any]:
    run = finding.run
    return {
        "placement": finding.placement,
        "sensor": finding.sensor.label,
        "start": when_ms(run.start_ms, zone),
        "end": when_ms(run.end_ms, zone),
        "readings": run.count,
        "values_c": list(run.values),
        "reasons": list(run.reasons),
        "explained_by": None if finding.explained_by is None else finding.explained_by.id,
    }


def custody_gap_dict(gap: CustodyGap) -> dict[str, Any]:
    zone = gap.before.timezone
    return {
        "from_placement": gap.before.index,
        "from_place": gap.before.place,
        "to_placement": gap.after.index,
        "to_place": gap.after.place,
        "start": when_ms(gap.start_ms, zone),
        "end": when_ms(gap.end_ms, zone),
        "duration_min": _minutes(gap.end_ms - gap.start_ms),
    }


def finding_dict(finding: Finding) -> dict[str, Any]:
    """id, kind, start, end, where, state, the deviation covering it, then what the kind
    needs."""
    zone = finding.zone
    return {
        "id": finding.id,
        "kind": finding.kind,
        "start": None if finding.start_ms is None else when_ms(finding.start_ms, zone),
        "end": None if finding.end_ms is None else when_ms(finding.end_ms, zone),
        "where": finding.where,
        "state": finding.state,
        "deviation": finding.deviation,
        **finding.detail,
    }


def mkt_dict(delta_h: float) -> dict[str, Any]:
    """How MKT is computed and what it may not be used for."""
    return {
        "standard": "USP <1079.2>",
        "delta_h_kj_per_mol": delta_h,
        "gas_constant_j_per_mol_k": GAS_CONSTANT_J_PER_MOL_K,
        "time_base": "each reading weighted by the time to the next, at most one logging "
        "interval; gaps are not bridged; invalid readings are left out",
        "excursion_window": WINDOW_RULE,
        "caveat": MKT_CAVEAT,
    }


def summary_dict(report: Report) -> dict[str, Any]:
    """Verdict and findings first, then the figures per placement (and per sensor), per path
    and for the chain, budget, excursions, gaps, invalid readings, custody gaps, MKT, the
    loggers' own reports and the re-sent readings refused as conflicting (conflicts.py)."""
    delta_h = report.record.product.delta_h_kj_per_mol
    places = {p.index: p for p in report.record.placements}
    budget = report.budget
    applies, differ = budget_applies(report.record.product, report.record)
    counts: dict[tuple[int, SensorRef], int] = {}
    for f in report.excursions:
        for leg in () if f.excursion is None else f.excursion.legs:
            key = (leg.placement.index, leg.sensor)
            counts[key] = counts.get(key, 0) + 1
    return {
        "verdict": report.verdict,
        "screen": SCREEN,
        "findings": [finding_dict(f) for f in report.findings],
        "placements": [
            {
                "index": p.info.index,
                "place": p.info.place,
                **figures_dict(p.figures, delta_h),
                "sensors": {
                    s.label: _sensor_figures(summary, counts.get((p.info.index, s), 0))
                    for s, summary in p.sensors
                },
            }
            for p in report.placements
        ],
        "paths": [
            {
                "placements": list(path.placements),
                "worst": path is report.worst,
                **figures_dict(path.figures, delta_h),
            }
            for path in report.paths
        ],
        "chain": figures_dict(report.chain, delta_h),
        "budget": {
            **account_dict(budget, report.record, record_zone(report.record)),
            "applies": applies,
            "versions_differ": differ,
        },
        "excursions": [excursion_dict(f, places[f.placement]) for f in report.excursions],
        "gaps": [gap_dict(g, places[g.placement].timezone) for g in report.gaps],
        "invalid_readings": [invalid_dict(i, places[i.placement].timezone) for i in report.invalid],
        "custody_gaps": [custody_gap_dict(g) for g in report.custody_gaps],
        "mkt": mkt_dict(delta_h),
        "device_reports": [
            device_report_dict(c) for p in report.placements for c in p.logger_reports
        ],
        "conflicting_readings": conflict_rows(
            report.conflicts, {i: p.timezone for i, p in places.items()}
        ),
        # #22: each probe's certificates in force, the correction, readings past due.
        "calibration": calibration_rows(report),
    }


def record_zone(record: BatchRecord) -> str:
    """The zone the header's times are shown in: the first placement's (UTC without one)."""
    return record.placements[0].timezone if record.placements else "UTC"


#: The sponsor's decision a deviation's state shows (None: not decided, or assessed again).
_SPONSOR_DECISIONS = {"agreed": "agreed", "closed": "agreed", "disputed": "disputed"}


def deviation_fields(deviation: Deviation, when: Callable[[datetime], Any]) -> dict[str, Any]:
    """A deviation's one shape, the record's (`deviation_dict`) and the API's
    (`api.convert.deviation_public`), each time as `when` gives it. `findings` are exactly
    as the assessment signed them (id, kind, where, the covered span in UTC, alert), so
    `coldchain verify` can hash the assessment again from the file (esignatures.py);
    `signatures`: their ids."""
    return {
        "id": deviation.id,
        "number": deviation.number,
        "batch": deviation.batch,
        "sponsor": deviation.sponsor,
        "state": deviation.state,
        "title": deviation.title,
        "opened_at": when(deviation.opened_at),
        "opened_by": deviation.opened_by,
        "reason": deviation.reason,
        "stability_reference": deviation.stability_reference,
        "impact": deviation.impact,
        "sponsor_decision": _SPONSOR_DECISIONS.get(deviation.state),
        "sponsor_comment": deviation.sponsor_comment,
        "updated_at": when(deviation.updated_at),
        "findings": [f.content() for f in deviation.findings],
        "history": [
            {
                "at": when(h.at),
                "state": h.state,
                "actor": h.actor,
                "comment": h.comment,
                "signature": h.signature_id,
            }
            for h in deviation.history
        ],
        "signatures": [s.id for s in deviation.signatures],
    }


def deviation_dict(deviation: Deviation, zone: str) -> dict[str, Any]:
    """A deviation as the record shows it: `deviation_fields` with its times in the
    place's `zone`; `signatures` are ids in the record's signature manifest."""
    return deviation_fields(deviation, lambda moment: when_dict(moment, zone))


def release_dict(release: ReleaseDecision | None, zone: str) -> dict[str, Any] | None:
    """QA's signed release decision (None: not decided); `signature`: its id in the
    manifest."""
    if release is None:
        return None
    return {
        "batch": release.batch,
        "decision": release.decision,
        "comment": release.comment,
        "decided_at": when_dict(release.decided_at, zone),
        "decided_by": release.decided_by,
        "signature": release.signature.id,
    }


def manifest_dict(record: BatchRecord) -> dict[str, Any]:
    """The batch's deviations, release decision and signature manifest (every signature
    with its signed content and seal, `Signature.manifest()`): what every format carries
    machine-readable inside its sealed body for `coldchain verify` (esignatures.py)."""
    zone = record_zone(record)
    return {
        "batch": record.batch,
        "deviations": [deviation_dict(d, zone) for d in record.deviations],
        "release": release_dict(record.release, zone),
        "signatures": [s.manifest() for s in record.signatures],
    }
