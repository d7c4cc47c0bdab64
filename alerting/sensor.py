"""One sensor's state machine over event time: the slow, exact path for every reading that
is not plainly in range and in order (the detector's numpy pass handles those in bulk).

Rules, in the order applied to a reading: sensor fault (error code, outside the probe's
range, one value for too long), excursion beyond the action limits (alarm, after the alarm
delay), beyond the alert limits (warning, after the warning delay), rate of change, and the
time-to-breach forecast. Each is an `Episode`; see episodes.py for delay and clearing.
Then the catalog's device rules of the sensor, if any (device_rules.py).
"""

from __future__ import annotations

import math
from collections.abc import Callable, Sequence
from dataclasses import dataclass, field
from typing import Any

import numpy as np

from alerting.device_rules import DeviceRule, RuleProgress, evaluate_device_rules
from alerting.episodes import AlertChange, Episode
from alerting.rules import DetectorConfig, Limits
from coldchain.models import SensorKey

__all__ = ["History", "SensorState", "step_reading"]

#: (event times ms, values) of the sensor's recent readings since a moment, oldest first.
History = Callable[[int], tuple[np.ndarray, np.ndarray]]

_RECENT = 16


@dataclass(slots=True)
class SensorState:
    """Everything the detector remembers about one sensor (persisted across restarts)."""

    key: SensorKey
    frontier_ms: int = -1
    last_c: float = math.nan
    last_ok_ms: int | None = None
    same_since_ms: int = -1
    same_count: int = 0
    episodes: dict[str, Episode] = field(default_factory=dict)
    recent: list[tuple[str, int, int | None]] = field(default_factory=list)
    backlog: list[tuple[int, float]] = field(default_factory=list)
    backlog_arrival_ms: int = 0
    late: list[tuple[int, float]] = field(default_factory=list)
    late_arrival_ms: int = 0
    rules: dict[str, RuleProgress] = field(default_factory=dict)  # by rule id

    @property
    def quiet(self) -> bool:
        """Nothing in progress: the numpy pass may handle its plain readings. A device rule
        whose latest reading was beyond its limit is in progress: the next reading fixes
        that one's weight."""
        return (
            not self.episodes
            and not self.backlog
            and not self.late
            and all(p.last_bad_ms is None for p in self.rules.values())
        )

    def remember(self, slot: str, start_ms: int, end_ms: int | None) -> None:
        self.recent = [r for r in self.recent if not (r[0] == slot and r[1] == start_ms)]
        self.recent.append((slot, start_ms, end_ms))
        del self.recent[:-_RECENT]

    def overlaps(self, slot: str, start_ms: int, end_ms: int) -> bool:
        return any(
            s == slot and a <= end_ms and (b is None or b >= start_ms) for s, a, b in self.recent
        )

    def to_json(self) -> dict[str, Any]:
        return {
            "key": list(self.key),
            "frontier_ms": self.frontier_ms,
            "last_c": None if math.isnan(self.last_c) else self.last_c,
            "last_ok_ms": self.last_ok_ms,
            "same_since_ms": self.same_since_ms,
            "same_count": self.same_count,
            "episodes": {k: e.to_json() for k, e in self.episodes.items()},
            "recent": self.recent,
            "backlog": self.backlog,
            "backlog_arrival_ms": self.backlog_arrival_ms,
            "late": self.late,
            "late_arrival_ms": self.late_arrival_ms,
            "rules": {k: p.to_json() for k, p in self.rules.items()},
        }

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> SensorState:
        return cls(
            key=SensorKey(*raw["key"]),
            frontier_ms=raw["frontier_ms"],
            last_c=math.nan if raw["last_c"] is None else raw["last_c"],
            last_ok_ms=raw["last_ok_ms"],
            same_since_ms=raw["same_since_ms"],
            same_count=raw["same_count"],
            episodes={k: Episode.from_json(v) for k, v in raw["episodes"].items()},
            recent=[(s, a, b) for s, a, b in raw["recent"]],
            backlog=[(t, c) for t, c in raw["backlog"]],
            backlog_arrival_ms=raw["backlog_arrival_ms"],
            late=[(t, c) for t, c in raw["late"]],
            late_arrival_ms=raw["late_arrival_ms"],
            rules={k: RuleProgress.from_json(v) for k, v in raw.get("rules", {}).items()},
        )


