"""Time out of range split by budget band, and freeze events counted per excursion, in one
sensor's statistics (stats.py) and combined over probes and placements (summary.py)."""

from __future__ import annotations

import numpy as np
import pytest

from api.export.stats import SensorAccumulator, SensorSummary
from api.export.summary import combine
from coldchain.judgement.budget import Band, Budget
from coldchain.judgement.limits import Limits
from coldchain.judgement.validity import ReadingValidity

MIN = 60_000
LIMITS = Limits(low_c=2.0, high_c=8.0, alarm_delay_ms=30 * MIN, label="product VAX")
VALIDITY = ReadingValidity(error_values_c=(-127.0, 85.0), probe_min_c=-100.0, probe_max_c=70.0)
BUDGET = Budget((Band(0.0, 2.0, 2.0), Band(8.0, 25.0, 72.0)), freeze_c=0.0, freeze_allowed=0)


def _run(temps: list[float], *, chunk: int = 1000) -> SensorSummary:
    """One reading a minute from minute 0, the placement ending a minute after the last."""
    acc = SensorAccumulator(
        start_ms=0,
        end_ms=len(temps) * MIN,
        interval_ms=MIN,
        limits=LIMITS,
        delta_h_kj_per_mol=83.144,
        validity=VALIDITY,
        budget=BUDGET,
    )
    t = (np.arange(len(temps)) * MIN).astype(np.int64)
    v = np.array(temps, dtype=np.float64)
    for i in range(0, len(t), chunk):
        acc.add(t[i : i + chunk], v[i : i + chunk])
    return acc.finish()


def test_time_out_of_range_goes_to_the_band_holding_each_reading() -> None:
    # 5 min in range, 3 at 12 °C (8–25 band), 2 at 1 °C (0–2 band), 1 at 30 °C (no band).
    summary = _run([5.0] * 5 + [12.0] * 3 + [1.0] * 2 + [30.0])
    assert [ms / MIN for ms in summary.band_ms] == [2.0, 3.0, 1.0]
    assert sum(summary.band_ms) == summary.above_ms + summary.below_ms


def test_a_freeze_event_is_one_run_of_readings_at_or_below_freeze_c_across_chunks() -> None:
    temps = [5.0, 0.0, -1.0, -2.0, 1.0, 5.0, -0.5, 5.0]
    assert _run(temps).freeze_events == 2
    assert _run(temps, chunk=2).freeze_events == 2  # the run 0, -1, -2 spans two chunks


def test_a_placement_takes_each_bands_worst_probe_and_a_path_sums_placements() -> None:
    warm = _run([12.0] * 3 + [1.0] + [5.0] * 2)  # minutes per band: 1, 3, none
    cold = _run([12.0] * 2 + [1.0] * 2 + [-1.0] + [5.0])  # 2, 2, 1 in no band; a freeze
    placement = combine([[warm, cold]], 83.144, chain=False)
    assert [h * 60 for h in placement.band_h] == pytest.approx([2.0, 3.0, 1.0])
    assert placement.freeze_events == 1
    path = combine([[warm, cold], [warm]], 83.144, chain=True)
    assert [h * 60 for h in path.band_h] == pytest.approx([3.0, 6.0, 1.0])
    assert path.freeze_events == 1


def test_a_reading_on_a_bands_edge_is_charged_where_the_account_puts_it() -> None:
    """Closed bands, the lower of two on a shared edge (`Budget.band_of`): 25 °C is within
    the 8–25 band (the old single form's limit always was), 0 °C in the 0–2 band, 25.5 in
    none."""
    edges = [25.0, 0.0, 25.5]
    summary = _run([5.0, *edges])
    assert [ms / MIN for ms in summary.band_ms] == [1.0, 1.0, 1.0]
    assert [BUDGET.band_of(t) for t in edges] == [1, 0, None]
    shared = Budget((Band(8.0, 15.0, 1.0), Band(15.0, 25.0, 1.0)))
    assert shared.band_of(15.0) == 0
