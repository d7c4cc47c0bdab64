"""Excursions recomputed from the readings against the detector's alerts, and gaps against
its missing-data alerts: the two must agree, and a disagreement is itself a finding.

Matching is per sensor and by time: an alarm-level detector alert (kind `excursion`)
matches the recomputed excursions it overlaps, with a tolerance of two logging intervals
(the detector may only have seen a reading later). One alert may cover several recomputed
excursions, because the detector's hysteresis and clear time merge a value dancing around
a limit into one alert (alerting/episodes.py).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from api.export.record import AlertInfo, SensorRef
from api.export.stats import Excursion, Gap
from coldchain.times import to_ms

__all__ = ["ExcursionFinding", "GapFinding", "reconcile_excursions", "reconcile_gaps"]


@dataclass(frozen=True, slots=True)
class ExcursionFinding:
    """One row of the excursion table.

    Attributes:
        excursion: as recomputed from the readings; None when only the detector saw it.
        alert: the detector's alert it matches; None when the detector raised none.
        agreement: "agree", "readings only" (an alarm excursion without an alert),
            "detector only" (an alert the readings do not show), "start differs", or
            "brief" (shorter than the alarm delay, no alert expected, none raised).
    """

    placement: int
    sensor: SensorRef
    excursion: Excursion | None
    alert: AlertInfo | None
    agreement: str

    @property
    def counts(self) -> bool:
        """An alarm-level excursion that needs an explanation before release."""
        return self.agreement != "brief"

    @property
    def explained(self) -> bool:
        return self.alert is not None and self.alert.explained

    @property
    def disagrees(self) -> bool:
        return self.agreement in ("readings only", "detector only", "start differs")


@dataclass(frozen=True, slots=True)
class GapFinding:
    """A gap and the QA-closed missing-data alert that explains it, if any."""

    placement: int
    sensor: SensorRef
    gap: Gap
    explained_by: AlertInfo | None


def _ms(moment: datetime | None) -> float:
    return float("inf") if moment is None else to_ms(moment)


def _overlaps(alert: AlertInfo, start_ms: int, end_ms: int, tolerance_ms: int) -> bool:
    return _ms(alert.start) <= end_ms + tolerance_ms and _ms(alert.end) >= start_ms - tolerance_ms


def reconcile_excursions(
    placement: int,
    sensor: SensorRef,
    excursions: list[Excursion],
    alerts: list[AlertInfo],
    *,
    window: tuple[int, int],
) -> list[ExcursionFinding]:
    """The excursion table of one sensor in one placement (`window` = [start, end) ms)."""
    tolerance = 2 * sensor.log_interval_s * 1000
    alarms = [
        a
        for a in alerts
        if a.kind == "excursion"
        and a.severity == "alarm"
        and a.sensor == sensor
        and _overlaps(a, window[0], window[1], 0)
    ]
    findings: list[ExcursionFinding] = []
    seen: set[str] = set()
    for excursion in excursions:
        match = next(
            (a for a in alarms if _overlaps(a, excursion.start_ms, excursion.end_ms, tolerance)),
            None,
        )
        if match is None:
            agreement = "readings only" if excursion.alarm else "brief"
        elif match.id not in seen and abs(_ms(match.start) - excursion.start_ms) > tolerance:
            agreement = "start differs"
        else:
            agreement = "agree"
        if match is not None:
            seen.add(match.id)
        findings.append(ExcursionFinding(placement, sensor, excursion, match, agreement))
    for alert in alarms:
        if alert.id not in seen:
            findings.append(ExcursionFinding(placement, sensor, None, alert, "detector only"))
    findings.sort(key=_start_of)
    return findings


def _start_of(finding: ExcursionFinding) -> float:
    if finding.excursion is not None:
        return finding.excursion.start_ms
    return _ms(None if finding.alert is None else finding.alert.start)


def reconcile_gaps(
    placement: int, sensor: SensorRef, gaps: list[Gap], alerts: list[AlertInfo]
) -> list[GapFinding]:
    """Each gap with the QA-closed missing-data alert on the same sensor that overlaps it."""
    missing = [a for a in alerts if a.kind == "missing_data" and a.sensor == sensor and a.explained]
    return [
        GapFinding(
            placement,
            sensor,
            gap,
            next((a for a in missing if _overlaps(a, gap.start_ms, gap.end_ms, 0)), None),
        )
        for gap in gaps
    ]
