"""Episodes: one condition on one sensor, from its first bad reading until it has cleared,
and the alert changes the detector hands to the alert store.

An episode only becomes an alert once it has lasted its delay (the alarm delay of the
storage condition: a short door opening never becomes one), and it only clears after the
value has been back past the hysteresis for the clear time, so a value dancing around a
limit is one episode and one alert, not fifty.
"""

from __future__ import annotations

from dataclasses import asdict, dataclass, field
from typing import Any, Literal

from alerting.rules import alert_id_for
from coldchain.models import SensorKey

__all__ = ["AlertChange", "Episode"]


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
    kind: str
    severity: str
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

    kind: str
    severity: str
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

    def note_bad(self, ts: int, value: float | None) -> None:
        self.last_bad_ms = max(self.last_bad_ms, ts)
        self.back_ms = None
        if value is not None and (
            self.peak_c is None or (value - self.peak_c) * (self.direction or 1) > 0
        ):
            self.peak_c = value

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
        return asdict(self)

    @classmethod
    def from_json(cls, raw: dict[str, Any]) -> Episode:
        return cls(**raw)
