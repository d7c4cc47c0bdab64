"""Alarm profiles in the one excursion rule (coldchain.judgement): separate high and low
delays, a zero-delay critical limit, the profile's own alert limits, and how profiles that
apply at once combine; the rule as the record runs it (`ExcursionTracker`) and as the
detector runs it (`Detector`), on hand-made series, one reading a minute."""

from __future__ import annotations

from typing import Any

import pytest
from pydantic import ValidationError

from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.episodes import AlertChange
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Segment
from coldchain.config import Settings
from coldchain.fleet import Product
from coldchain.judgement.excursion import Excursion, ExcursionRule, ExcursionTracker
from coldchain.judgement.limits import Limits, severity_of
from coldchain.judgement.profiles import AlarmProfile, apply_profile, strictest_profile
from coldchain.models import Reading, SensorKey, SourceKind

KEY = SensorKey("S", "unit", "U1", "p1")
T0 = 1_763_800_000_000
MIN = 60_000
SETTINGS = Settings()
VAX = Limits(2.0, 8.0, 30 * MIN, "VAX")
PROFILE = AlarmProfile(
    warning_low_c=3.0,
    warning_high_c=7.0,
    high_delay_min=20,
    low_delay_min=5,
    critical_low_c=0.0,
    critical_high_c=15.0,
)
PROFILED = apply_profile(VAX, PROFILE)


def _series(values: dict[int, float], minutes: int) -> list[tuple[int, float]]:
    """One reading a minute: `values` by minute, 5 °C otherwise."""
    return [(T0 + m * MIN, values.get(m, 5.0)) for m in range(minutes)]


def _record_alarms(limits: Limits, values: dict[int, float], minutes: int) -> list[Excursion]:
    tracker = ExcursionTracker(ExcursionRule.from_settings(SETTINGS))
    for ts_ms, value_c in _series(values, minutes):
        tracker.add(ts_ms, value_c, limits, MIN)
    return [e for e in [*tracker.finished, tracker.current] if e is not None and e.alarm]


def _detector_changes(limits: Limits, values: dict[int, float], minutes: int) -> list[AlertChange]:
    segment = Segment(FAR_PAST, FAR_FUTURE, limits, True, interval_ms=MIN)
    detector = Detector(DetectorConfig.from_settings(SETTINGS), ConditionTimeline({KEY: [segment]}))
    detector.register_catalog(T0)
    changes: list[AlertChange] = []
    for seq, (ts_ms, value_c) in enumerate(_series(values, minutes)):
        changes += detector.tick(ts_ms)
        reading = Reading("S", SourceKind.UNIT, "U1", "p1", ts_ms, value_c, seq)
        changes += detector.process([reading], ts_ms + 500)
    return changes


def _opened(changes: list[AlertChange], severity: str) -> list[AlertChange]:
    return [
        c for c in changes if c.kind == "excursion" and c.severity == severity and c.state == "open"
    ]


def test_the_high_and_low_delays_differ_in_the_record_and_the_detector() -> None:
    # 10 minutes beyond on each side: past the 5-minute low delay, short of the 20-minute high.
    below = {m: 1.5 for m in range(30, 40)}
    above = {m: 8.5 for m in range(60, 70)}
    record = _record_alarms(PROFILED, below | above, 100)
    assert [(e.direction, e.start_ms, e.alarm_ms) for e in record] == [
        (-1, T0 + 30 * MIN, T0 + 34 * MIN)  # since the last reading inside (29) + 5 min
    ]
    detected = _opened(_detector_changes(PROFILED, below | above, 100), "alarm")
    assert [(c.start_ms, c.detail["limit_c"]) for c in detected] == [(T0 + 30 * MIN, 2.0)]


def test_without_a_profile_both_sides_keep_the_conditions_delay() -> None:
    below = {m: 1.5 for m in range(30, 40)}
    assert _record_alarms(VAX, below, 100) == []
    assert _opened(_detector_changes(VAX, below, 100), "alarm") == []


def test_a_critical_limit_alarms_on_the_first_reading_below_it() -> None:
    values = {30: 1.0, 31: -0.5, 32: 1.0}  # one reading below 0 °C, three beyond the range
    (record,) = _record_alarms(PROFILED, values, 60)
    assert (record.start_ms, record.alarm_ms) == (T0 + 30 * MIN, T0 + 31 * MIN)
    (opened,) = _opened(_detector_changes(PROFILED, values, 60), "alarm")
    assert (opened.start_ms, opened.at_ms, opened.detail["critical"]) == (
        T0 + 30 * MIN,
        T0 + 31 * MIN + 500,
        True,
    )


def test_a_reading_on_the_critical_limit_is_not_beyond_it() -> None:
    values = {30: 0.0, 31: 1.0}
    assert _record_alarms(PROFILED, values, 60) == []
    assert _opened(_detector_changes(PROFILED, values, 60), "alarm") == []


def test_the_profiles_alert_limits_raise_a_warning_where_the_default_band_would_not() -> None:
    # 7.5 °C lies inside the default warning band of 2–8 °C (8 − 0.5) but beyond 7.0 °C.
    values = {m: 7.5 for m in range(30, 90)}
    assert _opened(_detector_changes(VAX, values, 120), "warning") == []
    (warning,) = _opened(_detector_changes(PROFILED, values, 120), "warning")
    assert (warning.start_ms, warning.detail["limit_c"]) == (T0 + 30 * MIN, 7.0)
    assert _opened(_detector_changes(PROFILED, values, 120), "alarm") == []
    assert severity_of(7.5, PROFILED, SETTINGS.detect_warning_margin_c) == "warning"


def test_the_strictest_profile_takes_each_field_from_the_strictest_profile() -> None:
    other = AlarmProfile(warning_low_c=3.5, high_delay_min=30, critical_high_c=12.0, latching=True)
    assert strictest_profile([PROFILE, other]) == AlarmProfile(
        warning_low_c=3.5,
        warning_high_c=7.0,
        high_delay_min=20,
        low_delay_min=5,
        critical_low_c=0.0,
        critical_high_c=12.0,
        latching=True,
    )


def test_a_profile_delay_longer_than_the_conditions_does_not_loosen_it() -> None:
    longer = apply_profile(VAX, AlarmProfile(high_delay_min=60, low_delay_min=10))
    assert (longer.delay_ms(1), longer.delay_ms(-1)) == (30 * MIN, 10 * MIN)


@pytest.mark.parametrize(
    ("profile", "message"),
    [
        ({"warning": {"low_c": 1.0}}, "alarm_profile.warning.low_c 1 does not fit the range 2–8"),
        ({"critical": {"high_c": 7.0}}, "alarm_profile.critical.high_c 7 does not fit the range"),
        ({"warning": {"low_c": 5.0, "high_c": 4.0}}, "low_c 5 must be below high_c 4"),
        (
            {"warning": {"low_c": 3.0}, "critical": {"low_c": 3.0}},
            "critical.low_c must be below warning.low_c",
        ),
        ({"low_delay_min": -1}, "greater than or equal to 0"),
    ],
)
def test_a_profile_that_does_not_fit_its_products_range_is_refused_with_the_reason(
    profile: dict[str, Any], message: str
) -> None:
    product = {"id": "VAX", "sponsor": "ACME", "storage": {"min_c": 2.0, "max_c": 8.0}}
    with pytest.raises(ValidationError, match=message):
        Product.model_validate(product | {"alarm_profile": profile})
