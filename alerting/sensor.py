"""What the detector remembers about one sensor (persisted across restarts), and the slots
its episodes are kept in: one episode per slot at a time, so the slot is also the name
under which its alerts are remembered."""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from typing import Any, Final, NamedTuple

from alerting.device_rules import RuleProgress, rule_slot
from alerting.episodes import AlertChange, AlertKind, Episode, Severity
from coldchain.models import SensorKey

__all__ = [
    "BATTERY",
    "EXCURSION_ALARM",
    "EXCURSION_WARNING",
    "FAULT_STUCK",
    "FAULT_VALUE",
    "FORECAST",
    "MISSING",
    "RATE",
    "EndedExcursion",
    "SensorState",
    "excursion_slot",
    "slot_of",
]

_RECENT: Final = 16  # alerts remembered per sensor

# The slots, as persisted (keys of `SensorState.episodes`; a device rule's: `rule_slot`).
EXCURSION_ALARM: Final = "excursion:alarm"  # beyond the range
EXCURSION_WARNING: Final = "excursion:warning"  # beyond the alert limits
FAULT_VALUE: Final = "fault:value"
FAULT_STUCK: Final = "fault:stuck"
RATE: Final = "rate"
FORECAST: Final = "forecast"
MISSING: Final = "missing"
BATTERY: Final = "battery"


def excursion_slot(severity: Severity) -> str:
    return EXCURSION_ALARM if severity == Severity.ALARM else EXCURSION_WARNING


def slot_of(change: AlertChange) -> str:
    """The slot of the episode an excursion or fault alert came from."""
    if change.rule_id is not None:
        return rule_slot(change.rule_id)
    if change.kind == AlertKind.EXCURSION:
        return excursion_slot(change.severity)
    return FAULT_STUCK if change.detail.get("reason") == "stuck" else FAULT_VALUE


class EndedExcursion(NamedTuple):
    """An excursion beyond the range that ended before its delay (`SensorState.ended`)."""

    start_ms: int
    prev_ok_ms: int | None
    end_ms: int
    peak_c: float | None
    direction: int

    def episode(self) -> Episode:
        """As a pending episode, to go on at the next place."""
        found = Episode(
            AlertKind.EXCURSION,
            Severity.ALARM,
            self.direction,
            self.start_ms,
            self.prev_ok_ms,
            self.start_ms,
            self.peak_c,
        )
        return found


@dataclass(slots=True)
class SensorState:
    """Everything the detector remembers about one sensor (persisted across restarts).

    Attributes:
        frontier_ms: the newest event time evaluated; -1 before the first reading.
        last_c: the latest usable value (stuck probes, the numpy pass's "changing").
        last_ok_ms: the latest reading inside the limits (an excursion's delay counts from
            there).
        same_since_ms, same_count: since when, and for how many readings, the value has not
            changed (a stuck probe).
        episodes: the conditions in progress, by slot.
        recent: the latest alerts, (slot, start, end or None while open), for `overlaps`.
        backlog: a backfill's readings (a jump ahead), held until its burst is over.
        late: readings older than the reorder window, held to be evaluated as history.
        rules: the progress of each device rule, by rule id.
        ended: the latest excursions beyond the range that ended without an alert
            (start, delay basis or None, end): one in progress when its sensor's batch was
            handed over goes on at the next place (`Handover`).
    """

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
    rules: dict[str, RuleProgress] = field(default_factory=dict)
    ended: list[EndedExcursion] = field(default_factory=list)

    @property
    def quiet(self) -> bool:
        """Nothing in progress: the numpy pass may handle its plain readings. A device rule
        whose latest reading was beyond its limit is in progress: the next reading fixes
        that one's weight."""
        return (
            not self.episodes
            and not self.buffered
            and all(progress.last_bad_ms is None for progress in self.rules.values())
        )

    def ended_pending(self, episode: Episode, end_ms: int) -> None:
        """Keep an excursion that ended before its delay (a hand-over may continue it)."""
        self.ended.append(
            EndedExcursion(
                episode.start_ms, episode.prev_ok_ms, end_ms, episode.peak_c, episode.direction
            )
        )
        del self.ended[:-_RECENT]

    def in_progress_at(self, at_ms: int) -> Episode | None:
        """The excursion beyond the range without an alert that was in progress at `at_ms`:
        begun before it, and not ended (by a reading back inside) before it."""
        current = self.episodes.get(EXCURSION_ALARM)
        if current is not None and current.alert_id is None and current.start_ms < at_ms:
            return current
        for ended in reversed(self.ended):
            if ended.start_ms < at_ms <= ended.end_ms:
                return ended.episode()
        return None

    def remember(self, slot: str, start_ms: int, end_ms: int | None) -> None:
        self.recent = [r for r in self.recent if not (r[0] == slot and r[1] == start_ms)]
        self.recent.append((slot, start_ms, end_ms))
        del self.recent[:-_RECENT]

    def overlaps(self, slot: str, start_ms: int, end_ms: int) -> bool:
        """An alert remembered in `slot` overlaps [start_ms, end_ms]: a page of old readings
        evaluated on its own found the same event."""
        return any(
            s == slot and a <= end_ms and (b is None or b >= start_ms) for s, a, b in self.recent
        )

    @property
    def buffered(self) -> bool:
        """Readings held for the clock: a backfill or late readings."""
        return bool(self.backlog or self.late)

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
            "rules": {rule_id: progress.to_json() for rule_id, progress in self.rules.items()},
            "ended": [list(e) for e in self.ended],
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
            recent=[(slot, start, end) for slot, start, end in raw["recent"]],
            backlog=[(ts_ms, value_c) for ts_ms, value_c in raw["backlog"]],
            backlog_arrival_ms=raw["backlog_arrival_ms"],
            late=[(ts_ms, value_c) for ts_ms, value_c in raw["late"]],
            late_arrival_ms=raw["late_arrival_ms"],
            rules={k: RuleProgress.from_json(v) for k, v in raw.get("rules", {}).items()},
            ended=[EndedExcursion(*e) for e in raw.get("ended", [])],
        )
