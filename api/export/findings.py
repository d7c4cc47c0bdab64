"""The record's findings and its verdict: an automated screen of the readings against the
product's own storage condition, which QA reviews; it decides nothing.

Every finding has an id, a kind, where and when it happened and a state:
- `open`: QA has to look at it (an excursion beyond the alarm delay, a gap, a custody gap,
  invalid readings, the budget exceeded, the detector and the readings disagreeing, a
  placement without a sensor, a re-sent reading refused because it differed from the stored
  one: `conflicting_readings`, api/export/conflicts.py), also while a deviation that covers
  it is not yet closed (`deviation` names it);
- `cleared`: a closed deviation covers it (coldchain/catalog/deviations.py): by its id and a
  span that holds all of it. A QA-closed alert alone clears nothing: the deviation is where
  QA assesses the impact and the sponsor agrees. A finding that grew past the span its
  deviation covered (late readings) is open again;
- `context`: an alarm the detector raised under another product's tighter limits in a shared
  place; shown, never held against this product;
- `ongoing`: an excursion still running when the record was generated, or a gap up to the
  end of a placement still open (readings may still arrive: a logger awaiting upload).

Excursions shorter than the alarm delay are in the excursion table and charged to the
stability budget, not findings of their own (unless still running).

The id is stable across exports of the same record: a digest of the batch, the kind, where
and the start, so a deviation can name the finding it covers and a later export finds it.

Verdict, exactly one of: `incomplete` (an excursion still running, or a placement still
open, at generation time: the record is not finished), `open findings`, `no open findings`.
"""

from __future__ import annotations

import hashlib
from collections.abc import Sequence
from dataclasses import dataclass, replace
from typing import Any

from api.export.conflicts import ConflictRun
from api.export.reconcile import (
    OTHER_LIMITS,
    ExcursionFinding,
    GapFinding,
    InvalidFinding,
    stricter_limits_text,
)
from api.export.record import AlertInfo, BatchRecord, Coverage, PlacementInfo, SensorRef
from api.export.timeline import Timeline
from coldchain.judgement.budget import BudgetAccount
from coldchain.times import from_ms, to_ms

__all__ = [
    "CLEARED",
    "CONTEXT",
    "INCOMPLETE",
    "NO_OPEN_FINDINGS",
    "ONGOING",
    "OPEN",
    "OPEN_FINDINGS",
    "SCREEN",
    "Finding",
    "collect_findings",
    "describe",
    "finding_id",
    "verdict",
]

OPEN, CLEARED, CONTEXT, ONGOING = "open", "cleared", "context", "ongoing"
NO_OPEN_FINDINGS, OPEN_FINDINGS, INCOMPLETE = "no open findings", "open findings", "incomplete"

#: What the verdict is, said wherever it is shown.
SCREEN = (
    "automated screen of the record against the product's own storage condition; "
    "QA reviews every finding and decides"
)


@dataclass(frozen=True, slots=True)
class Finding:
    """One finding. `zone`: the IANA zone its times are shown in (its place's); `detail`:
    what its kind needs, JSON-ready; `id`: `finding_id`, set with `deviation` (the
    deviation that covers it, e.g. DEV-3) once the record's deviations are applied."""

    kind: str
    start_ms: int | None
    end_ms: int | None
    zone: str
    where: str
    state: str
    detail: dict[str, Any]
    id: str = ""
    deviation: str | None = None


def finding_id(batch: str, kind: str, where: str, start_ms: int | None) -> str:
    """`kind-` and 12 hex digits of SHA-256 over what names the finding in its record."""
    key = f"{batch}|{kind}|{where}|{'-' if start_ms is None else start_ms}"
    return f"{kind}-{hashlib.sha256(key.encode('utf-8')).hexdigest()[:12]}"


def _covers(cover: Coverage, finding: Finding) -> bool:
    """The deviation names this finding and its span holds all of it (an open end only
    covers an open end)."""
    if cover.finding_id != finding.id or cover.start_ms != finding.start_ms:
        return False
    if finding.end_ms is None or cover.end_ms is None:
        return finding.end_ms is None and cover.end_ms is None
    return finding.end_ms <= cover.end_ms


