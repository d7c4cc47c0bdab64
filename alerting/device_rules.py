"""Alarm rules beyond the product's limits, evaluated the way a data logger evaluates its own.

A USB logger (Berlinger Fridge-tag, Q-tag) carries alarm rules of its own ("above 8 °C for
30 min in one go", "below 2 °C for 60 min in total"); `coldchain logger import` stores
them as `alert_rules` rows of kind "excursion" for the logger's shipment (or a unit), with
`params_json` = {"direction": "high"|"low", "limit_c", "delay_min", "mode":
"consecutive"|"cumulative", "origin"} and, optionally, "from" and "until" (RFC 3339: the
window of the logger run the rule came from). QA compares our alarms with the device's own
record, so these rules follow the device, not the product-limit rules of sensor.py:

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

from alerting.episodes import AlertChange, Episode
from coldchain.models import SensorKey
from coldchain.times import NaiveTimeError, parse_rfc3339_ms, rfc3339_ms

__all__ = ["DeviceRule", "RuleProgress", "device_rule", "evaluate_device_rules", "rule_slot"]

_MINUTE: Final = 60_000
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

    def beyond(self, c: float) -> bool:
        return c > self.limit_c if self.direction > 0 else c < self.limit_c

    def before(self, ts: int) -> bool:
        """The reading precedes the rule's run: the rule does not see it."""
        return self.from_ms is not None and ts < self.from_ms

    def after(self, ts: int) -> bool:
        """The reading follows the rule's run: it closes the window."""
        return self.until_ms is not None and ts > self.until_ms

    def window(self) -> dict[str, str]:
        """The window as RFC 3339 `from`/`until` (the keys that are set), for an alarm's
        detail, so the alert says which run it judged."""
        bounds = {"from": self.from_ms, "until": self.until_ms}
        return {k: rfc3339_ms(ms) for k, ms in bounds.items() if ms is not None}

    def describe(self) -> str:
        side = "above" if self.direction > 0 else "below"
        mode = "in total" if self.cumulative else "in one run"
        text = f"{side} {self.limit_c:g} °C for {self.delay_ms / _MINUTE:g} min {mode}"
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
        round(delay_min * _MINUTE),
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
    """One rule on one sensor (persisted with the sensor's state).

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


class _RuleStep:
    """Applies one in-order reading to one rule's progress; collects the alert changes."""

    def __init__(
        self,
        key: SensorKey,
        rule: DeviceRule,
        progress: RuleProgress,
        now_ms: int,
        reorder_window_ms: int,
        out: list[AlertChange],
    ) -> None:
        self.key, self.rule, self.p = key, rule, progress
        self.now, self.reorder, self.out = now_ms, reorder_window_ms, out

    def apply(self, ts: int, c: float) -> list[tuple[int, int | None]]:
        """Returns the (start, end) of alarms opened or ended, for the sensor's memory."""
        p, rule = self.p, self.rule
        if rule.before(ts):
            return []
        seen = self._settle(ts)
        if rule.after(ts):  # the run is over: an alarm still open stays open (module doc)
            p.last_bad_ms, p.run_start_ms = None, None
            return seen
        if rule.beyond(c):
            if p.run_start_ms is None:
                p.run_start_ms, p.run_ms = ts, 0
                if not rule.cumulative:
                    p.peak_c = None
            if p.first_start_ms is None:
                p.first_start_ms = ts
            p.last_bad_ms = ts
            if p.peak_c is None or (c - p.peak_c) * rule.direction > 0:
                p.peak_c = c
            if p.alarm is not None:
                p.alarm.note_bad(ts, c)
            elif rule.delay_ms <= 0:
                seen.append(self._open(ts, ts))
            return seen
        if p.run_start_ms is not None and not rule.cumulative and p.alarm is not None:
            seen.append(self._resolve(ts))
        p.last_bad_ms, p.run_start_ms = None, None
        return seen

    def _settle(self, ts: int) -> list[tuple[int, int | None]]:
        """The previous reading's weight is known at `ts`: count it, maybe fire."""
        p, rule = self.p, self.rule
        if p.last_bad_ms is None:
            return []
        weight = _weight(rule, p.last_bad_ms, ts)
        counted = p.total_ms if rule.cumulative else p.run_ms
        p.run_ms += weight
        p.total_ms += weight
        if p.alarm is None and counted + weight >= rule.delay_ms:
            return [self._open(p.last_bad_ms + max(0, rule.delay_ms - counted), ts)]
        return []

    def _open(self, trigger_ms: int, completed_ms: int) -> tuple[int, int | None]:
        p, rule = self.p, self.rule
        start = p.first_start_ms if rule.cumulative else p.run_start_ms
        assert start is not None
        assert p.last_bad_ms is not None
        ep = Episode("excursion", "alarm", rule.direction, start, None, p.last_bad_ms, p.peak_c)
        ep.rule_id = rule.rule_id
        ep.detail = {
            "limit_c": rule.limit_c,
            "condition": rule.describe(),
            "rule_id": rule.rule_id,
            "mode": "cumulative" if rule.cumulative else "consecutive",
            "delay_min": rule.delay_ms / _MINUTE,
            "triggered_at": rfc3339_ms(trigger_ms),
            "beyond_min": round(p.beyond_ms(rule) / _MINUTE, 1),
        } | rule.window()
        p.alarm = ep
        self.out.append(ep.open(self.key, self.now, self.reorder, completed_ms=completed_ms))
        return start, None

    def _resolve(self, end_ms: int) -> tuple[int, int | None]:
        ep, rule = self.p.alarm, self.rule
        assert ep is not None
        ep.detail["beyond_min"] = round(self.p.beyond_ms(rule) / _MINUTE, 1)
        self.out.append(ep.change("resolved", self.key, self.now, end_ms))
        self.p.alarm = None
        return ep.start_ms, end_ms


def evaluate_device_rules(
    key: SensorKey,
    progress: dict[str, RuleProgress],
    ts: int,
    c: float,
    rules: Sequence[DeviceRule],
    now_ms: int,
    reorder_window_ms: int,
    out: list[AlertChange],
) -> list[tuple[str, int, int | None]]:
    """Apply one in-order, usable reading to every rule of the sensor.

    Returns (slot, start, end) of each alarm opened (end None) or ended, so the caller can
    remember it (an older page overlapping it is then the same event). The progress of a
    rule no longer in the catalog is dropped (its open alarm stays for people to close)."""
    for stale in progress.keys() - {str(rule.rule_id) for rule in rules}:
        del progress[stale]
    seen: list[tuple[str, int, int | None]] = []
    for rule in rules:
        p = progress.setdefault(str(rule.rule_id), RuleProgress())
        step = _RuleStep(key, rule, p, now_ms, reorder_window_ms, out)
        seen += [(rule_slot(rule.rule_id), a, b) for a, b in step.apply(ts, c)]
    return seen
