"""The detector and the batch record agree (issue #18, docs/design.md §11): fed the same
readings, every alarm-length excursion the record finds, the detector alarmed on, with
the same start within one logging interval, and the other way round (and the same end:
an alarm resolved where the record's excursion ends); for every logging interval from 1
to 60 minutes, over a generated corpus (tests/support/histories.py) of drifts, door
openings, blips, values dancing on a limit, crossings, invalid readings, gaps and uneven
steps.

The record's side is the batch record's own code: its validity screen (an invalid reading
is missing) and `api.export.excursions.ProbeExcursions`, fed in chunks as the export
streams them. The detector's is `Detector` in-process: the
histories of one interval are its sensors, their readings come in time order, a minute's
worth per `process` call (a reading of each sensor at most, now and then two) with "now"
just after them, and its clock ticks before each call and a few seconds after (a
backfill's burst is over then: a reading more than 15 minutes after the one before waits
for it), and once more a day after the last reading, so nothing is left pending. A failing
history is made again alone with `detector_changes([generate(seed, interval_min)])`.

Two things the agreement cannot see: a change to the rule both sides share
(`coldchain.judgement.excursion`), and readings out of order, which the last test here
tries on two hand-made cases (design §5: sorted inside the reorder window).
"""

from __future__ import annotations

import functools
from collections import defaultdict
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime

import numpy as np
import pytest

from alerting.config import DetectorConfig
from alerting.detector import Detector
from alerting.episodes import AlertChange, AlertKind, Severity
from alerting.timeline import FAR_FUTURE, FAR_PAST, ConditionTimeline, Handover, Segment
from api.export.excursions import Leg, ProbeExcursions
from api.export.record import PlacementInfo, SensorRef
from api.export.timeline import END_OF_RECORD
from coldchain.config import Settings
from coldchain.judgement.calibration import Calibration, Certificate
from coldchain.judgement.excursion import ExcursionRule, ExcursionTracker
from coldchain.judgement.limits import NO_LIMITS, Limits
from coldchain.judgement.profiles import AlarmProfile, apply_profile
from coldchain.judgement.validity import ReadingValidity
from coldchain.models import Reading, SensorKey, SourceKind
from tests.support.histories import (
    ALARM_DELAY_MS,
    FOCI,
    HIGH_C,
    INTERVALS_MIN,
    LOW_C,
    MAX_SPAN_MS,
    MIN_SPAN_MS,
    MINUTE_MS,
    T0,
    HandOver,
    History,
    corpus,
    handovers,
)

#: Histories per interval: every focus at least once, ≥ 1,000 in all.
PER_INTERVAL = 24
LIMITS = Limits(LOW_C, HIGH_C, ALARM_DELAY_MS, "VAX")
SETTINGS = Settings()
VALIDITY = ReadingValidity.from_settings(SETTINGS)
RULE = ExcursionRule.from_settings(SETTINGS)
RECORD_CHUNK = 37  # readings per chunk the record gets (InfluxDB's chunks vary; any works)
BATCH_MS = MINUTE_MS  # the detector gets a minute of readings per call
AFTER_MS = 500  # "now" is this long after a batch's newest reading
DAY_MS = 24 * 60 * MINUTE_MS


@functools.cache
def _corpus(interval_min: int) -> tuple[History, ...]:
    return tuple(corpus(interval_min, PER_INTERVAL))


@dataclass(frozen=True, slots=True)
class Alarm:
    """An alarm excursion: its first reading beyond, and its end (None: still running)."""

    start_ms: int
    end_ms: int | None


# -- the two sides -----------------------------------------------------------------------------


