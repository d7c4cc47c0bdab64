"""One sensor's statistics over a placement: the time base, gaps, excursions, edge cases."""

from __future__ import annotations

import numpy as np
import pytest

from api.export.stats import Limits, SensorAccumulator, SensorSummary
from coldchain.mkt import mean_kinetic_temperature

MIN = 60_000
LIMITS = Limits(low_c=2.0, high_c=8.0, alarm_delay_ms=30 * MIN, delta_h_kj_per_mol=83.144)


def _run(
    times_min: list[float],
    temps: list[float],
    *,
    end_min: float,
    interval_min: float = 1,
    chunk: int = 1000,
) -> SensorSummary:
    acc = SensorAccumulator(
        start_ms=0,
        end_ms=int(end_min * MIN),
        interval_ms=int(interval_min * MIN),
        limits=LIMITS,
        chart_buckets=10,
    )
    t = (np.array(times_min) * MIN).astype(np.int64)
    v = np.array(temps, dtype=np.float64)
    for i in range(0, len(t), chunk):
        acc.add(t[i : i + chunk], v[i : i + chunk])
    return acc.finish()


def test_unequal_intervals_weight_each_reading_until_the_next() -> None:
    # Logger at 10-minute interval, readings at 0, 4 and 10 min; placement ends at 20.
    summary = _run([0, 4, 10], [4.0, 6.0, 5.0], end_min=20, interval_min=10)
    assert summary.mean_c == pytest.approx((4 * 4 + 6 * 6 + 5 * 10) / 20)
    assert summary.mkt.value_c() == pytest.approx(
        mean_kinetic_temperature([4.0, 6.0, 5.0], weights=[4, 6, 10])
    )
    assert summary.covered_ms == 20 * MIN
    assert summary.gaps == []


def test_results_do_not_depend_on_how_the_stream_is_chunked() -> None:
    rng = np.random.default_rng(1)
    times = np.cumsum(rng.integers(1, 3, 500)).tolist()
    temps = rng.uniform(0, 12, 500).tolist()
    whole = _run(times, temps, end_min=times[-1] + 1, chunk=1000)
    pieces = _run(times, temps, end_min=times[-1] + 1, chunk=7)
    assert pieces.mean_c == pytest.approx(whole.mean_c)
    assert pieces.mkt.value_c() == pytest.approx(whole.mkt.value_c())
    assert pieces.gaps == whole.gaps
    assert pieces.excursions == whole.excursions
    assert (pieces.above_ms, pieces.below_ms) == (whole.above_ms, whole.below_ms)


def test_a_single_reading_stands_for_one_interval() -> None:
    summary = _run([0.5], [5.0], end_min=1)
    assert (summary.count, summary.min_c, summary.max_c, summary.mean_c) == (1, 5.0, 5.0, 5.0)
    assert summary.mkt.value_c() == pytest.approx(5.0)
    assert summary.covered_ms == 0.5 * MIN  # until the placement ended
    assert summary.present_share == 1.0
    assert summary.gaps == []


def test_an_empty_placement_is_one_gap_and_no_figures() -> None:
    summary = _run([], [], end_min=90)
    assert (summary.count, summary.min_c, summary.mean_c) == (0, None, None)
    assert summary.mkt.value_or_none() is None
    [gap] = summary.gaps
    assert (gap.where, gap.start_ms, gap.end_ms, gap.missing) == ("empty", 0, 90 * MIN, 90)
    assert summary.present_share == 0.0


def test_a_silence_longer_than_the_interval_is_a_gap_and_not_bridged() -> None:
    times = [*range(0, 10), *range(40, 60)]  # nothing from 10 to 39
    summary = _run(times, [5.0] * len(times), end_min=60)
    [gap] = summary.gaps
    assert (gap.where, gap.start_ms, gap.end_ms, gap.missing) == ("between", 9 * MIN, 40 * MIN, 30)
    assert summary.covered_ms == 30 * MIN  # the reading before the gap covers one interval
    assert summary.count == 30
    assert summary.expected == 60


def test_jitter_below_one_and_a_half_intervals_is_not_a_gap() -> None:
    summary = _run([0, 1.4, 2.5, 3.6], [5.0] * 4, end_min=4.5)
    assert summary.gaps == []


def test_late_first_and_early_last_readings_are_gaps_at_the_edges() -> None:
    summary = _run(list(range(10, 20)), [5.0] * 10, end_min=30)
    assert [(g.where, g.start_ms // MIN, g.end_ms // MIN) for g in summary.gaps] == [
        ("start", 0, 10),
        ("end", 19, 30),
    ]


def test_excursion_times_peak_and_alarm_by_the_alarm_delay() -> None:
    temps = [5.0] * 10 + [9.0, 11.5, 10.0] * 12 + [5.0] * 10  # out from 10 to 45
    summary = _run(list(range(len(temps))), temps, end_min=len(temps))
    [exc] = summary.excursions
    assert (exc.start_ms, exc.end_ms) == (10 * MIN, 46 * MIN)
    assert (exc.peak_c, exc.direction, exc.readings, exc.alarm) == (11.5, "above", 36, True)
    assert summary.above_ms == 36 * MIN  # time out of range = the excursion's duration
    brief = _run(list(range(20)), [5.0] * 5 + [1.0] * 5 + [5.0] * 10, end_min=20)
    [cold] = brief.excursions
    assert (cold.direction, cold.peak_c, cold.alarm) == ("below", 1.0, False)


def test_an_excursion_across_a_gap_charges_the_whole_gap_to_out_of_range() -> None:
    summary = _run([0, 1, 2, 30, 31], [5.0, 5.0, 12.0, 5.0, 5.0], end_min=32)
    [exc] = summary.excursions
    assert (exc.start_ms, exc.end_ms) == (2 * MIN, 30 * MIN)
    assert summary.above_ms == 28 * MIN  # nothing showed it back in range before 30
    assert summary.covered_ms == 5 * MIN  # but only five readings' worth was observed


def test_an_excursion_still_open_at_the_end_is_ongoing() -> None:
    summary = _run([0, 1, 2], [5.0, 9.0, 9.5], end_min=60, interval_min=1)
    [exc] = summary.excursions
    assert exc.ongoing
    assert exc.end_ms == 60 * MIN
    assert exc.alarm


def test_chart_buckets_keep_the_peaks() -> None:
    temps = [5.0] * 100
    temps[42] = 14.0
    summary = _run(list(range(100)), temps, end_min=100)
    assert np.nanmax(summary.chart_high) == 14.0
    assert np.nanmin(summary.chart_low) == 5.0
