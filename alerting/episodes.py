"""Episodes: one condition on one sensor, from its first bad reading until it has cleared,
and the alert changes the detector hands to the alert store.

An episode only becomes an alert once it has lasted its delay (the alarm delay of the
storage condition: a short door opening never becomes one), and it only clears after the
value has been back past the hysteresis for the clear time, so a value dancing around a
limit is one episode and one alert, not fifty.
"""

from __future__ import annotations

import hashlib
from dataclasses import asdict, dataclass, field
from enum import StrEnum
from typing import Any, Literal, Protocol

from coldchain.judgement.limits import MINUTE_MS
from coldchain.models import SensorKey

__all__ = [
    "AlertChange",
    "AlertKind",
    "AlertMemory",
    "Episode",
    "Report",
    "Severity",
    "alert_id_for",
]


class AlertKind(StrEnum):
    """What an alert is about. The values are the wire strings (catalog `alerts.kind`, the
    MQTT alert event, the state file), so they never change."""

    EXCURSION = "excursion"
    MISSING_DATA = "missing_data"
    SENSOR_FAULT = "sensor_fault"
    LOW_BATTERY = "low_battery"
    RATE_OF_CHANGE = "rate_of_change"
    FORECAST = "forecast"
    # #22: a probe's calibration due soon (warning) or past due (alarm): calibration_check.py.
    CALIBRATION_DUE = "calibration_due"


class Severity(StrEnum):
    """How loud an alert is; the values are the wire strings, like `AlertKind`'s."""

    WARNING = "warning"
    ALARM = "alarm"


def alert_id_for(
    key: SensorKey, kind: AlertKind, severity: Severity, start_ms: int, rule_id: int | None = None
) -> str:
    """A deterministic id: the same alert found twice (replay, restart) has the same id.
    An alarm of a catalog rule (`rule_id`) has its own: the product-limit alarm of the same
    excursion, or another rule's, is another alert."""
    parts = (*key, kind, severity, str(start_ms))
    text = "/".join(parts if rule_id is None else (*parts, f"rule{rule_id}"))
    return "al-" + hashlib.sha256(text.encode()).hexdigest()[:24]


@dataclass(frozen=True, slots=True)
class AlertChange:
    """An alert the detector opens or resolves; `at_ms` is processing time.

    Attributes:
        retrospective: the reading that completed the condition was already older than
            the reorder window when it arrived (a logger's backfill).
        rule_id: the catalog `alert_rules` row that raised it (device rules), else None.
    """

    state: Literal["open", "resolved"]
    alert_id: str
    kind: AlertKind
    severity: Severity
    key: SensorKey
    start_ms: int
    end_ms: int | None
    peak_c: float | None
    retrospective: bool
    at_ms: int
    detail: dict[str, Any] = field(default_factory=dict)
    rule_id: int | None = None


