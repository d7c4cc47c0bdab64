"""The one excursion rule (docs/design.md §11), as the detector runs it live and the batch
record runs it over a batch's timeline, so that for the same readings both find the same
excursions with the same start.

- A reading beyond the range (a value equal to a limit is inside) starts an excursion, or
  continues the one in progress on the same side; a reading beyond the other side ends it
  and starts another.
- The alarm delay (an alarm profile's for that side, `Limits.delay_ms`) is *continuous*
  time beyond the limit: from the last reading inside before
  the first one beyond (the product left the range after it; sampling never hides up to one
  interval of a sustained excursion) to the latest reading beyond. The last reading inside
  counts only if it is no older than a gap (`gap_ms`: more than 1.5 logging intervals
  without a reading); after a silence the excursion is known from its first reading only.
- A reading beyond a critical limit (`Limits.critical`) makes the excursion an alarm at
  once, at that reading: the delay is zero there (freezing a vaccine is never brief).
- While the excursion is *pending* (shorter than the delay) the first reading back inside
  ends it: two blips hours apart are two blips, never one alarm.
- Once it has lasted the delay it is an *alarm*, and hysteresis applies to clearing it only:
  it ends at the first reading back inside, once the readings have been back inside by
  `hysteresis_c` for `clear_after_ms` since then (a value dancing on the limit is one alarm).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final

from coldchain.config import Settings
from coldchain.judgement.limits import MINUTE_MS, Limits

__all__ = ["GAP_FACTOR", "Excursion", "ExcursionRule", "ExcursionTracker", "gap_ms"]

#: A silence longer than this many logging intervals is a gap: at least one expected reading
#: is missing (clock jitter of a few seconds is not a gap).
GAP_FACTOR: Final = 1.5


def gap_ms(interval_ms: int) -> float:
    """The longest step between two readings of a sensor logging every `interval_ms` that is
    not a gap."""
    return GAP_FACTOR * max(1, interval_ms)


@dataclass(frozen=True, slots=True)
class ExcursionRule:
    """How an alarm clears: back inside by `hysteresis_c` for `clear_after_ms`.

    Usage:
        rule = ExcursionRule.from_settings(settings)
    """

    hysteresis_c: float
    clear_after_ms: int

    @classmethod
    def from_settings(cls, settings: Settings) -> ExcursionRule:
        return cls(settings.detect_hysteresis_c, round(settings.detect_clear_after_min * MINUTE_MS))

    @staticmethod
    def since_ms(last_ok_ms: int | None, first_bad_ms: int, interval_ms: int) -> int:
        """Where the delay of an excursion first seen at `first_bad_ms` counts from."""
        if last_ok_ms is None or first_bad_ms - last_ok_ms > gap_ms(interval_ms):
            return first_bad_ms
        return last_ok_ms

    def cleared(self, value_c: float, limits: Limits) -> bool:
        """Back inside by the hysteresis: counts towards clearing an active alarm."""
        return limits.low_c + self.hysteresis_c <= value_c <= limits.high_c - self.hysteresis_c


@dataclass(slots=True)
class Excursion:
    """One excursion on one path of readings.

    Attributes:
        start_ms: its first reading beyond the range.
        since_ms: where its delay counts from (`ExcursionRule.since_ms`).
        last_bad_ms: its latest reading beyond.
        end_ms: the first reading back inside (for an alarm: the one that began its clearing);
            None while it runs.
        alarm_ms: when it had lasted the delay (since + delay), None while pending.
        direction: +1 above the range, -1 below.
        readings: readings beyond the range.
    """

    start_ms: int
    since_ms: int
    last_bad_ms: int
    peak_c: float
    direction: int
    readings: int = 1
    end_ms: int | None = None
    alarm_ms: int | None = None
    back_ms: int | None = field(default=None, repr=False)

    @property
    def sustained_ms(self) -> int:
        return self.last_bad_ms - self.since_ms

    @property
    def alarm(self) -> bool:
        return self.alarm_ms is not None


class ExcursionTracker:
    """The rule over one path of valid readings in time order; `limits` may change between
    readings (a hand-over to another place keeps the same product's limits).

    Usage:
        tracker = ExcursionTracker(rule)
        for ts_ms, value_c in readings:
            tracker.add(ts_ms, value_c, limits, interval_ms)
        tracker.finished     # excursions that ended, in order
        tracker.current      # the one still running, if any
    """

    def __init__(self, rule: ExcursionRule) -> None:
        self.rule = rule
        self.last_ok_ms: int | None = None
        self.current: Excursion | None = None
        self.finished: list[Excursion] = []

    def add(self, ts_ms: int, value_c: float, limits: Limits, interval_ms: int) -> None:
        direction = limits.direction(value_c)
        run = self.current
        if direction == 0:
            self.last_ok_ms = ts_ms
            if run is None:
                return
            if not run.alarm:
                self._end(ts_ms)
                return
            if run.back_ms is None:
                run.back_ms = ts_ms
            if (
                self.rule.cleared(value_c, limits)
                and ts_ms - run.back_ms >= self.rule.clear_after_ms
            ):
                self._end(run.back_ms)
            return
        if run is not None and run.direction != direction:
            self._end(ts_ms)
            run = None
        if run is None:
            since = self.rule.since_ms(self.last_ok_ms, ts_ms, interval_ms)
            run = self.current = Excursion(ts_ms, since, ts_ms, value_c, direction)
        else:
            run.last_bad_ms, run.back_ms = ts_ms, None
            run.readings += 1
            if (value_c - run.peak_c) * direction > 0:
                run.peak_c = value_c
        if run.alarm_ms is None:
            delay_ms = limits.delay_ms(direction)
            if run.sustained_ms >= delay_ms:
                run.alarm_ms = run.since_ms + delay_ms
            elif limits.critical(value_c):
                run.alarm_ms = ts_ms

    def _end(self, end_ms: int) -> None:
        run = self.current
        assert run is not None
        run.end_ms, run.back_ms = end_ms, None
        self.finished.append(run)
        self.current = None
