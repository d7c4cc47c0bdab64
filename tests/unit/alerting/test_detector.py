"""The evaluation core on hand-made series: what alarms, what does not, and when."""

from __future__ import annotations

import math

import orjson
import pytest

from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.episodes import AlertChange
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Segment
from coldchain.config import Settings
from coldchain.judgement.limits import Limits
from coldchain.models import DeviceStatus, Reading, SensorKey, SourceKind

KEY = SensorKey("S", "unit", "U1", "p1")
T0 = 1_763_800_000_000
MIN = 60_000


def _detector() -> Detector:
    timeline = ConditionTimeline(
        {KEY: [Segment(FAR_PAST, FAR_FUTURE, Limits(2.0, 8.0, 30 * MIN, "VAX"), True)]}
    )
    detector = Detector(DetectorConfig.from_settings(Settings()), timeline)
    detector.register_catalog(T0)
    return detector


def _feed(detector: Detector, values: dict[int, float], minutes: int) -> list[AlertChange]:
    """One reading a minute (value by minute, else a healthy wobble), ticking the clock."""
    changes: list[AlertChange] = []
    for m in range(minutes):
        ts = T0 + m * MIN
        if m in values and math.isnan(values[m]):
            changes += detector.tick(ts)
            continue
        value = values.get(m, 5.0 + 0.2 * math.sin(m / 2.0))
        changes += detector.tick(ts)  # the clock runs on its own, every second in the service
        changes += detector.process([Reading("S", SourceKind.UNIT, "U1", "p1", ts, value, m)], ts)
    return changes


def _alarms(changes: list[AlertChange], kind: str = "excursion") -> list[AlertChange]:
    return [c for c in changes if c.kind == kind and c.severity == "alarm"]


def test_a_short_door_opening_raises_no_alarm() -> None:
    changes = _feed(_detector(), {60: 10.0, 61: 11.0, 62: 9.0}, 120)
    assert _alarms(changes) == []


def test_a_sustained_excursion_alarms_after_the_delay_with_its_true_start() -> None:
    changes = _feed(_detector(), {m: 9.0 + m / 100 for m in range(60, 100)}, 120)
    opened, resolved = _alarms(changes)
    assert (opened.state, opened.start_ms) == ("open", T0 + 60 * MIN)
    assert T0 + 89 * MIN <= opened.at_ms <= T0 + 90 * MIN
    assert (resolved.state, resolved.end_ms, resolved.peak_c) == ("resolved", T0 + 100 * MIN, 9.99)
    assert not opened.retrospective


def test_an_alarm_dancing_around_the_limit_stays_one_alert_until_cleared() -> None:
    sustained = {m: 8.4 for m in range(30, 70)}
    dancing = {m: (8.4 if m % 2 else 7.9) for m in range(70, 150)}
    changes = _feed(_detector(), sustained | dancing, 200)
    opened, resolved = _alarms(changes)
    assert (opened.state, opened.start_ms) == ("open", T0 + 30 * MIN)
    assert (resolved.state, resolved.end_ms) == ("resolved", T0 + 150 * MIN)


def test_a_value_dancing_around_the_limit_without_ever_lasting_the_delay_is_no_alarm() -> None:
    # The delay is continuous time beyond the limit: each minute at 8.4 ends at the next 7.9.
    dancing = {m: (8.4 if m % 2 else 7.9) for m in range(30, 150)}
    assert _alarms(_feed(_detector(), dancing, 200)) == []


def test_two_blips_hours_apart_with_the_unit_just_inside_between_are_no_alarm() -> None:
    # Hysteresis clears only an active alarm: 7.8 °C (inside, but within the hysteresis of
    # 8.0) ends a pending excursion, so two 5-minute blips three hours apart stay blips.
    values = {m: 7.8 for m in range(20, 260)}
    values |= {m: 8.2 for m in range(30, 35)} | {m: 8.2 for m in range(215, 220)}
    changes = _feed(_detector(), values, 280)
    assert _alarms(changes) == []


def test_a_silent_sensor_is_missing_data_then_resolved_when_it_reports() -> None:
    changes = _feed(_detector(), {m: math.nan for m in range(10, 50)}, 60)
    missing = [c for c in changes if c.kind == "missing_data"]
    assert [c.state for c in missing] == ["open", "resolved"]
    assert missing[0].start_ms == T0 + 9 * MIN
    assert missing[1].end_ms == T0 + 51 * MIN  # the first tick after data came back


@pytest.mark.parametrize(
    ("values", "reason"),
    [
        ({m: -127.0 for m in range(20, 25)}, "error code -127"),
        ({m: 5.55 for m in range(20, 90)}, "stuck"),
    ],
)
def test_sensor_faults_are_faults_not_excursions(values: dict[int, float], reason: str) -> None:
    changes = _feed(_detector(), values, 100)
    faults = _alarms(changes, "sensor_fault")
    assert faults
    assert reason in str(faults[0].detail["reason"])
    assert _alarms(changes) == []