@dataclass(slots=True)
class Episode:
    """A condition in progress. `alert_id` is None while it is pending (within its delay).
    Built by the named constructors, one per kind of condition, which know its severity,
    direction and `detail`.

    Attributes:
        direction: +1 above a high limit (or rising), -1 below a low one, 0 none.
        prev_ok_ms: the last good reading before the first bad one: the condition began
            after it, so the delay is counted from there (sampling never hides a sustained
            excursion by up to one logging interval).
        back_ms: the first reading back within the limit, None while still out; the
            episode's end once it clears.
        rule_id: the catalog rule it belongs to (device_rules.py), None for the built-in
            rules; part of the alert id.
    """

    kind: AlertKind
    severity: Severity
    direction: int
    start_ms: int
    prev_ok_ms: int | None
    last_bad_ms: int
    peak_c: float | None
    back_ms: int | None = None
    alert_id: str | None = None
    retrospective: bool = False
    detail: dict[str, Any] = field(default_factory=dict)
    rule_id: int | None = None

    @classmethod
    def excursion(
        cls,
        severity: Severity,
        direction: int,
        *,
        at_ms: int,
        prev_ok_ms: int | None,
        value_c: float,
        limit_c: float,
        condition: str,
    ) -> Episode:
        """A value beyond `limit_c` of the storage condition (`condition`: its label) at
        `at_ms`: an alarm beyond the range, a warning beyond the alert limits."""
        return cls(
            AlertKind.EXCURSION,
            severity,
            direction,
            at_ms,
            prev_ok_ms,
            at_ms,
            value_c,
            detail={"limit_c": limit_c, "condition": condition},
        )

    @classmethod
    def device_alarm(
        cls,
        rule_id: int,
        direction: int,
        *,
        start_ms: int,
        last_bad_ms: int,
        peak_c: float | None,
        detail: dict[str, Any],
    ) -> Episode:
        """An excursion alarm of a device's own rule (device_rules.py), decided by the
        rule: it carries the rule, which keeps its alert apart from the product's."""
        return cls(
            AlertKind.EXCURSION,
            Severity.ALARM,
            direction,
            start_ms,
            None,
            last_bad_ms,
            peak_c,
            detail=detail,
            rule_id=rule_id,
        )

    @classmethod
    def fault(cls, *, start_ms: int, at_ms: int, reason: str, value_c: float) -> Episode:
        """A sensor fault seen at `at_ms` that began at `start_ms` (a stuck probe began when
        its value stopped changing); it has no peak: the values are not temperatures."""
        return cls(
            AlertKind.SENSOR_FAULT,
            Severity.ALARM,
            0,
            start_ms,
            None,
            at_ms,
            None,
            detail={"reason": reason, "value_c": value_c},
        )

    @classmethod
    def rate_of_change(
        cls, direction: int, *, at_ms: int, value_c: float, c_per_min: float
    ) -> Episode:
        return cls(
            AlertKind.RATE_OF_CHANGE,
            Severity.WARNING,
            direction,
            at_ms,
            None,
            at_ms,
            value_c,
            detail={"c_per_min": c_per_min},
        )

    @classmethod
    def forecast(
        cls, *, at_ms: int, value_c: float, eta_min: float, limit_c: float, condition: str
    ) -> Episode:
        """A trend that meets `limit_c` of the storage condition (`condition`: its label) in
        `eta_min` minutes; the limit says, in a shared unit, whose limits it was raised under."""
        return cls(
            AlertKind.FORECAST,
            Severity.WARNING,
            0,
            at_ms,
            None,
            at_ms,
            value_c,
            detail={"eta_min": eta_min, "limit_c": limit_c, "condition": condition},
        )

    @classmethod
    def missing_data(cls, *, since_ms: int, now_ms: int) -> Episode:
        """No reading since `since_ms` (event time), noticed at `now_ms` (processing time)."""
        return cls(
            AlertKind.MISSING_DATA,
            Severity.ALARM,
            0,
            since_ms,
            None,
            now_ms,
            None,
            detail={"silent_min": round((now_ms - since_ms) / MINUTE_MS, 1)},
        )

    @classmethod
    def low_battery(cls, *, at_ms: int, battery_pct: float) -> Episode:
        return cls(
            AlertKind.LOW_BATTERY,
            Severity.WARNING,
            -1,
            at_ms,
            None,
            at_ms,
            None,
            detail={"battery_pct": battery_pct},
        )

    def note_bad(self, ts_ms: int, value_c: float | None) -> None:
        self.last_bad_ms = max(self.last_bad_ms, ts_ms)
        self.back_ms = None
        if value_c is not None and (
            self.peak_c is None or (value_c - self.peak_c) * (self.direction or 1) > 0
        ):
            self.peak_c = value_c

    def sustained_ms(self) -> int:
        since = self.start_ms if self.prev_ok_ms is None else self.prev_ok_ms
        return self.last_bad_ms - since

    def open(
        self,
        key: SensorKey,
        now_ms: int,
        reorder_window_ms: int,
        *,
        completed_ms: int | None = None,
    ) -> AlertChange:
        """The alert: retrospective when the reading that completed it (`completed_ms`, by
        default the last bad one) was older than the reorder window on arrival."""
        self.alert_id = alert_id_for(key, self.kind, self.severity, self.start_ms, self.rule_id)
        completed = self.last_bad_ms if completed_ms is None else completed_ms
        self.retrospective = now_ms - completed > reorder_window_ms
        return self.change("open", key, now_ms, None)

    def change(
        self, state: Literal["open", "resolved"], key: SensorKey, now_ms: int, end_ms: int | None
    ) -> AlertChange:
        assert self.alert_id is not None
        return AlertChange(
            state,
            self.alert_id,
            self.kind,
            self.severity,
            key,
            self.start_ms,
            end_ms,
            self.peak_c,
            self.retrospective,
            now_ms,
            dict(self.detail),
            self.rule_id,
        )

    def to_json(self) -> dict[str, Any]:
        """Its fields by name; kind and severity as their wire strings."""
        return asdict(self) | {"kind": self.kind.value, "severity": self.severity.value}

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Episode:
        return cls(
            **(raw | {"kind": AlertKind(raw["kind"]), "severity": Severity(raw["severity"])})
        )


class AlertMemory(Protocol):
    """Where a sensor remembers its latest alerts (`SensorState`): a page of old readings
    evaluated on its own that overlaps one of them describes the same event."""

    def remember(self, slot: str, start_ms: int, end_ms: int | None) -> None: ...


@dataclass(slots=True)
class Report:
    """Where the evaluation of one sensor at one moment of processing time puts what it
    finds: each alert opened or resolved becomes an `AlertChange` in `changes` and is
    remembered in `memory` (the sensor's state) under the episode's slot.

    Usage:
        report = Report(state.key, now_ms, cfg.reorder_window_ms, changes, state)
        report.opened("excursion:alarm", episode)
    """

    key: SensorKey
    now_ms: int
    reorder_window_ms: int
    changes: list[AlertChange]
    memory: AlertMemory

    def opened(self, slot: str, episode: Episode, *, completed_ms: int | None = None) -> None:
        """`completed_ms`: the reading that completed the condition, when not its last bad
        one (see `Episode.open`)."""
        self.changes.append(
            episode.open(self.key, self.now_ms, self.reorder_window_ms, completed_ms=completed_ms)
        )
        self.memory.remember(slot, episode.start_ms, None)

    def resolved(self, slot: str, episode: Episode, end_ms: int) -> None:
        self.changes.append(episode.change("resolved", self.key, self.now_ms, end_ms))
        self.memory.remember(slot, episode.start_ms, end_ms)
