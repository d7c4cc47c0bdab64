"""The record's excursions against the detector's alarms, gaps against its missing-data
alerts, invalid readings against its sensor-fault alerts: the record and the detector run
the same rules (coldchain.judgement), so they must agree, and a disagreement is itself a
finding.

Matching is per probe and by time: an alarm-level excursion alert matches the excursion it
overlaps on that probe, with a tolerance of two logging intervals (the detector may only
have seen a reading later). The detector judges each probe on its own, so an excursion
joined across a hand-over (excursions.py) can be an alarm that no probe alone raised.

An alarm raised while the place held other products and its limits were not the batch's
product's own (`AlertInfo.other_limits`) is about someone else's condition: it explains an
alarm excursion of this product it overlaps, and is otherwise context, never a finding
against this product.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime

from api.export.excursions import RecordExcursion
from api.export.invalid import InvalidRun
from api.export.record import AlertInfo, PlacementInfo, SensorRef
from api.export.stats import Gap
from coldchain.times import to_ms

__all__ = [
    "ACROSS_HAND_OVER",
    "AGREE",
    "BRIEF",
    "DISAGREEMENTS",
    "OTHER_LIMITS",
    "ExcursionFinding",
    "GapFinding",
    "InvalidFinding",
    "MktWindow",
    "reconcile_excursions",
    "reconcile_gaps",
    "reconcile_invalid",
    "stricter_limits_text",
]

AGREE = "agree"
BRIEF = "brief"  # shorter than the alarm delay, no alarm expected, none raised
ACROSS_HAND_OVER = "across hand-over"  # an alarm only once joined; each probe alone was not
OTHER_LIMITS = "other limits"  # an alarm under another product's condition: context
#: The detector and the readings disagree: an alarm excursion without an alarm, an alarm
#: without an excursion, an alarm that started elsewhere, an alarm on a brief excursion.
DISAGREEMENTS = ("readings only", "detector only", "start differs", "alarm on a brief excursion")
READINGS_ONLY, DETECTOR_ONLY, START_DIFFERS, ALARMED_BRIEF = DISAGREEMENTS


def stricter_limits_text(place: PlacementInfo) -> str:
    """How a record names the limits of an `OTHER_LIMITS` alarm: never the other product or
    its condition, which belong to another sponsor."""
    where = "unit" if place.kind == "unit" else "shipment"
    return f"stricter limits of another product in the {where}"


@dataclass(frozen=True, slots=True)
class MktWindow:
    """The MKT over an excursion's evaluation window (mktwindow.py), as clipped."""

    start_ms: int
    end_ms: int
    mkt_c: float | None


@dataclass(frozen=True, slots=True)
class ExcursionFinding:
    """One row of the excursion table.

    Attributes:
        placement, sensor: where it was first seen (the alert's probe for an alert alone).
        excursion: as the rule finds it in the readings; None when only the detector saw it.
        alert: the detector's alarm it matches; None when there is none.
        agreement: `AGREE`, `BRIEF`, `ACROSS_HAND_OVER`, `OTHER_LIMITS` or one of
            `DISAGREEMENTS`.
        window: the MKT around an alarm excursion.
    """

    placement: int
    sensor: SensorRef
    excursion: RecordExcursion | None
    alert: AlertInfo | None
    agreement: str
    window: MktWindow | None = None

    @property
    def alarm(self) -> bool:
        """An excursion that lasted the alarm delay (or a detector alarm alone)."""
        return self.excursion.run.alarm if self.excursion is not None else True

    @property
    def explained(self) -> bool:
        return self.alert is not None and self.alert.explained

    @property
    def disagrees(self) -> bool:
        return self.agreement in DISAGREEMENTS


@dataclass(frozen=True, slots=True)
class GapFinding:
    """A gap and the QA-closed missing-data alert that explains it, if any."""

    placement: int
    sensor: SensorRef
    gap: Gap
    explained_by: AlertInfo | None


@dataclass(frozen=True, slots=True)
class InvalidFinding:
    """A run of invalid readings and the QA-closed sensor-fault alert that explains it."""

    placement: int
    sensor: SensorRef
    run: InvalidRun
    explained_by: AlertInfo | None


def _ms(moment: datetime | None) -> float:
    return float("inf") if moment is None else to_ms(moment)


def _overlaps(alert: AlertInfo, start_ms: float, end_ms: float, tolerance_ms: int) -> bool:
    return _ms(alert.start) <= end_ms + tolerance_ms and _ms(alert.end) >= start_ms - tolerance_ms


def _tolerance(sensor: SensorRef) -> int:
    return 2 * sensor.log_interval_s * 1000


