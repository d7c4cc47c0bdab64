"""When a budget account reached a share (#22, `crossing_ms`): the instant a budget alert
starts, from the account's charges in time order (readings run by run, manual entries over
their spans, carried-in time at the account's opening) and the freeze events; and the
runs a probe's statistics keep for it (stats.py `band_runs`)."""

from __future__ import annotations

import numpy as np
import pytest

from api.export.stats import SensorAccumulator
from coldchain.judgement.budget import Band, Budget, Charge, ChargeSource, crossing_ms
from coldchain.judgement.limits import Limits
from coldchain.judgement.validity import ReadingValidity

MIN = 60_000
BUDGET = Budget((Band(-5.0, 2.0, 1.0), Band(8.0, 25.0, 2.0)), freeze_c=0.0, freeze_allowed=2)
SINCE = -1_000 * MIN  # the account opened (first placement)


def _charge(
    band: int | None,
    start_min: int | None,
    end_min: int | None,
    *,
    hours: float = 0.0,
    source: ChargeSource = "readings",
) -> Charge:
    start = None if start_min is None else start_min * MIN
    end = None if end_min is None else end_min * MIN
    if start is not None and end is not None and end > start:
        hours = (end - start) / (60 * MIN)
    return Charge(source, band, start, end, hours, "test")


WARM = [_charge(1, 60, 130), _charge(1, 180, 215), _charge(1, 300, 330)]  # 70, 35, 30 min


@pytest.mark.parametrize(("share", "minute"), [(0.5, 120), (0.8, 206), (1.0, 315)])
def test_a_band_crosses_where_its_runs_in_time_order_add_up_to_the_share(
    share: float, minute: int
) -> None:
    assert crossing_ms(BUDGET, WARM, [], share, since_ms=SINCE) == minute * MIN


def test_a_share_not_reached_has_no_crossing() -> None:
    assert crossing_ms(BUDGET, WARM, [], 1.2, since_ms=SINCE) is None


def test_carried_in_time_counts_at_the_opening_and_a_manual_entry_over_its_span() -> None:
    carried = _charge(1, None, None, hours=0.5, source="carried_in")  # 25 % at the opening
    manual = _charge(1, 400, 460, source="manual")  # 50 % more, evenly over an hour
    assert crossing_ms(BUDGET, [carried, manual], [], 0.25, since_ms=SINCE) == SINCE
    assert crossing_ms(BUDGET, [carried, manual], [], 0.5, since_ms=SINCE) == 430 * MIN
    # the entry overlapping the readings' run adds to it: both charge the band
    both = crossing_ms(
        BUDGET, [*WARM, _charge(1, 100, 160, source="manual")], [], 0.5, since_ms=SINCE
    )
    assert both == 110 * MIN  # 50 min of run and 10 of entry by 01:50: the 60 min needed


def test_time_in_no_band_is_over_at_once_where_it_begins() -> None:
    outside = [*WARM, _charge(None, 90, 95)]
    assert crossing_ms(BUDGET, outside, [], 1.0, since_ms=SINCE) == 90 * MIN


def test_freeze_events_cross_at_the_one_that_reaches_the_share() -> None:
    freezes = [500 * MIN, 700 * MIN]  # 2 allowed: the first is 50 %, the second 100 %
    assert crossing_ms(BUDGET, [], freezes, 0.5, since_ms=SINCE) == 500 * MIN
    assert crossing_ms(BUDGET, [], freezes, 0.8, since_ms=SINCE) == 700 * MIN
    none_allowed = Budget(BUDGET.bands, freeze_c=0.0, freeze_allowed=0)
    assert crossing_ms(none_allowed, [], freezes, 0.5, since_ms=SINCE) == 500 * MIN


def test_a_probe_keeps_its_out_of_range_time_as_runs_per_band() -> None:
    acc = SensorAccumulator(
        start_ms=0,
        end_ms=10 * MIN,
        interval_ms=MIN,
        limits=Limits(low_c=2.0, high_c=8.0, alarm_delay_ms=30 * MIN, label="VAX"),
        delta_h_kj_per_mol=83.144,
        validity=ReadingValidity(error_values_c=(), probe_min_c=-100.0, probe_max_c=70.0),
        budget=BUDGET,
    )
    temps = [5.0, 12.0, 12.0, 30.0, 12.0, 5.0, 1.0, 1.0, 12.0, 12.0]
    for i in range(0, 10, 3):  # runs go on across chunks
        acc.add((np.arange(i, min(i + 3, 10)) * MIN).astype(np.int64), np.array(temps[i : i + 3]))
    runs = acc.finish().band_runs
    assert [(b, s // MIN, e // MIN) for b, s, e in runs] == [
        (1, 1, 3),
        (2, 3, 4),
        (1, 4, 5),
        (0, 6, 8),
        (1, 8, 10),
    ]
