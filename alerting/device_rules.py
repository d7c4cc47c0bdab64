"""Alarm rules beyond the product's limits, evaluated the way a data logger evaluates its own.

A USB logger (Berlinger Fridge-tag, Q-tag) carries alarm rules of its own ("above 8 °C for
30 min in one go", "below 2 °C for 60 min in total"); `coldchain logger import` stores
them as `alert_rules` rows of kind "excursion" for the logger's shipment (or a unit), with
`params_json` = {"direction": "high"|"low", "limit_c", "delay_min", "mode":
"consecutive"|"cumulative", "origin"} and, optionally, "from" and "until" (RFC 3339: the
window of the logger run the rule came from). QA compares our alarms with the device's own
record, so these rules follow the device, not the product-limit rules of rules.py:

- Time beyond the limit: each reading beyond it stands for the time to the next reading,
  at most one logging interval (a gap is not bridged by the value before it; the time base
  of `coldchain.mkt` weights). A reading equal to the limit is inside.
- "consecutive": one continuous run beyond the limit must reach the delay; the alarm's
  start is the run's first reading beyond, its trigger the moment the run's time beyond
  reached the delay (run start + delay without gaps), its end the first reading back
  inside. Each run that reaches the delay is one alarm (a Q-tag lists each as an event).
- "cumulative": the time beyond adds up from the first reading the rule sees (the start
  of the record: a shipment's logger run); the alarm fires once, when the total reaches the
  delay, starts at the record's first excursion and stays open (nothing clears it: the
  device reports no end either).
- No hysteresis and no clear delay: a device ends an event on its first reading back.
- A window ("from"/"until"): one physical logger is reused on several shipments, and each
  run's rules are that run's only; the device itself started each run from zero. So a
  windowed rule sees only readings with from <= event time <= until: its cumulative total
  starts at zero at `from`, and two runs with the same rules are independent. The window
  *closes* at the first reading after `until` (event time; the next run's readings, or any
  later one): the last reading beyond stands until `until` at most (a Q-tag's `until` is its
  stop, after its last log row), which may still fire the alarm (trigger <= until), and a
  run still beyond the limit then is *not* ended: its alarm stays open, as the device lists
  an event still open at stop (`TS E` empty), and nothing clears it (like a cumulative one;
  people close it). Its `beyond_min` as of the window's end is `RuleProgress.beyond_ms(rule,
  until)`. Without a window the rule applies always, as before.

A reading's weight is known only when the next one arrives, so an alarm is decided on that
next reading; its trigger time is exact all the same. The alert has kind "excursion",
severity "alarm", `rule_id` set (in its deterministic id too, so it never collides with the
product-limit alarm of the same excursion), and its `detail` carries the rule, the trigger
time and the time beyond the limit.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass
from typing import Any, Final

from alerting.episodes import Episode, Report
from coldchain.judgement.limits import MINUTE_MS
from coldchain.times import NaiveTimeError, parse_rfc3339_ms, rfc3339_ms

__all__ = ["DeviceRule", "RuleProgress", "apply_device_rules", "device_rule", "rule_slot"]

_DIRECTIONS: Final = {"high": 1, "low": -1}
_MODES: Final = ("consecutive", "cumulative")


@dataclass(frozen=True, slots=True)
class DeviceRule:
    """One alarm rule as the detector applies it to one sensor.

    Attributes:
        rule_id: the `alert_rules` row (the alert's `rule_id`).
        direction: +1 alarms above `limit_c`, -1 below it.
        delay_ms: time beyond the limit that raises the alarm.
        cumulative: the time beyond adds up over the record (else one run must last).
        cap_ms: the sensor's logging interval: the most one reading stands for.
        origin: where the rule came from, e.g. "Q-tag CLm doc LR RCPJ00010 alarm 1".
        from_ms, until_ms: the run the rule belongs to (event time, both inclusive); None:
            unbounded on that side.
    """

    rule_id: int
    direction: int
    limit_c: float
    delay_ms: int
    cumulative: bool
    cap_ms: int
    origin: str = ""
    from_ms: int | None = None
    until_ms: int | None = None

    def beyond(self, value_c: float) -> bool:
        return value_c > self.limit_c if self.direction > 0 else value_c < self.limit_c

    def before(self, ts_ms: int) -> bool:
        """The reading precedes the rule's run: the rule does not see it."""
        return self.from_ms is not None and ts_ms < self.from_ms

    def after(self, ts_ms: int) -> bool:
        """The reading follows the rule's run: it closes the window."""
        return self.until_ms is not None and ts_ms > self.until_ms

    def window(self) -> dict[str, str]:
        """The window as RFC 3339 `from`/`until` (the keys that are set), for an alarm's
        detail, so the alert says which run it judged."""
        bounds = {"from": self.from_ms, "until": self.until_ms}
        return {k: rfc3339_ms(ms) for k, ms in bounds.items() if ms is not None}

    def describe(self) -> str:
        side = "above" if self.direction > 0 else "below"
        mode = "in total" if self.cumulative else "in one run"
        text = f"{side} {self.limit_c:g} °C for {self.delay_ms / MINUTE_MS:g} min {mode}"
        return f"{self.origin}: {text}" if self.origin else text


def device_rule(rule_id: int, params: Mapping[str, Any], cap_ms: int) -> DeviceRule:
    """The rule of an `alert_rules` row of kind "excursion" from its `params_json`.

    Raises:
        ValueError: a parameter is missing or out of its domain (the message names it).
    """
    direction = _DIRECTIONS.get(str(params.get("direction")))
    if direction is None:
        raise ValueError(f"direction: expected 'high' or 'low', got {params.get('direction')!r}")
    mode = params.get("mode", "consecutive")
    if mode not in _MODES:
        raise ValueError(f"mode: expected 'consecutive' or 'cumulative', got {mode!r}")
    limit_c = _number(params, "limit_c")
    delay_min = _number(params, "delay_min")
    if delay_min < 0:
        raise ValueError(f"delay_min: expected a number >= 0, got {delay_min!r}")
    if cap_ms <= 0:
        raise ValueError(f"log interval: expected > 0 ms, got {cap_ms}")
    from_ms, until_ms = _moment(params, "from"), _moment(params, "until")
    if from_ms is not None and until_ms is not None and until_ms < from_ms:
        raise ValueError(f"until: expected at or after from, got {params['until']!r}")
    return DeviceRule(
        rule_id,
        direction,
        limit_c,
        round(delay_min * MINUTE_MS),
        mode == "cumulative",
        cap_ms,
        str(params.get("origin") or ""),
        from_ms,
        until_ms,
    )


def _number(params: Mapping[str, Any], name: str) -> float:
    value = params.get(name)
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError(f"{name}: expected a number, got {value!r}")
    return float(value)


def _moment(params: Mapping[str, Any], name: str) -> int | None:
    """An optional RFC 3339 instant with an offset, as epoch ms (absent or null: None)."""
    value = params.get(name)
    if value is None:
        return None
    if isinstance(value, str):
        try:
            return parse_rfc3339_ms(value)
        except NaiveTimeError:
            raise ValueError(
                f"{name}: expected a time with an offset (e.g. Z), got {value!r}"
            ) from None
        except ValueError:
            pass
    raise ValueError(f"{name}: expected an RFC 3339 time, got {value!r}")


def rule_slot(rule_id: int) -> str:
    """The name under which a rule's alarms are remembered (overlap checks of late data)."""
    return f"rule:{rule_id}"


@dataclass(slots=True)
class RuleProgress:
    """One rule on one sensor (persisted with the sensor's state), and the rule's way of
    taking a reading: `apply`.

    Attributes:
        last_bad_ms: the latest reading, when it was beyond the limit: its weight is still
            open (the next reading fixes it); None when the latest reading was inside.
        run_start_ms: the current run's first reading beyond; None outside a run.
        run_ms: time beyond in the current run, readings whose weight is known.
        total_ms: time beyond since the record began (cumulative rules).
        first_start_ms: the record's first reading beyond (a cumulative alarm's start).
        peak_c: the extreme value of the current run (consecutive) or record (cumulative).
        alarm: the open alarm of the current run (consecutive) or of the record (cumulative).
    """

    last_bad_ms: int | None = None
    run_start_ms: int | None = None
    run_ms: int = 0
    total_ms: int = 0
    first_start_ms: int | None = None
    peak_c: float | None = None
    alarm: Episode | None = None

    def beyond_ms(self, rule: DeviceRule, until_ms: int | None = None) -> int:
        """Time beyond the limit counted by the rule (run or record), with the latest
        reading standing until `until_ms` (at most one interval, never past the rule's
        window) when it is beyond."""
        known = self.total_ms if rule.cumulative else self.run_ms
        if until_ms is None or self.last_bad_ms is None:
            return known
        return known + _weight(rule, self.last_bad_ms, until_ms)

    def apply(self, rule: DeviceRule, ts_ms: int, value_c: float, report: Report) -> None:
        """One in-order, usable reading: the previous reading's weight is now known (which
        may fire the alarm); then this one starts or extends a run beyond the limit, or
        ends the run (and a consecutive rule's alarm)."""
        if rule.before(ts_ms):
            return
        self._settle(rule, ts_ms, report)
        if rule.after(ts_ms):  # the run is over: an alarm still open stays open (module doc)
            self.last_bad_ms, self.run_start_ms = None, None
            return
        if rule.beyond(value_c):
            self._note_beyond(rule, ts_ms, value_c, report)
            return
        if self.run_start_ms is not None and not rule.cumulative and self.alarm is not None:
            self._resolve(rule, ts_ms, report)
        self.last_bad_ms, self.run_start_ms = None, None

    def _note_beyond(self, rule: DeviceRule, ts_ms: int, value_c: float, report: Report) -> None:
        if self.run_start_ms is None:
            self.run_start_ms, self.run_ms = ts_ms, 0
            if not rule.cumulative:
                self.peak_c = None
        if self.first_start_ms is None:
            self.first_start_ms = ts_ms
        self.last_bad_ms = ts_ms
        if self.peak_c is None or (value_c - self.peak_c) * rule.direction > 0:
            self.peak_c = value_c
        if self.alarm is not None:
            self.alarm.note_bad(ts_ms, value_c)
        elif rule.delay_ms <= 0:
            self._open(rule, ts_ms, ts_ms, report)

    def _settle(self, rule: DeviceRule, ts_ms: int, report: Report) -> None:
        """The previous reading's weight is known at `ts_ms`: count it, maybe fire."""
        if self.last_bad_ms is None:
            return
        weight = _weight(rule, self.last_bad_ms, ts_ms)
        counted = self.total_ms if rule.cumulative else self.run_ms
        self.run_ms += weight
        self.total_ms += weight
        if self.alarm is None and counted + weight >= rule.delay_ms:
            trigger_ms = self.last_bad_ms + max(0, rule.delay_ms - counted)
            self._open(rule, trigger_ms, ts_ms, report)

    def _open(self, rule: DeviceRule, trigger_ms: int, completed_ms: int, report: Report) -> None:
        start = self.first_start_ms if rule.cumulative else self.run_start_ms
        assert start is not None
        assert self.last_bad_ms is not None
        detail = {
            "limit_c": rule.limit_c,
            "condition": rule.describe(),
            "rule_id": rule.rule_id,
            "mode": "cumulative" if rule.cumulative else "consecutive",
            "delay_min": rule.delay_ms / MINUTE_MS,
            "triggered_at": rfc3339_ms(trigger_ms),
            "beyond_min": round(self.beyond_ms(rule) / MINUTE_MS, 1),
        } | rule.window()
        self.alarm = Episode.device_alarm(
            rule.rule_id,
            rule.direction,
            start_ms=start,
            last_bad_ms=self.last_bad_ms,
            peak_c=self.peak_c,
            detail=detail,
        )
        report.opened(rule_slot(rule.rule_id), self.alarm, completed_ms=completed_ms)

    def _resolve(self, rule: DeviceRule, end_ms: int, report: Report) -> None:
        alarm = self.alarm
        assert alarm is not None
        alarm.detail["beyond_min"] = round(self.beyond_ms(rule) / MINUTE_MS, 1)
        report.resolved(rule_slot(rule.rule_id), alarm, end_ms)
        self.alarm = None

    def to_json(self) -> dict[str, Any]:
        raw = asdict(self)
        raw["alarm"] = None if self.alarm is None else self.alarm.to_json()
        return raw

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> RuleProgress:
        alarm = raw.get("alarm")
        return cls(**{**raw, "alarm": None if alarm is None else Episode.from_json(alarm)})


def _weight(rule: DeviceRule, bad_ms: int, next_ms: int) -> int:
    """How long the reading beyond at `bad_ms` stands, the next one coming at `next_ms`:
    until then, at most one logging interval, and not past the end of the rule's run."""
    end = next_ms if rule.until_ms is None else min(next_ms, rule.until_ms)
    return max(0, min(end - bad_ms, rule.cap_ms))


def apply_device_rules(
    progress: dict[str, RuleProgress],
    rules: Sequence[DeviceRule],
    ts_ms: int,
    value_c: float,
    report: Report,
) -> None:
    """Apply one in-order, usable reading to every rule of the sensor (`progress`: the
    sensor's, by rule id). Each alarm opened or ended is remembered under its rule's slot
    (an older page overlapping it is then the same event). The progress of a rule no
    longer in the catalog is dropped (its open alarm stays for people to close)."""
    for stale in progress.keys() - {str(rule.rule_id) for rule in rules}:
        del progress[stale]
    for rule in rules:
        progress.setdefault(str(rule.rule_id), RuleProgress()).apply(rule, ts_ms, value_c, report)