def _judged(finding: Finding, record: BatchRecord) -> Finding:
    """The finding with its id, and cleared when a closed deviation covers it."""
    found = replace(
        finding, id=finding_id(record.batch, finding.kind, finding.where, finding.start_ms)
    )
    covers = [c for c in record.coverage if _covers(c, found)]
    if not covers or found.state in (CONTEXT, ONGOING):
        return found
    closed = next((c for c in covers if c.state == "closed"), None)
    chosen = closed or covers[-1]
    return replace(found, state=CLEARED if closed else OPEN, deviation=chosen.deviation)


def _probe(placement: PlacementInfo, sensor: SensorRef) -> str:
    probe = sensor.sensor if sensor.source == "unit" else f"{sensor.device}/{sensor.sensor}"
    return f"{placement.place} ({probe})"


def _minutes(ms: float) -> float:
    return round(ms / 60_000, 2)


def _span(alert: AlertInfo) -> tuple[int, int | None]:
    return to_ms(alert.start), None if alert.end is None else to_ms(alert.end)


def _within(span: tuple[int, int | None], place: PlacementInfo) -> tuple[int, int]:
    """An alarm's span as far as it concerns this batch: its time in the place. A
    cumulative device rule's alarm has no end; the batch's finding ends where its
    placement does, so a deviation can cover it for good and closing that deviation gives
    the alarm this end, not one that overlaps the logger's later trips."""
    start, end = span
    until = place.until_ms
    return max(start, place.start_ms), until if end is None else min(end, until)


def _still_running(position: str, place: PlacementInfo) -> bool:
    """A gap up to the record's end in a place the batch is still in: readings may yet
    arrive (a logger awaiting upload), so it is not a finding to report yet."""
    return place.end is None and position in ("end", "empty")


def _excursion(f: ExcursionFinding, places: dict[int, PlacementInfo]) -> list[Finding]:
    """An alarm or running excursion, a disagreement, or another product's alarm."""
    place = places[f.placement]
    alert_id = None if f.alert is None else f.alert.id
    found: list[Finding] = []
    exc = f.excursion
    if f.agreement == OTHER_LIMITS:
        assert f.alert is not None
        found.append(
            Finding(
                "excursion",
                *_span(f.alert),
                place.timezone,
                _probe(place, f.sensor),
                CONTEXT,
                {
                    "limits": stricter_limits_text(place),
                    "alert_id": alert_id,
                    "alert_state": f.alert.state,
                    "peak_c": f.alert.peak_c,
                },
            )
        )
    elif exc is not None and (exc.run.alarm or exc.ongoing):
        state = ONGOING if exc.ongoing else OPEN
        found.append(
            Finding(
                "excursion",
                exc.start_ms,
                exc.end_ms,
                place.timezone,
                exc.where,
                state,
                {
                    "direction": exc.direction,
                    "peak_c": exc.run.peak_c,
                    "duration_min": _minutes(exc.duration_ms),
                    "beyond_min": _minutes(exc.run.sustained_ms),
                    "alarm": exc.run.alarm,
                    "ended": exc.ended,
                    "agreement": f.agreement,
                    "alert_id": alert_id,
                    "mkt_window_c": None if f.window is None else f.window.mkt_c,
                },
            )
        )
    if f.disagrees:
        end: int | None
        if exc is not None:
            start, end = exc.start_ms, exc.end_ms
        else:
            assert f.alert is not None  # a finding has an excursion, an alert or both
            start, end = _within(_span(f.alert), place)
        found.append(
            Finding(
                "disagreement",
                start,
                end,
                place.timezone,
                exc.where if exc is not None else _probe(place, f.sensor),
                OPEN,
                {"agreement": f.agreement, "alert_id": alert_id},
            )
        )
    return found


