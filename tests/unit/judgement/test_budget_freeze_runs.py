"""Freeze events across a chain of custody (#22, `FreezeRuns`): a run still frozen at a
hand-over and frozen from the first reading after it is one event; a reading above
`freeze_c` between them, or no hand-over (a custody gap), makes two. And how a placement's
probes and a path's placements are combined (summary.py)."""

from __future__ import annotations

import numpy as np
import pytest

from api.export.stats import SensorAccumulator, SensorSummary
from api.export.summary import combine
from coldchain.judgement.budget import Band, Budget, FreezeRuns
from coldchain.judgement.limits import Limits
from coldchain.judgement.validity import ReadingValidity

MIN = 60_000
LIMITS = Limits(low_c=2.0, high_c=8.0, alarm_delay_ms=30 * MIN, label="product VAX")
VALIDITY = ReadingValidity(error_values_c=(-127.0, 85.0), probe_min_c=-100.0, probe_max_c=70.0)
BUDGET = Budget((Band(-5.0, 2.0, 2.0),), freeze_c=0.0, freeze_allowed=0)


def _probe(temps: list[float], start_min: int = 0) -> SensorSummary:
    """A probe fitted over the placement [start, start + len(temps)) minutes, one reading
    a minute."""
    start = start_min * MIN
    acc = SensorAccumulator(
        start_ms=start,
        end_ms=start + len(temps) * MIN,
        interval_ms=MIN,
        limits=LIMITS,
        delta_h_kj_per_mol=83.144,
        validity=VALIDITY,
        budget=BUDGET,
    )
    acc.add((start + np.arange(len(temps)) * MIN).astype(np.int64), np.array(temps))
    return acc.finish()


@pytest.mark.parametrize(
    ("before", "after", "handed_over", "starts"),
    [
        (FreezeRuns((1, 5), False, True), FreezeRuns((9,), True, False), True, (1, 5)),
        (FreezeRuns((1, 5), False, True), FreezeRuns((9,), True, False), False, (1, 5, 9)),
        (FreezeRuns((1, 5), False, False), FreezeRuns((9,), True, False), True, (1, 5, 9)),
        (FreezeRuns((1, 5), False, True), FreezeRuns((9,), False, False), True, (1, 5, 9)),
    ],
)
def test_a_run_frozen_on_both_sides_of_a_hand_over_is_one_event(
    before: FreezeRuns, after: FreezeRuns, handed_over: bool, starts: tuple[int, ...]
) -> None:
    chained = before.then(after, handed_over=handed_over)
    assert chained == FreezeRuns(starts, before.first_frozen, after.last_frozen)
    assert chained.events == len(starts)


def test_a_probe_says_when_each_freeze_began_and_whether_its_ends_were_frozen() -> None:
    runs = _probe([-1.0, 5.0, -1.0, -2.0, 5.0, -1.0]).freezes
    assert runs == FreezeRuns((0, 2 * MIN, 5 * MIN), True, True)
    assert _probe([5.0, -1.0, 5.0]).freezes == FreezeRuns((MIN,), False, False)


def test_a_path_counts_a_dip_across_a_hand_over_once_and_across_a_gap_twice() -> None:
    fridge = _probe([5.0, 5.0, -1.0, -1.0])  # minutes 0-4, frozen at the end
    truck = _probe([-1.0, 5.0, 5.0], start_min=4)  # from minute 4: the hand-over
    late = _probe([-1.0, 5.0, 5.0], start_min=5)  # from minute 5: a custody gap
    assert combine([[fridge], [truck]], 83.144, chain=True).freeze_events == 1
    assert combine([[fridge], [late]], 83.144, chain=True).freeze_events == 2


def test_of_probes_with_as_many_freezes_the_one_not_continuing_the_run_counts() -> None:
    fridge = _probe([5.0, 5.0, -1.0, -1.0])
    continuing = _probe([-1.0, 5.0, 5.0], start_min=4)
    separate = _probe([5.0, -1.0, 5.0], start_min=4)
    path = combine([[fridge], [continuing, separate]], 83.144, chain=True)
    assert path.freeze_events == 2  # the product may have sat next to `separate`
    placement = combine([[continuing, separate]], 83.144, chain=False)
    assert placement.freeze_events == 1
