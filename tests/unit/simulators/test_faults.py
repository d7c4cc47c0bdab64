"""Injected faults show in the readings as a real device would show them, and in the truth."""

from __future__ import annotations

from coldchain.models import SourceKind
from tests.unit.simulators.factories import HOUR_MS, QUIET, START_MS, fleet, run, unit


def _window(hours_from: float, hours_to: float) -> tuple[int, int]:
    return START_MS + int(hours_from * HOUR_MS), START_MS + int(hours_to * HOUR_MS)


def test_disconnected_probe_reports_its_error_value_and_is_a_sensor_fault() -> None:
    faults = [{"kind": "probe_disconnected", "at": "1h", "duration": "30m", "sensor": "p2"}]
    result = run(fleet([unit(**QUIET, faults=faults)]), 3 * HOUR_MS)
    start, end = _window(1, 1.5)
    inside = [v for t, v in result.values("F1", "p2") if start <= t < end]
    outside = [v for t, v in result.values("F1", "p2") if not start <= t < end]
    assert inside
    assert set(inside) == {-127.0}
    assert -127.0 not in outside
    assert -127.0 not in [v for _, v in result.values("F1", "p1")]
    (event,) = result.events("sensor_fault")
    assert event.sensor[3] == "p2"
    assert (event.start_ms, event.end_ms) == (start, end)
    assert event.detail["fault"] == "probe_disconnected"
    assert event.detail["error_value_c"] == -127.0


def test_stuck_sensor_repeats_one_value() -> None:
    faults = [{"kind": "stuck_sensor", "at": "1h", "duration": "1h", "sensor": "p1"}]
    result = run(fleet([unit(**QUIET, faults=faults)]), 3 * HOUR_MS)
    start, end = _window(1, 2)
    inside = [v for t, v in result.values("F1", "p1") if start <= t < end]
    assert len(inside) == 60
    assert len(set(inside)) == 1
    assert result.events("sensor_fault")[0].detail["fault"] == "stuck_sensor"


def test_clock_skew_moves_device_timestamps() -> None:
    faults = [{"kind": "clock_skew", "at": "1h", "duration": "1h", "skew_s": 600}]
    result = run(fleet([unit(**QUIET, faults=faults)]), 3 * HOUR_MS)
    skewed = [
        (m.due_ms, r.ts_ms)
        for m in result.batches
        for r in m.readings
        if START_MS + HOUR_MS <= m.due_ms < START_MS + 2 * HOUR_MS
    ]
    assert skewed
    assert all(ts - due == 600_000 for due, ts in skewed)
    assert len(result.events("clock_skew")) == 2  # one per sensor


def test_low_battery_shows_in_status_messages() -> None:
    faults = [{"kind": "low_battery", "at": "1h", "duration": "1h", "level_pct": 7}]
    result = run(fleet([unit(**QUIET, faults=faults)]), 3 * HOUR_MS)
    levels = {m.due_ms: m.status.battery_pct for m in result.statuses}
    assert levels[START_MS + HOUR_MS] == 7
    assert levels[START_MS + 2 * HOUR_MS] == 100
    assert result.events("low_battery")[0].detail["level_pct"] == 7


def test_gateway_offline_loses_readings_leaves_a_seq_gap_and_says_so() -> None:
    result = run(
        fleet(
            [unit(**QUIET)],
            faults=[{"kind": "gateway_offline", "site": "BSL", "at": "1h", "duration": "30m"}],
        ),
        3 * HOUR_MS,
    )
    start, end = _window(1, 1.5)
    times = [t for t, _ in result.values("F1", "p1")]
    assert not [t for t in times if start <= t < end]
    seqs = [r.seq for m in result.batches for r in m.readings]
    assert seqs == sorted(seqs)
    assert seqs[-1] + 1 > len(seqs)
    states = [(m.due_ms, m.state) for m in result.gateway]
    assert states == [(start, "offline"), (end, "online")]
    assert {e.sensor[3] for e in result.events("gateway_offline")} == {"p1", "p2"}


def test_door_left_open_is_an_excursion_that_should_alarm() -> None:
    faults = [{"kind": "door_left_open", "at": "1h", "duration": "1h"}]
    result = run(fleet([unit(**QUIET, faults=faults)]), 4 * HOUR_MS)
    assert any(e.alarm_expected for e in result.events("excursion"))
    (door,) = [e for e in result.events("door_left_open") if e.sensor[3] == "p2"]
    assert door.peak_c is not None
    assert door.peak_c > 8.0


def test_random_faults_come_from_the_seed() -> None:
    the_fleet = fleet(
        [unit(f"F{i}", **QUIET) for i in range(10)], random_faults={"per_unit_per_day": 2.0}
    )
    first = run(the_fleet, 24 * HOUR_MS, seed=5).truth
    again = run(the_fleet, 24 * HOUR_MS, seed=5).truth
    other = run(the_fleet, 24 * HOUR_MS, seed=6).truth
    assert first == again
    assert first != other
    assert any(e.detail.get("origin") == "random" for e in first)
    assert all(e.sensor[1] == SourceKind.UNIT.value for e in first)