class _Step:
    """Applies one reading to one sensor; collects the alert changes it causes."""

    def __init__(
        self, state: SensorState, cfg: DetectorConfig, now_ms: int, out: list[AlertChange]
    ) -> None:
        self.s, self.cfg, self.now, self.out = state, cfg, now_ms, out

    def _open_if_due(self, slot: str, ep: Episode, delay_ms: int) -> None:
        if ep.alert_id is None and ep.sustained_ms() >= delay_ms:
            self.out.append(ep.open(self.s.key, self.now, self.cfg.reorder_window_ms))
            self.s.remember(slot, ep.start_ms, None)

    def _end(self, slot: str, end_ms: int) -> None:
        ep = self.s.episodes.pop(slot)
        if ep.alert_id is not None:
            self.out.append(ep.change("resolved", self.s.key, self.now, end_ms))
            self.s.remember(slot, ep.start_ms, end_ms)

    def condition(
        self,
        slot: str,
        ts: int,
        bad: bool,
        cleared: bool,
        *,
        kind: str,
        severity: str,
        direction: int,
        value: float | None,
        delay_ms: int,
        clear_ms: int,
        detail: dict[str, Any] | None = None,
        since_last_ok: bool = False,
    ) -> None:
        """Advance the episode in `slot`: start, extend, open after `delay_ms`, or clear
        after `clear_ms` of `cleared` readings (end = first reading back)."""
        ep = self.s.episodes.get(slot)
        if ep is not None and bad and direction and ep.direction and direction != ep.direction:
            self._end(slot, ts)  # crossed from one side of the range to the other
            ep = None
        if ep is None:
            if not bad:
                return
            prev_ok = self.s.last_ok_ms if since_last_ok else None
            if prev_ok is not None and ts - prev_ok > self.cfg.backfill_gap_ms:
                prev_ok = None  # too long ago to say when it began
            ep = Episode(kind, severity, direction, ts, prev_ok, ts, value)
            ep.detail = dict(detail or {})
            self.s.episodes[slot] = ep
        if bad:
            ep.note_bad(ts, value)
            if detail:
                ep.detail.update(detail)
            self._open_if_due(slot, ep, delay_ms)
            return
        if ep.back_ms is None:
            ep.back_ms = ts
        if cleared and ts - ep.back_ms >= clear_ms:
            self._end(slot, ep.back_ms)

    def excursions(self, ts: int, c: float, lim: Limits) -> None:
        cfg = self.cfg
        if not math.isfinite(lim.span_c):
            return
        hyst = cfg.hysteresis_c
        for slot, low, high, severity, delay in (
            ("excursion:alarm", lim.low_c, lim.high_c, "alarm", lim.alarm_delay_ms),
            (
                "excursion:warning",
                lim.low_c + cfg.warning_margin_c,
                lim.high_c - cfg.warning_margin_c,
                "warning",
                cfg.warning_delay_ms,
            ),
        ):
            direction = 1 if c > high else -1 if c < low else 0
            self.condition(
                slot,
                ts,
                direction != 0,
                low + hyst <= c <= high - hyst,
                kind="excursion",
                severity=severity,
                direction=direction,
                value=c,
                delay_ms=delay,
                clear_ms=cfg.clear_after_ms,
                detail={"limit_c": high if direction > 0 else low, "condition": lim.label}
                if direction
                else None,
                since_last_ok=True,
            )

    def rate(self, ts: int, c: float, history: History) -> None:
        cfg = self.cfg
        times, values = history(ts - cfg.rate_window_ms)
        if len(times) < 2 or ts - int(times[0]) < cfg.rate_window_ms // 2:
            return
        rate = (c - float(values[0])) / (ts - int(times[0]))
        limit = cfg.rate_c_per_ms
        self.condition(
            "rate",
            ts,
            abs(rate) >= limit,
            abs(rate) < limit / 2,
            kind="rate_of_change",
            severity="warning",
            direction=1 if rate > 0 else -1,
            value=c,
            delay_ms=cfg.rate_sustain_ms,
            clear_ms=cfg.clear_after_ms,
            detail={"c_per_min": round(rate * 60_000, 3)},
        )

    def forecast(self, ts: int, c: float, lim: Limits, history: History) -> None:
        """Least-squares trend of the recent window; warns when it meets a limit within the
        horizon. Only close to a limit (the guard band) and only for a clean trend (r²), so a
        thermostat cycle or a door opening in mid-range does not warn."""
        cfg = self.cfg
        slot = "forecast"
        guard = cfg.guard_c(lim)
        pending = self.s.episodes.get("excursion:alarm")
        near = c >= lim.high_c - guard or c <= lim.low_c + guard
        if pending is not None or not near or not math.isfinite(lim.span_c):
            if slot in self.s.episodes:
                self.condition(
                    slot,
                    ts,
                    False,
                    True,
                    kind="forecast",
                    severity="warning",
                    direction=0,
                    value=c,
                    delay_ms=0,
                    clear_ms=0,
                )
            return
        times, values = history(ts - cfg.forecast_window_ms)
        bad, eta_min = False, None
        if len(times) >= 5 and ts - int(times[0]) >= cfg.forecast_window_ms // 2:
            t = (times - times[-1]).astype(np.float64)
            slope, intercept = np.polyfit(t, values, 1)
            fitted = slope * t + intercept
            total = float(np.sum((values - values.mean()) ** 2))
            r2 = 1.0 - float(np.sum((values - fitted) ** 2)) / total if total > 0 else 0.0
            target = lim.high_c if slope > 0 else lim.low_c
            if slope != 0 and r2 >= cfg.forecast_min_r2:
                eta = (target - c) / slope
                bad = 0 < eta <= cfg.forecast_horizon_ms
                eta_min = round(eta / 60_000, 1)
        self.condition(
            slot,
            ts,
            bad,
            not bad,
            kind="forecast",
            severity="warning",
            direction=0,
            value=c,
            delay_ms=0,
            clear_ms=self.cfg.clear_after_ms,
            detail={"eta_min": eta_min} if bad else None,
        )

    def fault(self, ts: int, c: float) -> bool:
        """Error codes, impossible values and stuck probes; True when the value is unusable."""
        cfg, s = self.cfg, self.s
        invalid = c in cfg.error_values_c or not cfg.sensor_min_c <= c <= cfg.sensor_max_c
        self.condition(
            "fault:value",
            ts,
            invalid,
            not invalid,
            kind="sensor_fault",
            severity="alarm",
            direction=0,
            value=None,
            delay_ms=0,
            clear_ms=0,
            detail={"reason": "error value or outside the probe's range", "value_c": c}
            if invalid
            else None,
        )
        if invalid:
            return True
        if c == s.last_c:
            s.same_count += 1
        else:
            s.same_count, s.same_since_ms = 0, ts
        stuck = (
            s.same_count + 1 >= cfg.stuck_min_readings
            and ts - s.same_since_ms >= cfg.stuck_after_ms
        )
        ep = s.episodes.get("fault:stuck")
        if stuck and ep is None:
            # The fault began when the value stopped changing, not when we noticed.
            ep = Episode("sensor_fault", "alarm", 0, s.same_since_ms, None, ts, None)
            ep.detail = {"reason": "stuck", "value_c": c}
            s.episodes["fault:stuck"] = ep
            self._open_if_due("fault:stuck", ep, 0)
        elif stuck and ep is not None:
            ep.note_bad(ts, None)
        elif ep is not None:
            self._end("fault:stuck", ts)
        return False


