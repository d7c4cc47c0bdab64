"""The rules, as one sensor's readings meet them: the slow, exact path for every reading that
is not plainly in range and in order (the detector's numpy pass handles those in bulk).

A reading walks through `SensorRules.apply`, top to bottom: data is back (missing data
resolved), sensor fault (error code, outside the probe's range; an unusable value stops
here; one value for too long), excursion beyond the action limits (alarm, after the alarm
delay), beyond the alert limits (warning, after the warning delay), rate of change, the
time-to-breach forecast, and the catalog's device rules of the sensor (device_rules.py).
Each built-in condition is an `Episode` in its slot of the sensor's state; episodes.py has
delay and clearing. Besides the walk: a reading just out of order (`merge_late`), a silent
sensor (`open_missing_data`) and a device's battery (`judge_battery`).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from dataclasses import dataclass

import numpy as np

from alerting.config import DetectorConfig
from alerting.device_rules import DeviceRule, apply_device_rules
from alerting.episodes import Episode, Report, Severity
from alerting.history import History
from alerting.sensor import (
    BATTERY,
    EXCURSION_ALARM,
    FAULT_STUCK,
    FAULT_VALUE,
    FORECAST,
    MISSING,
    RATE,
    SensorState,
    excursion_slot,
)
from alerting.timeline import Handover, Segment
from coldchain.judgement.limits import MINUTE_MS, Limits

__all__ = ["Criteria", "HandedOver", "SensorRules", "judge_battery", "open_missing_data"]

#: The excursion in progress at a hand-over's other place (`SensorTable.handed_over`).
HandedOver = Callable[[Handover], Episode | None]

_BATTERY_CLEAR_PCT = 5  # a battery warning clears this many points above the threshold


@dataclass(frozen=True, slots=True)
class Criteria:
    """What a sensor's readings are judged against while one segment of limits applies,
    worked out once per segment rather than per reading.

    Attributes:
        limits: the storage condition's range and alarm delay.
        alert_limits: the warning's range (`DetectorConfig.warning_limits`).
        guard_c: how far inside the range a value is watched closely (`guard_c`).
        device_rules: the catalog's device rules of the sensor, on top of the limits.
        interval_ms: how often the sensor logs there (a reading's longest step that is not
            a gap, `coldchain.judgement.excursion.gap_ms`).
        recorder: a logger that checks its own probe (`Segment.recorder`): no stuck rule.
        handover: the segment begins where a batch was handed over (`Segment.handover`).
    """

    limits: Limits
    alert_limits: Limits
    guard_c: float
    device_rules: tuple[DeviceRule, ...]
    interval_ms: int
    recorder: bool
    handover: Handover | None

    @classmethod
    def of(cls, segment: Segment, cfg: DetectorConfig) -> Criteria:
        limits = segment.limits
        return cls(
            limits,
            cfg.warning_limits(limits),
            cfg.guard_c(limits),
            tuple(segment.rules),
            segment.interval_ms,
            segment.recorder,
            segment.handover,
        )


class SensorRules:
    """The rules applied to one sensor's in-order readings, at one moment of processing time.

    Usage:
        rules = SensorRules(cfg, state, history, report)
        rules.apply(ts_ms, value_c, table.criteria_at(row, ts_ms))
    """

    def __init__(
        self,
        cfg: DetectorConfig,
        state: SensorState,
        history: History,
        report: Report,
        handed_over: HandedOver | None = None,
    ) -> None:
        """`handed_over`: the excursion in progress at a hand-over's other place, if any
        (`SensorTable.handed_over`)."""
        self.cfg = cfg
        self.state = state
        self.history = history
        self.report = report
        self.handed_over = handed_over

    def apply(self, ts_ms: int, value_c: float, criteria: Criteria) -> None:
        """One reading after the sensor's frontier, through every rule in order;
        `criteria`: what applies to the sensor at `ts_ms`."""
        state, limits = self.state, criteria.limits
        previous_ms, state.frontier_ms = state.frontier_ms, ts_ms
        self._end(MISSING, self.report.now_ms)
        if self._faulty_value(ts_ms, value_c):
            return  # not a temperature: judged by nothing else
        if not criteria.recorder:
            self._stuck(ts_ms, value_c)
        interval_ms = criteria.interval_ms
        carried = self._carried(criteria, previous_ms, ts_ms)
        self._excursion(Severity.ALARM, ts_ms, value_c, limits, interval_ms, carried)
        self._excursion(Severity.WARNING, ts_ms, value_c, criteria.alert_limits, interval_ms)
        self._rate(ts_ms, value_c)
        self._forecast(ts_ms, value_c, criteria)
        if criteria.device_rules or state.rules:
            apply_device_rules(state.rules, criteria.device_rules, ts_ms, value_c, self.report)
        state.last_c = value_c
        if limits.low_c <= value_c <= limits.high_c:
            state.last_ok_ms = ts_ms

    def merge_late(self, ts_ms: int, value_c: float, criteria: Criteria) -> None:
        """A reading slightly out of order (within the reorder window): the excursions in
        progress become what they would have been had it come in order. One beyond on the
        same side before an excursion's first moves its start, and its delay's basis, earlier
        (which may complete the delay); one inside the range amid a pending excursion ended
        that one: what follows it starts anew. The other rules have moved on."""
        if self.cfg.validity.reason(value_c) is not None:
            return
        for severity, limits in (
            (Severity.ALARM, criteria.limits),
            (Severity.WARNING, criteria.alert_limits),
        ):
            slot = excursion_slot(severity)
            episode = self.state.episodes.get(slot)
            if episode is None or episode.alert_id is not None:
                continue  # an open alert keeps its start (it is part of its id)
            direction = limits.direction(value_c)
            if direction == episode.direction and ts_ms < episode.start_ms:
                self._earlier_start(episode, ts_ms, value_c, criteria.interval_ms)
                if episode.sustained_ms() >= limits.delay_ms(direction) or limits.critical(value_c):
                    self.report.opened(slot, episode)
            elif direction == 0 and ts_ms > episode.start_ms:
                self._restart_after(slot, episode, ts_ms, criteria.interval_ms)

    def _earlier_start(
        self, episode: Episode, ts_ms: int, value_c: float, interval_ms: int
    ) -> None:
        last_ok = self.state.last_ok_ms
        if episode.prev_ok_ms is not None and episode.prev_ok_ms >= ts_ms:
            return  # before the reading inside that preceded it: not part of it
        since_ms = self.cfg.excursion.since_ms(
            last_ok if last_ok is not None and last_ok < ts_ms else None, ts_ms, interval_ms
        )
        episode.start_ms = ts_ms
        episode.prev_ok_ms = None if since_ms == ts_ms else since_ms
        episode.note_bad(ts_ms, value_c)

    def _restart_after(self, slot: str, episode: Episode, ts_ms: int, interval_ms: int) -> None:
        times, values = self.history(ts_ms + 1)
        valid = self.cfg.validity.valid(values)  # the recent readings keep faulty ones too
        times, values = times[valid], values[valid]
        if len(times) == 0:
            self._end(slot, ts_ms)
            return
        first_ms = int(times[0])
        since_ms = self.cfg.excursion.since_ms(ts_ms, first_ms, interval_ms)
        episode.start_ms = first_ms
        episode.prev_ok_ms = None if since_ms == first_ms else since_ms
        worst = values.max() if episode.direction > 0 else values.min()
        episode.peak_c = float(worst)
        if self.state.last_ok_ms is None or self.state.last_ok_ms < ts_ms:
            self.state.last_ok_ms = ts_ms

    # -- the rules, in the order applied -------------------------------------------------

    def _faulty_value(self, ts_ms: int, value_c: float) -> bool:
        """Not a temperature (the domain's reading-validity rule): a fault, and unusable."""
        reason = self.cfg.validity.reason(value_c)
        if reason is not None:
            found = Episode.fault(start_ms=ts_ms, at_ms=ts_ms, reason=reason, value_c=value_c)
            self._beyond(FAULT_VALUE, found, delay_ms=0)
        else:
            self._within(FAULT_VALUE, ts_ms, cleared=True, clear_ms=0)
        return reason is not None

    def _stuck(self, ts_ms: int, value_c: float) -> None:
        """One value for `stuck_min_readings` readings and `stuck_after_ms`: a fault that
        began when the value stopped changing, not when we noticed."""
        cfg, state = self.cfg, self.state
        if value_c == state.last_c:
            state.same_count += 1
        else:
            state.same_count, state.same_since_ms = 0, ts_ms
        stuck = (
            state.same_count + 1 >= cfg.stuck_min_readings
            and ts_ms - state.same_since_ms >= cfg.stuck_after_ms
        )
        if stuck:
            found = Episode.fault(
                start_ms=state.same_since_ms, at_ms=ts_ms, reason="stuck", value_c=value_c
            )
            self._beyond(FAULT_STUCK, found, delay_ms=0)
        else:
            self._within(FAULT_STUCK, ts_ms, cleared=True, clear_ms=0)

    def _carried(self, criteria: Criteria, previous_ms: int, ts_ms: int) -> Episode | None:
        """At the sensor's first reading since its place received a batch (`Handover`): the
        excursion then in progress where the batch came from, which goes on here."""
        handover = criteria.handover
        if handover is None or self.handed_over is None:
            return None
        if not previous_ms < handover.at_ms <= ts_ms:
            return None
        return self.handed_over(handover)

    def _excursion(
        self,
        severity: Severity,
        ts_ms: int,
        value_c: float,
        limits: Limits,
        interval_ms: int,
        carried: Episode | None = None,
    ) -> None:
        """The domain's excursion rule (coldchain.judgement.excursion), which the batch record
        applies too: beyond `limits` for their delay, counted from the last reading inside
        unless that is a gap ago; a pending one ends at the first reading back, an alert
        once back inside by the hysteresis for the clear time. `carried`: an excursion
        handed over with the batch; one on the same side goes on here, from its own start
        (the record joins the two places the same way). The delay is the limits' for that
        side, and none for a reading beyond a critical limit (an alarm profile's)."""
        if not math.isfinite(limits.span_c):
            return
        slot, rule = excursion_slot(severity), self.cfg.excursion
        direction = limits.direction(value_c)
        if direction == 0:
            pending = self.state.episodes.get(slot)
            if pending is not None and pending.alert_id is None:
                self._end(slot, ts_ms)
                return
            cleared = rule.cleared(value_c, limits)
            self._within(slot, ts_ms, cleared=cleared, clear_ms=rule.clear_after_ms)
            return
        since_ms = rule.since_ms(self.state.last_ok_ms, ts_ms, interval_ms)
        found = Episode.excursion(
            severity,
            direction,
            at_ms=ts_ms,
            prev_ok_ms=None if since_ms == ts_ms else since_ms,
            value_c=value_c,
            limit_c=limits.high_c if direction > 0 else limits.low_c,
            condition=limits.label,
        )
        if (
            carried is not None
            and carried.direction == direction
            and slot not in self.state.episodes
        ):
            found.start_ms, found.prev_ok_ms = carried.start_ms, carried.prev_ok_ms
            found.detail["handed_over"] = True
            if carried.peak_c is not None and (carried.peak_c - value_c) * direction > 0:
                found.peak_c = carried.peak_c
        critical = limits.critical(value_c)
        if critical:
            found.detail["critical"] = True
        if limits.latching:
            found.detail["latching"] = True
        self._beyond(slot, found, delay_ms=0 if critical else limits.delay_ms(direction))

    def _rate(self, ts_ms: int, value_c: float) -> None:
        """Change over `rate_window_ms` faster than `rate_c_per_ms`, for `rate_sustain_ms`
        (a door opening is not); clears below half that rate."""
        cfg = self.cfg
        times, values = self.history(ts_ms - cfg.rate_window_ms)
        if len(times) < 2 or ts_ms - int(times[0]) < cfg.rate_window_ms // 2:
            return
        rate = (value_c - float(values[0])) / (ts_ms - int(times[0]))
        limit = cfg.rate_c_per_ms
        if abs(rate) < limit:
            self._within(
                RATE, ts_ms, cleared=abs(rate) < limit / 2, clear_ms=cfg.excursion.clear_after_ms
            )
            return
        found = Episode.rate_of_change(
            1 if rate > 0 else -1,
            at_ms=ts_ms,
            value_c=value_c,
            c_per_min=round(rate * MINUTE_MS, 3),
        )
        self._beyond(RATE, found, delay_ms=cfg.rate_sustain_ms)

    def _forecast(self, ts_ms: int, value_c: float, criteria: Criteria) -> None:
        """Least-squares trend of the recent window; warns when it meets a limit within the
        horizon. Only close to a limit (the guard band) and only for a clean trend (r²), so a
        thermostat cycle or a door opening in mid-range does not warn."""
        cfg, limits, guard = self.cfg, criteria.limits, criteria.guard_c
        pending = self.state.episodes.get(EXCURSION_ALARM)
        near = value_c >= limits.high_c - guard or value_c <= limits.low_c + guard
        if pending is not None or not near or not math.isfinite(limits.span_c):
            self._within(FORECAST, ts_ms, cleared=True, clear_ms=0)
            return
        times, values = self.history(ts_ms - cfg.forecast_window_ms)
        eta_ms, target = None, limits.high_c
        if len(times) >= 5 and ts_ms - int(times[0]) >= cfg.forecast_window_ms // 2:
            t = (times - times[-1]).astype(np.float64)
            slope, intercept = np.polyfit(t, values, 1)
            fitted = slope * t + intercept
            total = float(np.sum((values - values.mean()) ** 2))
            r2 = 1.0 - float(np.sum((values - fitted) ** 2)) / total if total > 0 else 0.0
            target = limits.high_c if slope > 0 else limits.low_c
            if slope != 0 and r2 >= cfg.forecast_min_r2:
                eta_ms = (target - value_c) / slope
        if eta_ms is None or not 0 < eta_ms <= cfg.forecast_horizon_ms:
            self._within(FORECAST, ts_ms, cleared=True, clear_ms=cfg.excursion.clear_after_ms)
            return
        eta_min = round(eta_ms / MINUTE_MS, 1)
        found = Episode.forecast(
            at_ms=ts_ms, value_c=value_c, eta_min=eta_min, limit_c=target, condition=limits.label
        )
        self._beyond(FORECAST, found, delay_ms=0)

    # -- an episode's course -------------------------------------------------------------

    def _beyond(self, slot: str, found: Episode, *, delay_ms: int) -> None:
        """A reading that meets the condition; `found`: the episode it would start. It
        starts the slot's episode, or extends the one in progress (a crossing from one side
        of the range to the other ends that one and starts anew); the alert opens once the
        episode has lasted `delay_ms`."""
        episodes = self.state.episodes
        episode = episodes.get(slot)
        crossed = episode is not None and episode.direction * found.direction < 0
        if crossed:
            self._end(slot, found.start_ms)
            episode = None
        if episode is None:
            episode = episodes[slot] = found
        else:
            episode.note_bad(found.last_bad_ms, found.peak_c)
            episode.detail.update(found.detail)
        if episode.alert_id is None and episode.sustained_ms() >= delay_ms:
            self.report.opened(slot, episode)

    def _within(self, slot: str, ts_ms: int, *, cleared: bool, clear_ms: int) -> None:
        """A reading that does not meet the condition. The slot's episode, if any, ends at
        the first reading back once readings have been `cleared` (back past the hysteresis)
        for `clear_ms` since then."""
        episode = self.state.episodes.get(slot)
        if episode is None:
            return
        if episode.back_ms is None:
            episode.back_ms = ts_ms
        if cleared and ts_ms - episode.back_ms >= clear_ms:
            self._end(slot, episode.back_ms)

    def _end(self, slot: str, end_ms: int) -> None:
        """The slot's episode is over; its alert, if it had one, resolved at `end_ms`."""
        episode = self.state.episodes.pop(slot, None)
        if episode is not None and episode.alert_id is not None:
            self.report.resolved(slot, episode, end_ms)
        elif episode is not None and slot == EXCURSION_ALARM:
            self.state.ended_pending(episode, end_ms)


def open_missing_data(state: SensorState, since_ms: int, report: Report) -> None:
    """No reading since `since_ms`; resolved by the next reading (`SensorRules.apply`)."""
    episode = state.episodes[MISSING] = Episode.missing_data(
        since_ms=since_ms, now_ms=report.now_ms
    )
    report.opened(MISSING, episode)


def judge_battery(
    state: SensorState, ts_ms: int, battery_pct: float, cfg: DetectorConfig, report: Report
) -> None:
    """A device's battery status (its state: sensor "*"): a warning below
    `low_battery_pct`, cleared a few points above it so a level on the edge is one."""
    state.frontier_ms = ts_ms
    episode = state.episodes.get(BATTERY)
    if episode is None and battery_pct < cfg.low_battery_pct:
        episode = state.episodes[BATTERY] = Episode.low_battery(
            at_ms=ts_ms, battery_pct=battery_pct
        )
        report.opened(BATTERY, episode)
    elif episode is not None and battery_pct >= cfg.low_battery_pct + _BATTERY_CLEAR_PCT:
        del state.episodes[BATTERY]
        report.resolved(BATTERY, episode, ts_ms)