def test_a_steady_rise_is_forecast_before_the_limit_is_crossed() -> None:
    rising = {m: 5.0 + (m - 30) * 0.06 for m in range(30, 90)}  # crosses 8 °C at minute 80
    changes = _feed(_detector(), rising, 90)
    forecast = [c for c in changes if c.kind == "forecast" and c.state == "open"]
    assert forecast
    assert forecast[0].at_ms < T0 + 80 * MIN


def test_restored_state_neither_repeats_nor_forgets_an_alert() -> None:
    first = _detector()
    values = {m: 9.5 for m in range(20, 80)}
    before = _feed(first, {m: v for m, v in values.items() if m < 40}, 40)
    assert _alarms(before) == []  # pending: 20 of 30 minutes
    saved = list(first.snapshot().values())
    second = _detector()
    second.restore(saved, T0 + 40 * MIN)
    after: list[AlertChange] = []
    for m in range(35, 100):  # the broker resends from minute 35 on
        ts = T0 + m * MIN
        reading = Reading("S", SourceKind.UNIT, "U1", "p1", ts, values.get(m, 5.0), m)
        after += second.process([reading], ts) + second.tick(ts)
    opened = [c for c in _alarms(after) if c.state == "open"]
    assert len(opened) == 1
    assert opened[0].start_ms == T0 + 20 * MIN


def test_state_persists_sensor_keys_as_lists_and_restores_them_named() -> None:
    """Rows the state store wrote before SensorKey existed must still load: the JSON form
    of a key stays its plain list, and a restored key is a SensorKey again."""
    first = _detector()
    _feed(first, {}, 5)
    saved = first.snapshot()
    assert list(saved) == ["S/unit/U1/p1"]
    raw = orjson.loads(orjson.dumps(saved["S/unit/U1/p1"], option=orjson.OPT_SERIALIZE_NUMPY))
    assert raw["key"] == ["S", "unit", "U1", "p1"]
    second = _detector()
    second.restore([raw], T0 + 5 * MIN)
    assert second.sensors.index == {KEY: 0}
    assert type(second.sensors.states[0].key) is SensorKey
    assert second.sensors.states[0].key == KEY


def test_a_shuffled_backfill_is_one_retrospective_alarm() -> None:
    detector = _detector()
    _feed(detector, {}, 10)
    now = T0 + 300 * MIN
    chunk = [
        Reading("S", SourceKind.UNIT, "U1", "p1", T0 + m * MIN, 12.0 if 100 <= m < 150 else 5.0, m)
        for m in range(11, 300)
    ]
    changes = detector.process(chunk[200:], now) + detector.process(chunk[:200], now)
    changes += detector.process(chunk[50:120], now) + detector.tick(now + 5_000)
    opened = [c for c in _alarms(changes) if c.state == "open"]
    assert len(opened) == 1
    assert opened[0].retrospective
    assert opened[0].start_ms == T0 + 100 * MIN


def test_low_battery_is_a_device_warning() -> None:
    detector = _detector()
    status = DeviceStatus("S", SourceKind.UNIT, "U1", T0, battery_pct=8.0)
    (change,) = detector.process_status(status, T0)
    assert (change.kind, change.severity, change.key[3]) == ("low_battery", "warning", "*")


def test_a_backfilled_excursion_reports_its_peak_after_the_delay_ran_out() -> None:
    """A logger's late page (older than the reorder window) with an excursion inside: the
    retrospective alarm carries the hottest reading of the whole episode, even one that came
    long after the alarm delay had run out; that is what QA compares with the logger."""
    detector = _detector()
    _feed(detector, {m: math.nan for m in range(100, 200)}, 300)  # offline 100..199
    rising = {m: 9.0 + (m - 100) * 0.05 for m in range(110, 190)}  # peak 13.45 at minute 189
    page = [
        Reading(
            "S",
            SourceKind.UNIT,
            "U1",
            "p1",
            T0 + m * MIN,
            rising.get(m, 5.0 + 0.2 * math.sin(m / 2.0)),
            m,
        )
        for m in range(100, 200)
    ]
    now = T0 + 300 * MIN
    changes = detector.process(page, now) + detector.tick(now + 5_000)
    alarms = _alarms(changes)
    assert [c.state for c in alarms] == ["open", "resolved"]
    assert all(c.retrospective for c in alarms)
    assert [c.peak_c for c in alarms] == [pytest.approx(13.45), pytest.approx(13.45)]
    assert alarms[0].start_ms == T0 + 110 * MIN
    assert alarms[1].end_ms == T0 + 190 * MIN