def step_reading(
    state: SensorState,
    ts: int,
    c: float,
    limits: Limits,
    cfg: DetectorConfig,
    now_ms: int,
    history: History,
    out: list[AlertChange],
    rules: Sequence[DeviceRule] = (),
) -> None:
    """Apply one in-order reading (ts > frontier) to the sensor's state; `rules`: the
    catalog's device rules of the sensor, on top of `limits`."""
    step = _Step(state, cfg, now_ms, out)
    if "missing" in state.episodes:
        ep = state.episodes.pop("missing")
        if ep.alert_id is not None:
            out.append(ep.change("resolved", state.key, now_ms, now_ms))
            state.remember("missing", ep.start_ms, now_ms)
    unusable = step.fault(ts, c)
    state.frontier_ms = ts
    if unusable:
        return
    step.excursions(ts, c, limits)
    step.rate(ts, c, history)
    step.forecast(ts, c, limits, history)
    if rules or state.rules:
        seen = evaluate_device_rules(
            state.key, state.rules, ts, c, rules, now_ms, cfg.reorder_window_ms, out
        )
        for slot, start, end in seen:
            state.remember(slot, start, end)
    state.last_c = c
    if limits.low_c <= c <= limits.high_c:
        state.last_ok_ms = ts


def merge_late(state: SensorState, ts: int, c: float, limits: Limits) -> None:
    """A reading slightly out of order (within the reorder window): it can only move an
    excursion's start earlier or raise its peak; everything else already moved on."""
    ep = state.episodes.get("excursion:alarm")
    if ep is None:
        return
    bad = (c > limits.high_c and ep.direction > 0) or (c < limits.low_c and ep.direction < 0)
    if not bad:
        return
    if ts < ep.start_ms and (ep.prev_ok_ms is None or ts > ep.prev_ok_ms) and ep.alert_id is None:
        ep.start_ms = ts
    if ep.peak_c is None or (c - ep.peak_c) * ep.direction > 0:
        ep.peak_c = c