def record_alarms(
    history: History, limits: Limits = LIMITS, calibration: Calibration | None = None
) -> list[Alarm]:
    """The batch record's alarm excursions, by the record's own code: its validity screen
    (an invalid reading is missing) and `api.export.excursions.ProbeExcursions` fed chunk by
    chunk, as the export streams a probe's readings from InfluxDB; a probe's `calibration`
    corrects them first, as api/export/walk.py does."""
    times = np.array([t for t, _ in history.readings], dtype=np.int64)
    temps = np.array([v for _, v in history.readings], dtype=np.float64)
    if calibration is not None:
        temps = calibration.corrected(times, temps, VALIDITY)
    valid = VALIDITY.valid(temps)
    times, temps = times[valid], temps[valid]
    end = datetime.fromtimestamp((int(times[-1]) + DAY_MS) / 1000, UTC)
    sensor = SensorRef("S", "unit", "U1", "p1", history.interval_ms // 1000)
    placement = PlacementInfo(
        1, 1, "unit", "S/U1", datetime.fromtimestamp(T0 / 1000, UTC), end, end, "UTC", (sensor,)
    )
    probe = ProbeExcursions(RULE, limits, Leg(placement, sensor), history.interval_ms, None)
    for at in range(0, len(times), RECORD_CHUNK):
        probe.add(times[at : at + RECORD_CHUNK], temps[at : at + RECORD_CHUNK])
    found = probe.close(END_OF_RECORD, handed_on=False)
    return [
        Alarm(e.run.start_ms, None if e.ended == END_OF_RECORD else e.end_ms)
        for e in found
        if e.run.alarm
    ]


def _key(index: int) -> SensorKey:
    return SensorKey("S", "unit", f"U{index}", "p1")


def detector_changes(
    histories: Sequence[History], limits: Limits = LIMITS, calibration: Calibration | None = None
) -> list[list[AlertChange]]:
    """Every history through one detector, each as its own sensor (each with `calibration`,
    when given); the alert changes of each history."""
    interval_ms = histories[0].interval_ms
    segment = Segment(FAR_PAST, FAR_FUTURE, limits, True, interval_ms=interval_ms)
    keys = [_key(i) for i in range(len(histories))]
    calibrations = {} if calibration is None else dict.fromkeys(keys, calibration)
    timeline = ConditionTimeline({key: [segment] for key in keys}, calibrations)
    detector = Detector(DetectorConfig.from_settings(SETTINGS), timeline)
    detector.register_catalog(T0)
    quiet_ms = detector.cfg.backfill_quiet_ms
    by_minute: dict[int, list[Reading]] = defaultdict(list)
    for i, history in enumerate(histories):
        for seq, (ts_ms, value_c) in enumerate(history.readings):
            reading = Reading("S", SourceKind.UNIT, f"U{i}", "p1", ts_ms, value_c, seq)
            by_minute[(ts_ms - T0) // BATCH_MS].append(reading)
    changes: list[AlertChange] = []
    for minute in sorted(by_minute):
        batch = by_minute[minute]
        now_ms = max(r.ts_ms for r in batch) + AFTER_MS
        changes += detector.tick(now_ms)
        changes += detector.process(batch, now_ms)
        changes += detector.tick(now_ms + quiet_ms + 1_000)
    last_ms = max(h.readings[-1][0] for h in histories)
    changes += detector.tick(last_ms + DAY_MS)
    per_history: list[list[AlertChange]] = [[] for _ in histories]
    for change in changes:
        per_history[int(change.key.device[1:])].append(change)
    return per_history


def detector_alarms(changes: Sequence[AlertChange]) -> list[Alarm]:
    """The excursion alarms the detector opened (the storage condition's, not a device
    rule's), with the end it resolved them at."""
    mine = [
        c
        for c in changes
        if c.kind == AlertKind.EXCURSION and c.severity == Severity.ALARM and c.rule_id is None
    ]
    ends = {c.alert_id: c.end_ms for c in mine if c.state == "resolved"}
    starts = {c.alert_id: c.start_ms for c in mine if c.state == "open"}
    return sorted(
        (Alarm(start, ends.get(alert_id)) for alert_id, start in starts.items()),
        key=lambda a: a.start_ms,
    )


# -- comparing ---------------------------------------------------------------------------------


def disagreement(history: History, record: list[Alarm], detected: list[Alarm]) -> str | None:
    """None when both found the same alarm excursions: as many, each start matched by one
    on the other side within one logging interval, and, in order, the same starts and the
    same ends (both still running, or both ended within one interval); else what differs,
    with the history and the readings around it."""
    tolerance = history.interval_ms

    def near(a: int | None, b: int | None) -> bool:
        return (a is None and b is None) or (
            a is not None and b is not None and abs(a - b) <= tolerance
        )

    def unmatched(these: list[Alarm], those: list[Alarm]) -> list[Alarm]:
        return [a for a in these if not any(near(a.start_ms, b.start_ms) for b in those)]

    record_only, detector_only = unmatched(record, detected), unmatched(detected, record)
    paired = len(record) == len(detected) and all(
        near(r.start_ms, d.start_ms) and near(r.end_ms, d.end_ms)
        for r, d in zip(record, detected, strict=True)
    )
    if paired and not record_only and not detector_only:
        return None

    def listed(alarms: list[Alarm]) -> str:
        if not alarms:
            return "none"
        return ", ".join(
            f"[{history.minute(a.start_ms)} … "
            f"{'running' if a.end_ms is None else history.minute(a.end_ms)}] min"
            for a in alarms
        )

    unpaired = [
        (r, d)
        for r, d in zip(record, detected, strict=False)
        if (r.start_ms, r.end_ms) != (d.start_ms, d.end_ms)
    ]
    around = (
        [a.start_ms for a in record_only + detector_only]
        or [a.start_ms for pair in unpaired for a in pair]
        or [a.start_ms for a in record + detected]
    )
    window = (min(around) - 3 * ALARM_DELAY_MS, max(around) + 3 * ALARM_DELAY_MS)
    return "\n".join(
        [
            history.describe(),
            f"record   ({len(record)}): {listed(record)}",
            f"detector ({len(detected)}): {listed(detected)}",
            f"record only: {listed(record_only)}; detector only: {listed(detector_only)}",
            "readings around them:",
            history.readings_text(*window),
        ]
    )


# -- the corpus is what the issue asks for -----------------------------------------------------


def test_the_corpus_has_a_thousand_histories_of_every_interval_and_every_trouble() -> None:
    histories = [h for m in INTERVALS_MIN for h in _corpus(m)]
    assert len(histories) >= 1000
    assert sorted({h.interval_ms // MINUTE_MS for h in histories}) == list(range(1, 61))
    assert all(MIN_SPAN_MS - 2 * h.interval_ms <= h.span_ms <= MAX_SPAN_MS for h in histories)
    for m in INTERVALS_MIN:
        kinds = {i.kind for h in _corpus(m) for i in h.injected}
        missing = set(FOCI) - {"drift_long_below"} - kinds
        assert not missing, f"every {m} min: no {sorted(missing)}"
        long_sides = {i.direction for h in _corpus(m) for i in h.injected if i.kind == "drift_long"}
        assert long_sides == {1, -1}, f"every {m} min: long drifts only {long_sides}"
        alarms = [(h, a) for h in _corpus(m) for a in record_alarms(h)]
        sides = {LIMITS.direction(dict(h.readings)[a.start_ms]) for h, a in alarms}
        assert sides == {1, -1}, f"every {m} min: record alarms only {sides}"
        assert any(a.end_ms is not None for _, a in alarms), f"every {m} min: none ended"


# -- the agreement -----------------------------------------------------------------------------


@pytest.mark.parametrize("interval_min", INTERVALS_MIN, ids=lambda m: f"every-{m}-min")
def test_detector_and_record_find_the_same_alarm_excursions(interval_min: int) -> None:
    histories = _corpus(interval_min)
    changes = detector_changes(histories)
    problems: list[str] = []
    alarms = 0
    for history, theirs in zip(histories, changes, strict=True):
        record = record_alarms(history)
        alarms += len(record)
        problem = disagreement(history, record, detector_alarms(theirs))
        if problem is not None:
            problems.append(problem)
        invalid = any(VALIDITY.reason(v) is not None for _, v in history.readings)
        faults = [c for c in theirs if c.kind == AlertKind.SENSOR_FAULT and c.state == "open"]
        if invalid and not any(c.detail["reason"] != "stuck" for c in faults):
            problems.append(f"{history.describe()}\nno sensor fault for its invalid readings")
    assert alarms > 0
    assert not problems, (
        f"{len(problems)} of {len(histories)} histories every {interval_min} min disagree:\n\n"
        + "\n\n".join(problems)
    )


#: An alarm profile (#22) on the same condition: shorter delays that differ by side, and
#: critical limits the corpus's drifts cross, so some alarms come at their first reading.
PROFILED = apply_profile(
    LIMITS,
    AlarmProfile(high_delay_min=10, low_delay_min=20, critical_low_c=1.0, critical_high_c=9.5),
)


@pytest.mark.parametrize("interval_min", [1, 2, 5, 10, 15, 30, 60], ids=lambda m: f"every-{m}-min")
def test_detector_and_record_find_the_same_alarm_excursions_under_an_alarm_profile(
    interval_min: int,
) -> None:
    histories = _corpus(interval_min)
    changes = detector_changes(histories, PROFILED)
    problems: list[str] = []
    critical = 0
    for history, theirs in zip(histories, changes, strict=True):
        record = record_alarms(history, PROFILED)
        critical += sum(c.state == "open" and bool(c.detail.get("critical")) for c in theirs)
        problem = disagreement(history, record, detector_alarms(theirs))
        if problem is not None:
            problems.append(problem)
    assert critical > 0, f"every {interval_min} min: no alarm came from a critical limit"
    assert not problems, (
        f"{len(problems)} of {len(histories)} histories every {interval_min} min disagree "
        "under the profile:\n\n" + "\n\n".join(problems)
    )


#: A certificate (#22) that corrects readings by +0.4 °C from 3 h into every history (before
#: that, none is in force): the detector and the record both judge the corrected values.
CORRECTED = Calibration.of([Certificate("CAL-1", "Metrolab", T0 + 3 * 3_600_000, 2**62, 0.4)])


@pytest.mark.parametrize("interval_min", [1, 5, 15, 60], ids=lambda m: f"every-{m}-min")
def test_detector_and_record_find_the_same_alarm_excursions_on_corrected_readings(
    interval_min: int,
) -> None:
    histories = _corpus(interval_min)
    changes = detector_changes(histories, calibration=CORRECTED)
    problems: list[str] = []
    moved = 0
    for history, theirs in zip(histories, changes, strict=True):
        record = record_alarms(history, calibration=CORRECTED)
        moved += record != record_alarms(history)
        problem = disagreement(history, record, detector_alarms(theirs))
        if problem is not None:
            problems.append(problem)
    assert moved > 0, f"every {interval_min} min: the correction changed no alarm"
    assert not problems, (
        f"{len(problems)} of {len(histories)} histories every {interval_min} min disagree "
        "on corrected readings:\n\n" + "\n\n".join(problems)
    )


# -- hand-overs: the record's timeline carries the tracker from one sensor to the next ---------


@pytest.mark.parametrize("handover", handovers(), ids=lambda h: h.name)
def test_a_tracker_carried_across_a_hand_over_finds_the_excursion_spanning_it(
    handover: HandOver,
) -> None:
    def alarm_starts(tracker: ExcursionTracker) -> list[int]:
        found = [*tracker.finished, *([tracker.current] if tracker.current else [])]
        return [e.start_ms for e in found if e.alarm]

    rule = ExcursionRule.from_settings(SETTINGS)
    carried = ExcursionTracker(rule)
    for leg in handover.legs:
        alone = ExcursionTracker(rule)
        for ts_ms, value_c in leg.readings:
            carried.add(ts_ms, value_c, LIMITS, leg.interval_ms)
            alone.add(ts_ms, value_c, LIMITS, leg.interval_ms)
        assert alarm_starts(alone) == [], f"{handover.note}: {leg.sensor} alone alarms"
    assert alarm_starts(carried) == list(handover.alarm_starts_ms), handover.note


def _handover_detector_alarms(handover: HandOver) -> dict[str, list[int]]:
    """The detector's alarm starts on each leg's sensor, the legs' places joined by a
    `Handover` at the start of the second, as `alerting.conditions` joins a batch's
    placements; readings in time order across both sensors."""
    first, second = handover.legs
    at_ms = second.readings[0][0]
    keys = {
        leg.sensor: SensorKey("S", "unit", leg.sensor.replace("/", "-"), "p1")
        for leg in handover.legs
    }
    came_from = Handover(at_ms, (keys[first.sensor],))
    timeline = ConditionTimeline(
        {
            keys[first.sensor]: [
                Segment(FAR_PAST, at_ms, LIMITS, True, interval_ms=first.interval_ms),
                Segment(at_ms, FAR_FUTURE, NO_LIMITS, False, interval_ms=first.interval_ms),
            ],
            keys[second.sensor]: [
                Segment(FAR_PAST, at_ms, NO_LIMITS, False, interval_ms=second.interval_ms),
                Segment(
                    at_ms,
                    FAR_FUTURE,
                    LIMITS,
                    True,
                    interval_ms=second.interval_ms,
                    handover=came_from,
                ),
            ],
        }
    )
    detector = Detector(DetectorConfig.from_settings(SETTINGS), timeline)
    detector.register_catalog(T0)
    readings = sorted(
        (ts_ms, value_c, keys[leg.sensor])
        for leg in handover.legs
        for ts_ms, value_c in leg.readings
    )
    changes: list[AlertChange] = []
    for seq, (ts_ms, value_c, key) in enumerate(readings):
        reading = Reading("S", SourceKind.UNIT, key.device, "p1", ts_ms, value_c, seq)
        changes += detector.tick(ts_ms + AFTER_MS)
        changes += detector.process([reading], ts_ms + AFTER_MS)
    changes += detector.tick(readings[-1][0] + DAY_MS)
    return {
        leg.sensor: [
            c.start_ms
            for c in changes
            if c.key == keys[leg.sensor]
            and c.kind == AlertKind.EXCURSION
            and c.severity == Severity.ALARM
            and c.state == "open"
        ]
        for leg in handover.legs
    }


@pytest.mark.parametrize("handover", handovers(), ids=lambda h: h.name)
def test_the_detector_joins_an_excursion_across_a_hand_over_as_the_record_does(
    handover: HandOver,
) -> None:
    found = _handover_detector_alarms(handover)
    first, second = handover.legs
    assert found[first.sensor] == [], f"{handover.note}: {first.sensor} alone alarms"
    assert found[second.sensor] == list(handover.alarm_starts_ms), handover.note


# -- a reading a little late: "sorted" inside the reorder window (docs/design.md §5) -----------


def _late(values: dict[int, float], late: int, after: int) -> tuple[int, int, dict[int, float]]:
    """Readings a minute apart, minutes 0..59 (`values` by minute, else a healthy wobble
    around 5 °C), delivered in order except minute `late`, which comes just after minute
    `after` (well inside the 5-minute reorder window)."""
    return late, after, {m: values.get(m, 5.0 + 0.1 * (m % 3)) for m in range(60)}


LATE_CASES = {
    # 9 °C from minute 1 to 30: 30 min beyond, counted from minute 0 (the last inside), an
    # alarm. Minute 1 arriving after minute 2: the detector counts from minute 2 (a gap of 2
    # minutes since minute 0), then moves the start back to 1 but not the count: 29 min.
    "first-reading-beyond-late": _late({m: 9.0 for m in range(1, 31)}, late=1, after=2),
    # 9 °C from minute 1 to 40 except 7.5 °C at minute 20: two pending excursions of 19 and
    # 20 min, no alarm. Minute 20 arriving after minute 21: the detector never sees the
    # excursion end (a late reading inside is dropped) and alarms on 1..40 as one.
    "reading-inside-late": _late({m: 9.0 for m in range(1, 41)} | {20: 7.5}, late=20, after=21),
}


@pytest.mark.parametrize(("late", "after", "values"), LATE_CASES.values(), ids=LATE_CASES.keys())
def test_a_reading_late_within_the_reorder_window_is_judged_as_in_order(
    late: int, after: int, values: dict[int, float]
) -> None:
    readings = tuple((T0 + m * MINUTE_MS, v) for m, v in sorted(values.items()))
    history = History(-1, "hand-made", MINUTE_MS, 0, readings, ())
    arrival = [m for m in sorted(values) if m != late]
    arrival.insert(arrival.index(after) + 1, late)
    segment = Segment(FAR_PAST, FAR_FUTURE, LIMITS, True, interval_ms=MINUTE_MS)
    timeline = ConditionTimeline({_key(0): [segment]})
    detector = Detector(DetectorConfig.from_settings(SETTINGS), timeline)
    detector.register_catalog(T0)
    changes: list[AlertChange] = []
    newest_ms = T0
    for m in arrival:
        ts_ms = T0 + m * MINUTE_MS
        newest_ms = max(newest_ms, ts_ms)
        reading = Reading("S", SourceKind.UNIT, "U0", "p1", ts_ms, values[m], m)
        changes += detector.tick(newest_ms + AFTER_MS)
        changes += detector.process([reading], newest_ms + AFTER_MS)
    changes += detector.tick(newest_ms + DAY_MS)
    problem = disagreement(history, record_alarms(history), detector_alarms(changes))
    assert problem is None, f"minute {late} delivered after minute {after}:\n{problem}"
