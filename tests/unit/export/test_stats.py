"""One sensor's statistics over a placement: the time base, gaps, invalid readings, edge
cases (its excursions are the domain rule's: test_excursions.py)."""

from __future__ import annotations

import numpy as np
import pytest

from api.export.invalid import InvalidRun
from api.export.stats import SensorAccumulator, SensorSummary
from coldchain.judgement.limits import Limits
from coldchain.judgement.validity import ReadingValidity
from coldchain.mkt import mean_kinetic_temperature

MIN = 60_000
LIMITS = Limits(low_c=2.0, high_c=8.0, alarm_delay_ms=30 * MIN, label="product VAX")
VALIDITY = ReadingValidity(error_values_c=(-127.0, 85.0), probe_min_c=-100.0, probe_max_c=70.0)


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
        delta_h_kj_per_mol=83.144,
        validity=VALIDITY,
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


def test_a_reading_out_of_range_before_a_gap_charges_the_whole_gap_to_out_of_range() -> None:
    summary = _run([0, 1, 2, 30, 31], [5.0, 5.0, 12.0, 5.0, 5.0], end_min=32)
    assert summary.above_ms == 28 * MIN  # nothing showed it back in range before 30
    assert summary.covered_ms == 5 * MIN  # but only five readings' worth was observed


def test_an_invalid_reading_is_missing_and_enters_no_figure() -> None:
    temps = [5.0] * 60
    temps[30] = 85.0  # a DS18B20 that lost power
    temps[40] = -127.0  # and one that lost its probe
    summary = _run(list(range(60)), temps, end_min=60)
    assert (summary.count, summary.invalid) == (58, 2)
    assert (summary.min_c, summary.max_c, summary.mean_c) == (5.0, 5.0, 5.0)
    assert summary.mkt.value_c() == pytest.approx(5.0)
    assert (summary.above_ms, summary.below_ms) == (0.0, 0.0)
    assert [(g.start_ms // MIN, g.end_ms // MIN, g.missing) for g in summary.gaps] == [
        (29, 31, 1),
        (39, 41, 1),
    ]
    assert summary.invalid_runs == [
        InvalidRun(30 * MIN, 30 * MIN, 1, (85.0,), ("error code 85 °C",)),
        InvalidRun(40 * MIN, 40 * MIN, 1, (-127.0,), ("error code -127 °C",)),
    ]


def test_a_run_of_invalid_readings_spans_chunks_and_lists_its_values() -> None:
    temps = [5.0] * 10 + [85.0, 150.0, 85.0, 85.0] + [5.0] * 10
    summary = _run(list(range(24)), temps, end_min=24, chunk=5)
    [run] = summary.invalid_runs
    assert (run.start_ms // MIN, run.end_ms // MIN, run.count) == (10, 13, 4)
    assert run.values == (85.0, 150.0)
    assert run.reasons == ("error code 85 °C", "outside the probe's range -100…70 °C")


def test_chart_buckets_keep_the_peaks() -> None:
    temps = [5.0] * 100
    temps[42] = 14.0
    summary = _run(list(range(100)), temps, end_min=100)
    assert np.nanmax(summary.chart_high) == 14.0
    assert np.nanmin(summary.chart_low) == 5.0