def collect_findings(
    record: BatchRecord,
    timeline: Timeline,
    *,
    excursions: Sequence[ExcursionFinding],
    gaps: Sequence[GapFinding],
    invalid: Sequence[InvalidFinding],
    budget: BudgetAccount,
    conflicts: Sequence[ConflictRun] = (),
) -> list[Finding]:
    """Every finding of the record, in time order."""
    places = {p.index: p for p in record.placements}
    found: list[Finding] = []
    if not record.placements:
        found.append(
            Finding("no_placement", None, None, "UTC", "the batch", OPEN, {"placements": 0})
        )
    for p in record.placements:
        if not p.sensors:
            found.append(
                Finding(
                    "unmonitored",
                    p.start_ms,
                    p.until_ms,
                    p.timezone,
                    p.place,
                    OPEN,
                    {"placement": p.index, "note": "no sensor in the catalog"},
                )
            )
    for gap in timeline.custody_gaps:
        found.append(
            Finding(
                "custody_gap",
                gap.start_ms,
                gap.end_ms,
                gap.before.timezone,
                f"between {gap.before.place} and {gap.after.place}",
                OPEN,
                {
                    "from_placement": gap.before.index,
                    "to_placement": gap.after.index,
                    "duration_min": _minutes(gap.end_ms - gap.start_ms),
                },
            )
        )
    for f in excursions:
        found.extend(_excursion(f, places))
    for g in gaps:
        place = places[g.placement]
        found.append(
            Finding(
                "gap",
                g.gap.start_ms,
                g.gap.end_ms,
                place.timezone,
                _probe(place, g.sensor),
                ONGOING if _still_running(g.gap.where, place) else OPEN,
                {
                    "position": g.gap.where,
                    "duration_min": _minutes(g.gap.duration_ms),
                    "missing_readings": g.gap.missing,
                    "explained_by": None if g.explained_by is None else g.explained_by.id,
                },
            )
        )
    for i in invalid:
        place = places[i.placement]
        found.append(
            Finding(
                "invalid_reading",
                i.run.start_ms,
                i.run.end_ms,
                place.timezone,
                _probe(place, i.sensor),
                OPEN,
                {
                    "readings": i.run.count,
                    "values_c": list(i.run.values),
                    "reasons": list(i.run.reasons),
                    "explained_by": None if i.explained_by is None else i.explained_by.id,
                },
            )
        )
    for c in conflicts:
        place = places[c.placement]
        found.append(
            Finding(
                "conflicting_readings",
                c.start_ms,
                c.end_ms,
                place.timezone,
                _probe(place, c.sensor),
                OPEN,
                {
                    "placement": c.placement,
                    "conflicts": c.total,
                    "note": "re-sent readings with other values were refused; the stored "
                    "readings are the ones judged",
                },
            )
        )
    if budget.exceeded:
        first = min(record.placements, key=lambda p: p.start_ms, default=None)
        found.append(
            Finding(
                "budget",
                None if first is None else first.start_ms,
                max((p.until_ms for p in record.placements), default=None),
                "UTC" if first is None else first.timezone,
                "the whole chain (worst path)",
                OPEN,
                {
                    "charged_h": round(budget.charged_h, 4),
                    "allowed_h": budget.allowed_h,
                    "reasons": list(budget.reasons),
                },
            )
        )
    found.sort(key=lambda f: (-1 if f.start_ms is None else f.start_ms, f.kind, f.where))
    return [_judged(f, record) for f in found]


def verdict(findings: Sequence[Finding], record: BatchRecord) -> str:
    """`incomplete`, `open findings` or `no open findings` (see the module docstring)."""
    if any(f.state == ONGOING for f in findings) or any(p.end is None for p in record.placements):
        return INCOMPLETE
    return OPEN_FINDINGS if any(f.state == OPEN for f in findings) else NO_OPEN_FINDINGS


def _utc(ms: int | None) -> str:
    if ms is None:
        return "…"
    return from_ms(ms).isoformat(timespec="minutes").replace("+00:00", "Z")


def describe(finding: Finding) -> str:
    """One line for a terminal: state, kind, where, when."""
    covered = "" if finding.deviation is None else f" ({finding.deviation})"
    return (
        f"{finding.state}: {finding.kind.replace('_', ' ')}, {finding.where}, "
        f"{_utc(finding.start_ms)} to {_utc(finding.end_ms)}{covered}"
    )
