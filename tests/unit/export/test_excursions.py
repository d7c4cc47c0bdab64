"""The record's excursions are the domain rule's (coldchain.judgement.excursion): the
export's feeding, which skips readings inside the range while nothing is open, finds
exactly what the tracker finds when fed every reading; a hand-over carries the worst
probe's state; timeline links and paths; MKT windows around excursions."""

from __future__ import annotations

from datetime import UTC, datetime

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from api.export.excursions import Carry, Leg, ProbeExcursions, worst
from api.export.mktwindow import HOUR_MS, MktHours, window_ms
from api.export.record import PlacementInfo, SensorRef
from api.export.timeline import CUSTODY_GAP, END_OF_RECORD, HAND_OVER, ONGOING, build_timeline
from coldchain.judgement.excursion import Excursion, ExcursionRule, ExcursionTracker
from coldchain.judgement.limits import Limits
from coldchain.mkt import mean_kinetic_temperature

MIN = 60_000
LIMITS = Limits(2.0, 8.0, 30 * MIN, "product VAX")
RULE = ExcursionRule(hysteresis_c=0.3, clear_after_ms=5 * MIN)
SENSOR = SensorRef("BSL", "unit", "FR-1", "p1", 60)


def _placement(
    index: int, start_h: float, end_h: float | None, place: str = "BSL/FR-1"
) -> PlacementInfo:
    at = datetime.fromtimestamp(start_h * 3600, UTC)
    end = None if end_h is None else datetime.fromtimestamp(end_h * 3600, UTC)
    return PlacementInfo(
        index=index,
        placement_id=100 + index,
        kind="unit",
        place=place,
        start=at,
        end=end,
        until=end or datetime.fromtimestamp(48 * 3600, UTC),
        timezone="UTC",
        sensors=(SENSOR,),
    )


def _probe(carry: Carry | None = None, placement: PlacementInfo | None = None) -> ProbeExcursions:
    return ProbeExcursions(RULE, LIMITS, Leg(placement or _placement(1, 0, 24), SENSOR), MIN, carry)


temps = st.lists(
    st.one_of(st.floats(3.0, 7.0), st.floats(-2.0, 14.0), st.sampled_from([1.9, 8.0, 8.1, 7.8])),
    min_size=1,
    max_size=300,
)


@settings(max_examples=200, deadline=None)
@given(temps, st.integers(1, 40), st.data())
def test_feeding_in_chunks_finds_what_the_tracker_finds_reading_by_reading(
    values: list[float], chunk: int, data: st.DataObject
) -> None:
    steps = data.draw(st.lists(st.sampled_from([1, 1, 1, 2, 5]), min_size=len(values)))
    times = np.cumsum(np.array(steps[: len(values)], dtype=np.int64) * MIN)
    reference = ExcursionTracker(RULE)
    for t, v in zip(times.tolist(), values, strict=True):
        reference.add(t, v, LIMITS, MIN)
    probe = _probe()
    temps_array = np.array(values)
    for i in range(0, len(values), chunk):
        probe.add(times[i : i + chunk], temps_array[i : i + chunk])
    assert probe.tracker.finished == reference.finished
    assert probe.tracker.current == reference.current
    assert probe.tracker.last_ok_ms == reference.last_ok_ms


def test_a_value_dancing_on_the_limit_after_an_alarm_is_one_excursion() -> None:
    values = [5.0] * 5 + [9.0] * 40 + [7.9, 8.2] * 10 + [5.0] * 10
    probe = _probe()
    probe.add(np.arange(len(values), dtype=np.int64) * MIN, np.array(values))
    [one] = probe.close(END_OF_RECORD, handed_on=False)
    assert one.run.alarm
    assert (one.start_ms, one.end_ms) == (5 * MIN, 65 * MIN)  # the first reading back


