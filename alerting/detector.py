"""The detector's evaluation core: readings and a clock in, alert changes out; no I/O.

One numpy pass over a batch finds the readings that need no thought (sensor quiet, value
well inside its limits, in order, changing, not changing fast) and only moves those sensors'
frontiers and histories; every other sensor's readings go, in event-time order, through its
state machine (`sensor.py`). The scoring test drives this class directly from simulator
output; the service drives it from MQTT and persists `snapshot()` before acking.
"""

from __future__ import annotations

import math
from collections.abc import Iterable, Sequence
from dataclasses import replace
from typing import Any

import numpy as np

from alerting.conditions import ConditionTimeline, Segment
from alerting.device_rules import rule_slot
from alerting.episodes import AlertChange, Episode
from alerting.history import Rings
from alerting.rules import DetectorConfig
from alerting.sensor import SensorState, merge_late, step_reading
from coldchain.models import DeviceStatus, Reading, SensorKey

__all__ = ["Detector"]

_EMPTY = (np.zeros(0, dtype=np.int64), np.zeros(0))


class Detector:
    """Usage:
    detector = Detector(DetectorConfig(), timeline)
    changes = detector.process(readings, now_ms)
    changes += detector.tick(now_ms)
    """

    def __init__(self, cfg: DetectorConfig, timeline: ConditionTimeline) -> None:
        self.cfg = cfg
        self.timeline = timeline
        # Keyed by SensorKey, looked up by the plain tuple of a reading's identity, which
        # hashes and compares the same: no named tuple is built per reading.
        self.index: dict[tuple[str, str, str, str], int] = {}
        self.states: list[SensorState] = []
        self.segments: list[Segment] = []
        self.devices: dict[SensorKey, SensorState] = {}
        self.dirty: set[int] = set()
        self.dirty_devices: set[SensorKey] = set()
        self.buffered: set[int] = set()  # sensors holding a backfill or late readings
        self.rings = Rings()
        self.evaluated = 0
        n = 1024
        self.frontier = np.full(n, -1, dtype=np.int64)
        self.last_c = np.full(n, np.nan)
        self.seen_at = np.zeros(n, dtype=np.int64)
        self.lo, self.hi = np.full(n, -np.inf), np.full(n, np.inf)
        self.vfrom, self.vto = np.zeros(n, dtype=np.int64), np.zeros(n, dtype=np.int64)
        self.quiet = np.zeros(n, dtype=bool)
        self.missing_open = np.zeros(n, dtype=bool)
        self.errors = np.array(cfg.error_values_c)

    # -- registry ----------------------------------------------------------------------

    def _grow(self) -> None:
        n = len(self.frontier) * 2
        for name, fill in (
            ("frontier", -1),
            ("last_c", np.nan),
            ("seen_at", 0),
            ("lo", -np.inf),
            ("hi", np.inf),
            ("vfrom", 0),
            ("vto", 0),
            ("quiet", False),
            ("missing_open", False),
        ):
            old = getattr(self, name)
            new = np.full(n, fill, dtype=old.dtype)
            new[: len(old)] = old
            setattr(self, name, new)
        self.rings.grow(n)

    def register(self, key: SensorKey, now_ms: int) -> int:
        idx = self.index.get(key)
        if idx is not None:
            return idx
        idx = len(self.states)
        if idx >= len(self.frontier):
            self._grow()
        self.index[key] = idx
        self.states.append(SensorState(key))
        self.segments.append(self.timeline.lookup(key, now_ms))
        self.seen_at[idx] = now_ms
        self._set_segment(idx, self.segments[idx])
        return idx

    def register_catalog(self, now_ms: int) -> None:
        """Know every catalog sensor from the start, so one that never reports is missed."""
        for key in self.timeline.sensors():
            self.register(key, now_ms)

    def set_timeline(self, timeline: ConditionTimeline, now_ms: int) -> None:
        """A refreshed catalog: re-resolve each sensor's current limits."""
        self.timeline = timeline
        self.register_catalog(now_ms)
        for idx, state in enumerate(self.states):
            at = int(self.frontier[idx]) if self.frontier[idx] >= 0 else now_ms
            self._set_segment(idx, timeline.lookup(state.key, at))

    def _set_segment(self, idx: int, segment: Segment) -> None:
        self.segments[idx] = segment
        lim = segment.limits
        guard = self.cfg.guard_c(lim)
        self.lo[idx], self.hi[idx] = lim.low_c + guard, lim.high_c - guard
        if not math.isfinite(lim.span_c):  # no limits: the probe's own range still guards
            self.lo[idx], self.hi[idx] = self.cfg.sensor_min_c, self.cfg.sensor_max_c
        for rule in segment.rules:  # a value at or beyond a device rule's limit needs thought
            if rule.direction > 0:
                self.hi[idx] = min(self.hi[idx], rule.limit_c)
            else:
                self.lo[idx] = max(self.lo[idx], rule.limit_c)
        self.vfrom[idx], self.vto[idx] = segment.start_ms, segment.end_ms

    def _segment(self, idx: int, ts: int) -> Segment:
        segment = self.segments[idx]
        if segment.start_ms <= ts < segment.end_ms:
            return segment
        segment = self.timeline.lookup(self.states[idx].key, ts)
        if ts >= self.frontier[idx]:
            self._set_segment(idx, segment)
        return segment

    # -- readings ----------------------------------------------------------------------

    def process(self, readings: Sequence[Reading], now_ms: int) -> list[AlertChange]:
        """Evaluate a batch (any order, any sensors); returns the alert changes it caused."""
        if not readings:
            return []
        get = self.index.get
        found: list[int] = []
        for r in readings:
            key = (r.site, r.source.value, r.device, r.sensor)
            idx = get(key)
            found.append(self.register(SensorKey(*key), now_ms) if idx is None else idx)
        rows = np.array(found, dtype=np.int64)
        ts = np.fromiter((r.ts_ms for r in readings), dtype=np.int64, count=len(readings))
        c = np.fromiter((r.temp_c for r in readings), dtype=np.float64, count=len(readings))
        return self.process_arrays(rows, ts, c, now_ms)

    def process_arrays(
        self, rows: np.ndarray, ts: np.ndarray, c: np.ndarray, now_ms: int
    ) -> list[AlertChange]:
        """The hot path on columns: sensor rows (from `register`), event times, values."""
        self.evaluated += len(rows)
        order = np.lexsort((ts, rows))
        rows, ts, c = rows[order], ts[order], c[order]
        first = np.ones(len(rows), dtype=bool)
        first[1:] = rows[1:] != rows[:-1]
        prev_ts = np.where(first, self.frontier[rows], np.roll(ts, 1))
        prev_c = np.where(first, self.last_c[rows], np.roll(c, 1))
        gap = ts - prev_ts
        plain = (
            self.quiet[rows]
            & (gap > 0)
            & (gap <= self.cfg.backfill_gap_ms)
            & (prev_ts >= 0)
            & (c > self.lo[rows])
            & (c < self.hi[rows])
            & (c != prev_c)
            & (np.abs(c - prev_c) < self.cfg.rate_c_per_ms * np.maximum(gap, 1))
            & (ts >= self.vfrom[rows])
            & (ts < self.vto[rows])
            & ~np.isin(c, self.errors)
        )
        thoughtful = np.zeros(len(self.frontier), dtype=bool)
        thoughtful[rows[~plain]] = True
        easy = ~thoughtful[rows]
        changes: list[AlertChange] = []
        if easy.any():
            self._advance_plain(rows[easy], ts[easy], c[easy], first[easy])
        if not easy.all():
            hard = ~easy
            h_rows, h_ts, h_c = rows[hard].tolist(), ts[hard].tolist(), c[hard].tolist()
            start = 0
            for i in range(1, len(h_rows) + 1):
                if i == len(h_rows) or h_rows[i] != h_rows[start]:
                    self._sensor(h_rows[start], h_ts[start:i], h_c[start:i], now_ms, changes)
                    start = i
        return changes

    def _advance_plain(
        self, rows: np.ndarray, ts: np.ndarray, c: np.ndarray, first: np.ndarray
    ) -> None:
        last = np.ones(len(rows), dtype=bool)
        last[:-1] = rows[1:] != rows[:-1]
        starts = np.flatnonzero(first)
        rank = np.arange(len(rows)) - np.repeat(starts, np.diff(np.append(starts, len(rows))))
        self.rings.append_sorted(rows, ts, c, rank)
        self.frontier[rows[last]] = ts[last]
        self.last_c[rows[last]] = c[last]
        self.dirty.update(rows[last].tolist())

    def _sync_in(self, idx: int) -> SensorState:
        state = self.states[idx]
        if self.quiet[idx] and self.frontier[idx] > state.frontier_ms:
            # The numpy pass moved it on: every reading since was in range and changing.
            state.frontier_ms = int(self.frontier[idx])
            state.last_c = float(self.last_c[idx])
            state.last_ok_ms = state.frontier_ms
            state.same_count, state.same_since_ms = 0, state.frontier_ms
        return state

    def _sync_out(self, idx: int, state: SensorState) -> None:
        self.frontier[idx] = state.frontier_ms
        self.last_c[idx] = state.last_c
        self.quiet[idx] = state.quiet
        self.missing_open[idx] = "missing" in state.episodes
        self.dirty.add(idx)

    def _history(self, idx: int) -> Any:
        return lambda since: self.rings.window(idx, since)

    def _step(
        self, idx: int, state: SensorState, t: int, v: float, now_ms: int, out: list[AlertChange]
    ) -> None:
        segment = self._segment(idx, t)
        history = self._history(idx)
        step_reading(state, t, v, segment.limits, self.cfg, now_ms, history, out, segment.rules)
        self.rings.append(idx, t, v)

    def _sensor(
        self, idx: int, ts: list[int], c: list[float], now_ms: int, out: list[AlertChange]
    ) -> None:
        state = self._sync_in(idx)
        cfg = self.cfg
        for t, v in zip(ts, c, strict=True):
            frontier = state.frontier_ms
            if state.backlog:
                if t > frontier:
                    state.backlog.append((t, v))
                    state.backlog_arrival_ms = now_ms
                else:
                    self._late(state, idx, t, v, now_ms)
            elif t <= frontier:
                self._late(state, idx, t, v, now_ms)
            elif frontier >= 0 and t - frontier > cfg.backfill_gap_ms:
                # Hours of a logger's memory may come in shuffled chunks: hold them until
                # the burst is over, then evaluate them in order (retrospectively).
                state.backlog.append((t, v))
                state.backlog_arrival_ms = now_ms
            else:
                self._step(idx, state, t, v, now_ms, out)
        if state.backlog or state.late:
            self.buffered.add(idx)
        self._sync_out(idx, state)

    def _late(self, state: SensorState, idx: int, t: int, v: float, now_ms: int) -> None:
        if t >= state.frontier_ms - self.cfg.reorder_window_ms:
            merge_late(state, t, v, self._segment(idx, t).limits)
        else:
            state.late.append((t, v))
            state.late_arrival_ms = now_ms

    # -- status ------------------------------------------------------------------------

    def process_status(self, status: DeviceStatus, now_ms: int) -> list[AlertChange]:
        """Low battery, per device (sensor "*")."""
        if status.battery_pct is None:
            return []
        key = SensorKey(status.site, status.source.value, status.device, "*")
        state = self.devices.setdefault(key, SensorState(key))
        if status.ts_ms <= state.frontier_ms:
            return []
        state.frontier_ms = status.ts_ms
        low = status.battery_pct < self.cfg.low_battery_pct
        ep = state.episodes.get("battery")
        out: list[AlertChange] = []
        if low and ep is None:
            ep = Episode(
                "low_battery",
                "warning",
                -1,
                status.ts_ms,
                None,
                status.ts_ms,
                None,
                detail={"battery_pct": status.battery_pct},
            )
            state.episodes["battery"] = ep
            out.append(ep.open(key, now_ms, self.cfg.reorder_window_ms))
        elif ep is not None and status.battery_pct >= self.cfg.low_battery_pct + 5:
            del state.episodes["battery"]
            out.append(ep.change("resolved", key, now_ms, status.ts_ms))
        self.dirty_devices.add(key)
        return out

    # -- the clock ---------------------------------------------------------------------

    def tick(self, now_ms: int) -> list[AlertChange]:
        """Missing data, and backfills whose burst is over; call every second or so."""
        out: list[AlertChange] = []
        n = len(self.states)
        last = np.maximum(self.frontier[:n], self.seen_at[:n])
        silent = np.flatnonzero(
            (now_ms - last > self.cfg.missing_after_ms) & ~self.missing_open[:n]
        )
        for idx in silent.tolist():
            self._missing(idx, now_ms, out)
        for idx in sorted(self.buffered):
            state = self.states[idx]
            if state.backlog and now_ms - state.backlog_arrival_ms >= self.cfg.backfill_quiet_ms:
                self._flush_backlog(idx, now_ms, out)
            if state.late and now_ms - state.late_arrival_ms >= self.cfg.backfill_quiet_ms:
                self._flush_late(idx, now_ms, out)
            if not state.backlog and not state.late:
                self.buffered.discard(idx)
        return out

    def _missing(self, idx: int, now_ms: int, out: list[AlertChange]) -> None:
        state = self._sync_in(idx)
        segment = self.timeline.lookup(state.key, now_ms)
        known = self.timeline.known(state.key)
        if (known and not segment.expected) or (not known and state.frontier_ms < 0):
            return  # a logger carrying nothing, or a sensor we never heard of, is not missed
        start = state.frontier_ms if state.frontier_ms >= 0 else int(self.seen_at[idx])
        ep = Episode("missing_data", "alarm", 0, start, None, now_ms, None)
        ep.detail = {"silent_min": round((now_ms - start) / 60_000, 1)}
        state.episodes["missing"] = ep
        change = ep.open(state.key, now_ms, self.cfg.reorder_window_ms)
        out.append(change)
        state.remember("missing", start, None)
        self._sync_out(idx, state)

    def _flush_backlog(self, idx: int, now_ms: int, out: list[AlertChange]) -> None:
        state = self._sync_in(idx)
        burst = sorted(dict(state.backlog).items())
        state.backlog = []
        for t, v in burst:
            if t > state.frontier_ms:
                self._step(idx, state, t, v, now_ms, out)
        if state.backlog or state.late:
            self.buffered.add(idx)
        self._sync_out(idx, state)

    def _flush_late(self, idx: int, now_ms: int, out: list[AlertChange]) -> None:
        """Readings older than the reorder window: evaluated on their own, as history.
        Only excursions and faults can be judged without their neighbours (device rules
        too; a cumulative one counts this page's minutes only); an episode that overlaps
        one already reported is the same event and is dropped."""
        state = self._sync_in(idx)
        burst = sorted(dict(state.late).items())
        state.late = []
        scratch = SensorState(state.key)
        found: list[AlertChange] = []
        for t, v in burst:
            seg = self.timeline.lookup(state.key, t)
            step_reading(scratch, t, v, seg.limits, self.cfg, now_ms, _no_history, found, seg.rules)
        opened = {ch.alert_id: ch for ch in found if ch.state == "open"}
        ended = {ch.alert_id: ch.end_ms for ch in found if ch.state == "resolved"}
        # The peak of the whole episode, not the one it had when its delay ran out.
        peaks = {ch.alert_id: ch.peak_c for ch in found if ch.state == "resolved"}
        peaks |= {ep.alert_id: ep.peak_c for ep in scratch.episodes.values() if ep.alert_id}
        alarms = [p.alarm for p in scratch.rules.values() if p.alarm is not None]
        peaks |= {ep.alert_id: ep.peak_c for ep in alarms if ep.alert_id}
        for change in opened.values():
            if change.kind not in ("excursion", "sensor_fault"):
                continue
            slot = _slot_of(change)
            end = ended.get(change.alert_id) or burst[-1][0]  # still out when the chunk ends
            if state.overlaps(slot, change.start_ms, end):
                continue
            peak = peaks.get(change.alert_id, change.peak_c)
            retro = replace(change, end_ms=None, peak_c=peak, retrospective=True, at_ms=now_ms)
            out.append(retro)
            if change.rule_id is not None and change.detail.get("mode") == "cumulative":
                # a device's running total never clears: the alarm stays open
                state.remember(slot, change.start_ms, None)
                continue
            out.append(replace(retro, state="resolved", end_ms=end))
            state.remember(slot, change.start_ms, end)
        self._sync_out(idx, state)

    # -- persistence -------------------------------------------------------------------

    def snapshot(self) -> dict[str, dict[str, Any]]:
        """JSON-able state of every sensor changed since the last snapshot; clears the mark."""
        out: dict[str, dict[str, Any]] = {}
        for idx in self.dirty:
            state = self._sync_in(idx)
            raw = state.to_json()
            raw["ring"] = self.rings.row(idx)
            raw["seen_at"] = int(self.seen_at[idx])
            out["/".join(state.key)] = raw
        for key in self.dirty_devices:
            out["/".join(key)] = self.devices[key].to_json()
        self.dirty.clear()
        self.dirty_devices.clear()
        return out

    def restore(self, saved: Iterable[dict[str, Any]], now_ms: int) -> None:
        for raw in saved:
            state = SensorState.from_json(raw)
            if state.key.sensor == "*":
                self.devices[state.key] = state
                continue
            idx = self.register(state.key, now_ms)
            self.states[idx] = state
            self.seen_at[idx] = raw.get("seen_at", now_ms)
            ts, c, head = raw["ring"]
            self.rings.load_row(idx, ts, c, head)
            self.frontier[idx] = state.frontier_ms
            self.last_c[idx] = state.last_c
            self.quiet[idx] = state.quiet
            self.missing_open[idx] = "missing" in state.episodes
            if state.backlog or state.late:
                self.buffered.add(idx)
            at = state.frontier_ms if state.frontier_ms >= 0 else now_ms
            self._set_segment(idx, self.timeline.lookup(state.key, at))
        self.dirty.clear()


def _no_history(_since_ms: int) -> tuple[np.ndarray, np.ndarray]:
    return _EMPTY


def _slot_of(change: AlertChange) -> str:
    if change.rule_id is not None:
        return rule_slot(change.rule_id)
    if change.kind == "excursion":
        return "excursion:" + change.severity
    return "fault:stuck" if change.detail.get("reason") == "stuck" else "fault:value"
