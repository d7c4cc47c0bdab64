"""The thermal model behaves like real units: cycling, door spikes, failure drift, defrost."""

from __future__ import annotations

import itertools
import math

from tests.unit.simulators.factories import DAY_MS, HOUR_MS, QUIET, START_MS, fleet, run, unit


def test_healthy_refrigerator_stays_in_range_for_days_despite_door_openings() -> None:
    result = run(fleet([unit(door={"openings_per_day": 48, "mean_open_s": 60})]), 3 * DAY_MS)
    air = [v for _, v in result.values("F1", "p1")]
    glycol = [v for _, v in result.values("F1", "p2")]
    assert len(air) == 3 * 24 * 60
    # The glycol-buffered probe (the product's temperature) never leaves 2-8 °C.
    assert min(glycol) >= 2.0
    assert max(glycol) <= 8.0
    # The air probe shows door spikes above the thermostat's band (5 +- 1)...
    assert max(air) > 6.3
    assert min(air) >= 2.0
    # ...which recover within minutes, so none is an expected alarm.
    for excursion in result.events("excursion"):
        assert excursion.sensor[3] == "p1"
        assert not excursion.alarm_expected
        assert excursion.end_ms is not None
        assert excursion.end_ms - excursion.start_ms < 600_000
    assert 4.5 < sum(air) / len(air) < 5.5


def test_refrigerator_readings_cycle_with_the_compressor() -> None:
    result = run(fleet([unit(**QUIET)]), DAY_MS)
    air = [v for _, v in result.values("F1", "p1")]
    crossings = sum(1 for a, b in itertools.pairwise(air) if a < 5.0 <= b)
    assert 10 <= crossings <= 60  # cycles of 20-120 min, as real refrigerators run
    assert max(air) - min(air) > 1.5


def test_compressor_failure_leaves_range_after_the_thermal_models_delay() -> None:
    sim = {
        **QUIET,
        "ambient_c": 22.0,
        "initial_c": 5.0,
        "thermal": {"thermal_mass_kj_per_k": 40.0, "ua_w_per_k": 2.5},
        "faults": [{"kind": "compressor_failure", "at": 0}],
    }
    result = run(fleet([unit(**sim)]), 6 * HOUR_MS)
    tau_s = 40_000 / 2.5
    expected_s = tau_s * math.log((22.0 - 5.0) / (22.0 - 8.0))  # about 52 minutes
    (excursion,) = [e for e in result.events("excursion") if e.sensor[3] == "p1"]
    delay_s = (excursion.start_ms - START_MS) / 1000
    assert abs(delay_s - expected_s) < 180  # probe lag 60 s, step 30 s
    assert excursion.alarm_expected
    assert excursion.end_ms is None
    (failure,) = [e for e in result.events("compressor_failure") if e.sensor[3] == "p1"]
    assert failure.peak_c is not None
    assert failure.peak_c > 15.0


def test_freezer_defrost_is_visible_and_bounded() -> None:
    result = run(fleet([unit("Z1", "freezer", -20.0, sensors=("p1",), **QUIET)]), 2 * DAY_MS)
    defrosts = result.events("defrost")
    assert len(defrosts) == 6  # every 8 h from 2 h on
    values = result.values("Z1", "p1")
    for event in defrosts:
        assert event.end_ms is not None
        assert not event.alarm_expected
        before = [v for t, v in values if t <= event.start_ms][-1]
        assert event.peak_c is not None
        assert event.peak_c > before + 1.5
        assert event.peak_c < -15.0  # bounded: stays in range
        after = [v for t, v in values if event.end_ms + HOUR_MS <= t < event.end_ms + 2 * HOUR_MS]
        assert max(after) < -17.5  # back to the band within an hour
    assert not result.events("excursion")


def test_ultra_low_holds_through_a_short_power_outage() -> None:
    sim = {**QUIET, "faults": [{"kind": "power_outage", "at": "1h", "duration": "2h"}]}
    result = run(fleet([unit("U1", "ultra_low", -80.0, sensors=("p1",), **sim)]), 8 * HOUR_MS)
    (outage,) = result.events("power_outage")
    assert outage.peak_c is not None
    assert -75.0 < outage.peak_c < -60.0
    assert not result.events("excursion")
