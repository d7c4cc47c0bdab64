"""Calibration in the detector (#22): a certificate's correction is applied to the readings
before any rule judges them, and `calibration_due` alerts are raised ahead of and at the
due date, once per certificate and level."""

from __future__ import annotations

from alerting.calibration_check import calibration_alert_id, calibration_changes
from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.episodes import AlertChange, AlertKind, Severity
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Segment
from coldchain.config import Settings
from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration, Certificate
from coldchain.judgement.limits import Limits
from coldchain.models import Reading, SensorKey, SourceKind

KEY = SensorKey("S", "unit", "U1", "p1")
T0 = 1_763_800_000_000
MIN = 60_000
DAY = 86_400_000
CAL = Certificate("CAL-123", "Metrolab", T0 - 100 * DAY, T0 + 60 * DAY, 0.3)


def _detector(calibration: Calibration | None) -> Detector:
    segment = Segment(FAR_PAST, FAR_FUTURE, Limits(2.0, 8.0, 30 * MIN, "VAX"), True)
    timeline = ConditionTimeline(
        {KEY: [segment]}, {} if calibration is None else {KEY: calibration}
    )
    detector = Detector(DetectorConfig.from_settings(Settings()), timeline)
    detector.register_catalog(T0)
    return detector


def _feed(detector: Detector, values: list[float]) -> list[AlertChange]:
    changes: list[AlertChange] = []
    for m, value in enumerate(values):
        ts = T0 + m * MIN
        changes += detector.tick(ts)
        changes += detector.process([Reading("S", SourceKind.UNIT, "U1", "p1", ts, value, m)], ts)
    return changes


def test_a_certificate_correction_turns_raw_readings_in_range_into_an_alarm() -> None:
    # 7.8 °C as the probe sends it, 8.1 °C corrected by +0.3: beyond 8 °C for an hour
    values = [5.0 + 0.1 * (m % 2) for m in range(30)] + [7.8 + 0.01 * (m % 2) for m in range(60)]
    uncorrected = _feed(_detector(None), values)
    corrected = _feed(_detector(Calibration.of([CAL])), values)
    assert [c for c in uncorrected if c.kind == AlertKind.EXCURSION and c.severity == "alarm"] == []
    (alarm,) = [c for c in corrected if c.kind == AlertKind.EXCURSION and c.severity == "alarm"]
    assert alarm.start_ms == T0 + 30 * MIN
    assert alarm.peak_c == 7.81 + 0.3


def test_a_warning_n_days_before_the_due_date_and_an_alarm_at_it() -> None:
    calibrations = {KEY: Calibration.of([CAL])}
    due = CAL.due_ms
    assert calibration_changes(calibrations, due - 30 * DAY - 1, warn_days=30) == []
    (warning,) = calibration_changes(calibrations, due - 30 * DAY, warn_days=30)
    assert (warning.state, warning.kind, warning.severity) == ("open", "calibration_due", "warning")
    assert (warning.key, warning.start_ms) == (KEY, due - 30 * DAY)
    assert warning.detail["certificate"] == "CAL-123"
    at_due = calibration_changes(calibrations, due, warn_days=30)
    assert [(c.state, c.severity, c.start_ms) for c in at_due] == [
        ("open", Severity.WARNING, due - 30 * DAY),
        ("open", Severity.ALARM, due),
    ]
    # the same alert every round: the store opens it once
    assert at_due[0].alert_id == warning.alert_id


def test_ids_are_once_per_certificate_and_level() -> None:
    renewed = Certificate("CAL-124", "Metrolab", CAL.due_ms, CAL.due_ms + 365 * DAY)
    ids = {
        calibration_alert_id(KEY, c, s)
        for c in (CAL, renewed)
        for s in (Severity.WARNING, Severity.ALARM)
    }
    assert len(ids) == 4


def test_a_new_certificate_resolves_the_alerts_of_the_one_it_supersedes() -> None:
    renewed = Certificate("CAL-124", "Metrolab", CAL.due_ms + DAY, CAL.due_ms + 365 * DAY)
    changes = calibration_changes({KEY: Calibration.of([CAL, renewed])}, CAL.due_ms + 2 * DAY, 30)
    assert [(c.state, c.alert_id) for c in changes] == [
        ("resolved", calibration_alert_id(KEY, CAL, Severity.WARNING)),
        ("resolved", calibration_alert_id(KEY, CAL, Severity.ALARM)),
    ]


def test_a_bare_due_date_alarms_like_a_certificate() -> None:
    bare = Certificate(None, None, SINCE_EVER_MS, T0)
    changes = calibration_changes({KEY: Calibration.of([bare])}, T0, warn_days=30)
    assert [c.severity for c in changes] == [Severity.WARNING, Severity.ALARM]


def test_a_short_certificate_is_not_warned_of_before_it_was_issued() -> None:
    week = Certificate("CAL-7", "Metrolab", T0, T0 + 7 * DAY)
    changes = calibration_changes({KEY: Calibration.of([week])}, T0 + 7 * DAY, warn_days=30)
    assert [(c.severity, c.start_ms) for c in changes] == [
        (Severity.WARNING, T0),
        (Severity.ALARM, T0 + 7 * DAY),
    ]