def _matches(
    excursion: RecordExcursion, alarms: Sequence[AlertInfo]
) -> list[tuple[AlertInfo, int]]:
    """The alarms on the excursion's probes that overlap its time there, with their leg, in
    leg order; another product's alarm only explains an alarm excursion. An excursion
    joined across a hand-over may have one on each side (the place it left alarmed on its
    own, and the detector carried it on to the next place too)."""
    found = []
    for n, leg in enumerate(excursion.legs):
        first, last = excursion.leg_span(n)
        for alert in alarms:
            if (
                alert.sensor == leg.sensor
                and _overlaps(alert, first, last, _tolerance(leg.sensor))
                and (excursion.run.alarm or not alert.other_limits)
            ):
                found.append((alert, n))
    return found


def reconcile_excursions(
    excursions: Sequence[RecordExcursion],
    alerts: Sequence[AlertInfo],
    probes: Sequence[tuple[PlacementInfo, SensorRef]],
) -> list[ExcursionFinding]:
    """The excursion table: every excursion of the record with the alarm it matches, then
    every alarm on the record's `probes` (placement, sensor) during their placement that
    matched none."""

    def placed(alert: AlertInfo) -> PlacementInfo | None:
        return next(
            (
                p
                for p, s in probes
                if s == alert.sensor and _overlaps(alert, p.start_ms, p.until_ms, 0)
            ),
            None,
        )

    alarms = [
        a
        for a in alerts
        if a.kind == "excursion" and a.severity == "alarm" and placed(a) is not None
    ]
    findings: list[ExcursionFinding] = []
    seen: set[str] = set()
    for excursion in sorted(excursions, key=lambda e: (e.start_ms, e.where)):
        first = excursion.legs[0]
        matches = _matches(excursion, alarms)
        found = matches[0] if matches else None
        if found is None:
            alert = None
            if not excursion.run.alarm:
                agreement = BRIEF
            else:
                agreement = ACROSS_HAND_OVER if len(excursion.legs) > 1 else READINGS_ONLY
        else:
            alert, n = found
            started = excursion.leg_span(n)[0]
            if alert.other_limits:
                agreement = AGREE  # its start and delay were another condition's
            elif not excursion.run.alarm:
                agreement = ALARMED_BRIEF
            elif alert.id not in seen and _starts_elsewhere(alert, excursion, started, n):
                agreement = START_DIFFERS
            else:
                agreement = AGREE
            seen.update(a.id for a, _ in matches)
        findings.append(
            ExcursionFinding(first.placement.index, first.sensor, excursion, alert, agreement)
        )
    for alert in alarms:
        if alert.id not in seen:
            where = placed(alert)
            assert where is not None  # kept above only when placed
            agreement = OTHER_LIMITS if alert.other_limits else DETECTOR_ONLY
            findings.append(ExcursionFinding(where.index, alert.sensor, None, alert, agreement))
    findings.sort(key=_start_of)
    return findings


def _starts_elsewhere(alert: AlertInfo, excursion: RecordExcursion, started: int, n: int) -> bool:
    """The alarm starts neither where the excursion's part on its probe starts nor (an
    alarm carried across a hand-over) where the excursion itself starts."""
    tolerance = _tolerance(excursion.legs[n].sensor)
    return all(abs(_ms(alert.start) - at) > tolerance for at in (started, excursion.start_ms))


def _start_of(finding: ExcursionFinding) -> float:
    if finding.excursion is not None:
        return finding.excursion.start_ms
    return _ms(None if finding.alert is None else finding.alert.start)


def _closed(alerts: Sequence[AlertInfo], kind: str, sensor: SensorRef) -> list[AlertInfo]:
    return [a for a in alerts if a.kind == kind and a.sensor == sensor and a.explained]


def reconcile_gaps(
    placement: int, sensor: SensorRef, gaps: Sequence[Gap], alerts: Sequence[AlertInfo]
) -> list[GapFinding]:
    """Each gap with the QA-closed missing-data alert on the same sensor that overlaps it."""
    missing = _closed(alerts, "missing_data", sensor)
    return [
        GapFinding(
            placement,
            sensor,
            gap,
            next((a for a in missing if _overlaps(a, gap.start_ms, gap.end_ms, 0)), None),
        )
        for gap in gaps
    ]


def reconcile_invalid(
    placement: int, sensor: SensorRef, runs: Sequence[InvalidRun], alerts: Sequence[AlertInfo]
) -> list[InvalidFinding]:
    """Each run of invalid readings with the QA-closed sensor-fault alert on the same sensor
    that overlaps it (the detector raises one on every invalid reading)."""
    faults = _closed(alerts, "sensor_fault", sensor)
    return [
        InvalidFinding(
            placement,
            sensor,
            run,
            next((a for a in faults if _overlaps(a, run.start_ms, run.end_ms, 0)), None),
        )
        for run in runs
    ]