def test_a_hand_over_carries_the_open_excursion_that_began_first() -> None:
    early = Excursion(10 * MIN, 9 * MIN, 20 * MIN, 12.0, 1)
    late = Excursion(15 * MIN, 14 * MIN, 20 * MIN, 14.0, 1)
    a, b = Carry(early, (), 8 * MIN), Carry(late, (), 13 * MIN)
    assert worst([b, a]) is a
    fresh = Carry(None, (), 20 * MIN)
    assert worst([Carry(None, (), 5 * MIN), fresh]) is fresh
    assert worst([Carry(None, (), None)]) is None
    fridge = _placement(1, 0, 1)
    truck = _placement(2, 1, 2, "SHP-1")
    outgoing = _probe(placement=fridge)
    outgoing.add(
        np.arange(0, 60, dtype=np.int64) * MIN, np.array([5.0] * 40 + [12.0] * 20)
    )  # beyond from 40 min, the last reading inside at 39
    carried = outgoing.carry()
    assert outgoing.close(HAND_OVER, handed_on=True) == []
    incoming = _probe(carried, placement=truck)
    incoming.add(np.arange(60, 90, dtype=np.int64) * MIN, np.array([12.0] * 20 + [5.0] * 10))
    [joined] = incoming.close(END_OF_RECORD, handed_on=False)
    assert (joined.run.since_ms, joined.start_ms, joined.end_ms) == (39 * MIN, 40 * MIN, 80 * MIN)
    assert joined.run.alarm  # 40 min beyond, though 20 in each place
    assert joined.where == "BSL/FR-1 (p1) → SHP-1 (p1)"
    assert outgoing.tracker.current is not None
    assert outgoing.tracker.current.end_ms is None  # the outgoing probe's own is untouched


def test_links_custody_gaps_and_paths_of_a_split_lot() -> None:
    fridge = _placement(1, 0, 8)
    truck_a = _placement(2, 8, 12, "SHP-A")
    truck_b = _placement(3, 8, 14, "SHP-B")
    room = _placement(4, 16, None, "BSL/ROOM")  # B's part after a gap; A's left the record
    timeline = build_timeline([room, truck_b, fridge, truck_a])
    assert timeline.handed_from == {1: (), 2: (1,), 3: (1,), 4: ()}
    assert timeline.exits == {1: HAND_OVER, 2: CUSTODY_GAP, 3: CUSTODY_GAP, 4: ONGOING}
    assert [(g.before.index, g.after.index) for g in timeline.custody_gaps] == [(2, 4), (3, 4)]
    assert timeline.paths == ((1, 2, 4), (1, 3, 4))
    handed = build_timeline([fridge, truck_a, _placement(5, 12, 20, "BSL/ROOM"), truck_b])
    assert handed.exits[3] == END_OF_RECORD  # ROOM is A's continuation, reached by hand-over
    assert handed.paths == ((1, 2, 5), (1, 3))


def test_the_mkt_window_is_the_mkt_of_those_hours_and_old_hours_are_dropped() -> None:
    hours = MktHours(83.144)
    times = np.arange(0, 72 * 60, dtype=np.int64) * MIN  # three days, every minute
    values = np.where((times >= 30 * HOUR_MS) & (times < 31 * HOUR_MS), 20.0, 5.0)
    weights = np.full(times.size, float(MIN))
    for i in range(0, times.size, 500):
        hours.add(times[i : i + 500], values[i : i + 500], weights[i : i + 500])
        hours.prune(int(times[i : i + 500][-1]), [(30 * HOUR_MS, 31 * HOUR_MS)])
    start, end = window_ms(30 * HOUR_MS + 5 * MIN, 31 * HOUR_MS - 5 * MIN)
    assert (start, end) == (6 * HOUR_MS, 55 * HOUR_MS)
    inside = (times >= start) & (times < end)
    window = hours.window(start, end)
    assert window is not None
    assert window.value_c() == pytest.approx(mean_kinetic_temperature(values[inside]))
    assert hours.window(0, 6 * HOUR_MS) is None  # long gone: no window needs it
    assert hours.total.value_c() == pytest.approx(mean_kinetic_temperature(values))
