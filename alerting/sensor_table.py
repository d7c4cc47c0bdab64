"""The detector's sensors as one table: a row number per sensor, and under it the sensor's
key, state machine (`SensorState`), current segment of limits with the `Criteria` worked
out from it, recent readings (`Rings`) and the numpy columns the bulk pass reads
(`SensorColumns`), all grown together.

The columns copy what the numpy pass needs from the states, so it never touches a Python
object per reading; `state` and `update` move the two into step when a sensor's readings
take the slow path.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field, fields
from typing import Any

import numpy as np

from alerting.config import DetectorConfig
from alerting.device_rules import DeviceRule
from alerting.episodes import Episode
from alerting.history import History, Rings
from alerting.rules import Criteria
from alerting.sensor import MISSING, SensorState
from alerting.timeline import ConditionTimeline, Handover, Segment
from coldchain.judgement.limits import Limits
from coldchain.models import SensorKey

__all__ = ["DeviceTable", "SensorColumns", "SensorTable"]

_CriteriaKey = tuple[Limits, tuple[DeviceRule, ...], int, bool, Handover | None]

_CAPACITY = 1024


def _column(dtype: type[np.generic], fill: float) -> dict[str, Any]:
    """A column's declaration (a field's metadata): its dtype, and the value of a row not
    yet written."""
    return {"dtype": dtype, "fill": fill}


@dataclass(slots=True)
class SensorColumns:
    """One numpy array per column, indexed by sensor row, all of one length.

    Attributes:
        frontier_ms: the newest event time evaluated; -1 before the first reading.
        last_c: the latest usable value (a plain reading must differ from it).
        seen_at_ms: processing time of registration or restore: a sensor that never
            reported is missed from then on.
        plain_low_c, plain_high_c: the band (exclusive) a plain reading's value lies in.
        valid_from_ms, valid_to_ms: the event times the row's segment of limits covers.
        quiet: nothing in progress (`SensorState.quiet`).
        missing_open: a missing-data episode is open.
        buffered: readings are held for the clock (`SensorState.buffered`).
    """

    frontier_ms: np.ndarray = field(metadata=_column(np.int64, -1))
    last_c: np.ndarray = field(metadata=_column(np.float64, np.nan))
    seen_at_ms: np.ndarray = field(metadata=_column(np.int64, 0))
    plain_low_c: np.ndarray = field(metadata=_column(np.float64, -np.inf))
    plain_high_c: np.ndarray = field(metadata=_column(np.float64, np.inf))
    valid_from_ms: np.ndarray = field(metadata=_column(np.int64, 0))
    valid_to_ms: np.ndarray = field(metadata=_column(np.int64, 0))
    quiet: np.ndarray = field(metadata=_column(np.bool_, False))
    missing_open: np.ndarray = field(metadata=_column(np.bool_, False))
    buffered: np.ndarray = field(metadata=_column(np.bool_, False))

    @classmethod
    def empty(cls, capacity: int) -> SensorColumns:
        return cls(
            **{
                f.name: np.full(capacity, f.metadata["fill"], dtype=f.metadata["dtype"])
                for f in fields(cls)
            }
        )

    def grown(self, capacity: int) -> SensorColumns:
        """The same rows in columns of `capacity`, the new rows filled."""
        bigger = self.empty(capacity)
        for f in fields(self):
            old = getattr(self, f.name)
            getattr(bigger, f.name)[: len(old)] = old
        return bigger


class SensorTable:
    """Usage:
    table = SensorTable(cfg, timeline)
    row = table.register(SensorKey("BSL", "unit", "FRIDGE-01", "p1"), now_ms)
    state = table.state(row)
    ...  # the rules change the state
    table.update(row, state)
    """

    def __init__(self, cfg: DetectorConfig, timeline: ConditionTimeline) -> None:
        self.cfg = cfg
        self.timeline = timeline
        # Keyed by SensorKey, looked up by the plain tuple of a reading's identity, which
        # hashes and compares the same: no named tuple is built per reading.
        self.index: dict[tuple[str, str, str, str], int] = {}
        self.states: list[SensorState] = []
        self.segments: list[Segment] = []
        self.criteria: list[Criteria] = []
        self._shared: dict[_CriteriaKey, Criteria] = {}
        self.columns = SensorColumns.empty(_CAPACITY)
        self.rings = Rings(capacity=_CAPACITY)
        self.changed: set[int] = set()  # rows to save with the next snapshot

    def __len__(self) -> int:
        return len(self.states)

    def register(self, key: SensorKey, now_ms: int) -> int:
        """The sensor's row; a new sensor gets one, missed from `now_ms` on if silent."""
        row = self.index.get(key)
        if row is not None:
            return row
        row = len(self.states)
        if row >= len(self.columns.frontier_ms):
            self.columns = self.columns.grown(2 * row)
            self.rings.grow(2 * row)
        self.index[key] = row
        self.states.append(SensorState(key))
        segment = self.timeline.lookup(key, now_ms)
        criteria = self.criteria_of(segment)
        self.segments.append(segment)
        self.criteria.append(criteria)
        self.columns.seen_at_ms[row] = now_ms
        self._set_segment(row, segment, criteria)
        return row

    def register_catalog(self, now_ms: int) -> None:
        """Know every catalog sensor from the start, so one that never reports is missed."""
        for key in self.timeline.sensors():
            self.register(key, now_ms)

    def set_timeline(self, timeline: ConditionTimeline, now_ms: int) -> None:
        """A refreshed catalog: new sensors registered, each sensor's current limits
        re-resolved (at its frontier, or now before its first reading)."""
        self.timeline = timeline
        self._shared.clear()
        self.register_catalog(now_ms)
        for row in range(len(self.states)):
            self.resolve_segment(row, now_ms)

    def resolve_segment(self, row: int, now_ms: int) -> None:
        """Look the row's current limits up again: at its frontier, or at `now_ms` before
        its first reading."""
        frontier_ms = int(self.columns.frontier_ms[row])
        at_ms = frontier_ms if frontier_ms >= 0 else now_ms
        segment = self.timeline.lookup(self.states[row].key, at_ms)
        self._set_segment(row, segment, self.criteria_of(segment))

    def corrected(self, rows: np.ndarray, ts_ms: np.ndarray, values_c: np.ndarray) -> np.ndarray:
        """The readings with their probe's calibration correction in force added (the
        domain's rule, coldchain.judgement.calibration), before any rule sees them, so the
        alarms judge what the batch record judges. Untouched when no probe corrects."""
        calibrations = self.timeline.corrections
        if not calibrations:
            return values_c
        out = values_c.copy()
        order = np.argsort(rows, kind="stable")
        present, starts = np.unique(rows[order], return_index=True)
        ends = np.append(starts[1:], len(rows))
        for row, start, end in zip(present.tolist(), starts.tolist(), ends.tolist(), strict=True):
            calibration = calibrations.get(self.states[row].key)
            if calibration is not None:
                mine = order[start:end]
                out[mine] = calibration.corrected(ts_ms[mine], values_c[mine], self.cfg.validity)
        return out

    def criteria_at(self, row: int, ts_ms: int) -> Criteria:
        """What the row's sensor is judged against at `ts_ms`; a segment at or after its
        frontier becomes the row's current one."""
        segment = self.segments[row]
        if segment.start_ms <= ts_ms < segment.end_ms:
            return self.criteria[row]
        segment = self.timeline.lookup(self.states[row].key, ts_ms)
        criteria = self.criteria_of(segment)
        if ts_ms >= self.columns.frontier_ms[row]:
            self._set_segment(row, segment, criteria)
        return criteria

    def criteria_of(self, segment: Segment) -> Criteria:
        """One `Criteria` for every segment that judges alike (limits, rules, logging
        interval, recorder): a fleet has few, and each sensor holds one."""
        key = (
            segment.limits,
            tuple(segment.rules),
            segment.interval_ms,
            segment.recorder,
            segment.handover,
        )
        criteria = self._shared.get(key)
        if criteria is None:
            criteria = self._shared[key] = Criteria.of(segment, self.cfg)
        return criteria

    def _set_segment(self, row: int, segment: Segment, criteria: Criteria) -> None:
        self.segments[row], self.criteria[row] = segment, criteria
        columns = self.columns
        columns.plain_low_c[row], columns.plain_high_c[row] = self._plain_band(criteria)
        columns.valid_from_ms[row], columns.valid_to_ms[row] = segment.start_ms, segment.end_ms

    def _plain_band(self, criteria: Criteria) -> tuple[float, float]:
        """The values a plain reading may have: inside the limits by the guard band (so the
        warning and forecast rules have nothing to say), and short of every device rule's
        limit; without limits the probe's own range still guards."""
        limits, guard = criteria.limits, criteria.guard_c
        low, high = limits.low_c + guard, limits.high_c - guard
        if not math.isfinite(limits.span_c):
            low, high = self.cfg.validity.probe_min_c, self.cfg.validity.probe_max_c
        alert = criteria.alert_limits  # an alarm profile's may lie deeper inside the range
        low, high = max(low, alert.low_c), min(high, alert.high_c)
        for rule in criteria.device_rules:
            if rule.direction > 0:
                high = min(high, rule.limit_c)
            else:
                low = max(low, rule.limit_c)
        return low, high

    def state(self, row: int) -> SensorState:
        """The row's state, caught up with what the numpy pass did since it last looked:
        every reading since was in range and changing."""
        state = self.states[row]
        frontier_ms = int(self.columns.frontier_ms[row])
        if self.columns.quiet[row] and frontier_ms > state.frontier_ms:
            state.frontier_ms = frontier_ms
            state.last_c = float(self.columns.last_c[row])
            state.last_ok_ms = frontier_ms
            state.same_count, state.same_since_ms = 0, frontier_ms
        return state

    def update(self, row: int, state: SensorState) -> None:
        """The row's columns from its state, the row saved with the next snapshot."""
        columns = self.columns
        columns.frontier_ms[row] = state.frontier_ms
        columns.last_c[row] = state.last_c
        columns.quiet[row] = state.quiet
        columns.buffered[row] = state.buffered
        columns.missing_open[row] = MISSING in state.episodes
        self.changed.add(row)

    def handed_over(self, handover: Handover) -> Episode | None:
        """The excursion without an alert that was in progress at the hand-over on the
        sensors the batch came from (the one begun longest ago on any of them, as the
        record carries its worst path on); only sensors of this partition are known."""
        found: list[Episode] = []
        for key in handover.from_keys:
            row = self.index.get(key)
            if row is not None:
                episode = self.state(row).in_progress_at(handover.at_ms)
                if episode is not None:
                    found.append(episode)
        if not found:
            return None
        return min(found, key=lambda e: e.start_ms if e.prev_ok_ms is None else e.prev_ok_ms)

    def history(self, row: int) -> History:
        """The row's recent readings, for the trend rules."""
        rings = self.rings
        return lambda since_ms: rings.window(row, since_ms)


@dataclass(slots=True)
class DeviceTable:
    """The states of whole devices (sensor "*": the battery), by key; `changed`: keys to
    save with the next snapshot."""

    states: dict[SensorKey, SensorState] = field(default_factory=dict)
    changed: set[SensorKey] = field(default_factory=set)

    def state(self, key: SensorKey) -> SensorState:
        """The device's state; a device first heard of gets a new one."""
        state = self.states.get(key)
        if state is None:
            state = self.states[key] = SensorState(key)
        return state
