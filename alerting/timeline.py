"""Which limits apply to a sensor at an event time: segments of time, each with its limits,
whether the sensor should be reporting, and the device rules on top. The detector's core
reads only this; `conditions.load_timeline` builds it from the catalog."""

from __future__ import annotations

import bisect
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from alerting.device_rules import DeviceRule
from coldchain.judgement.calibration import Calibration
from coldchain.judgement.limits import MINUTE_MS, NO_LIMITS, Limits
from coldchain.models import SensorKey

__all__ = ["FAR_FUTURE", "FAR_PAST", "ConditionTimeline", "Handover", "Segment"]

FAR_PAST = -(2**62)
FAR_FUTURE = 2**62


@dataclass(frozen=True, slots=True)
class Handover:
    """A batch handed over to this sensor's place at `at_ms` from the place whose sensors are
    `from_keys` (one placement ends where the next begins): an excursion in progress there
    goes on here, as the batch record joins it (docs/design.md §11, batch timeline)."""

    at_ms: int
    from_keys: tuple[SensorKey, ...]


@dataclass(frozen=True, slots=True)
class Segment:
    """Limits valid for event times in [start_ms, end_ms); `expected`: the sensor should be
    reporting then (units always; loggers while they carry something); `rules`: the
    catalog's device rules of the sensor, applied on top of the limits; `interval_ms`: how
    often the sensor logs (the catalog's, or a longer one of an imported logger export);
    `recorder`: a logger that records to memory and is read out later (a USB logger: offline
    in the catalog, or one whose export was imported). It checks its own probe, so a plateau
    at its 0.1 °C resolution is the room, not a stuck probe; and it is silent while it
    travels, so it is never expected to report (its status is "awaiting upload");
    `handover`: the segment begins where a batch was handed over to the sensor's place."""

    start_ms: int
    end_ms: int
    limits: Limits
    expected: bool
    rules: tuple[DeviceRule, ...] = ()
    interval_ms: int = MINUTE_MS
    recorder: bool = False
    handover: Handover | None = None


_UNKNOWN = Segment(FAR_PAST, FAR_FUTURE, NO_LIMITS, False)


class ConditionTimeline:
    """Usage:
    timeline = load_timeline(engine, default_alarm_delay_ms)  # alerting.conditions
    segment = timeline.lookup(SensorKey("BSL", "unit", "FRIDGE-01", "p1"), ts_ms)
    """

    def __init__(
        self,
        segments: dict[SensorKey, list[Segment]],
        calibrations: Mapping[SensorKey, Calibration] | None = None,
        removed: Mapping[SensorKey, int] | None = None,
    ) -> None:
        self._segments = segments
        self._starts = {k: [s.start_ms for s in v] for k, v in segments.items()}
        # Each probe's certificates and due dates (the calibration check), and those of the
        # probes whose certificates correct their readings (coldchain.judgement.calibration).
        self.calibrations = dict(calibrations or {})
        self.corrections = {k: c for k, c in self.calibrations.items() if c.corrects}
        # When each probe that has one was taken out (epoch ms): no calibration alerts after.
        self.removed = dict(removed or {})

    def for_sites(self, sites: Collection[str]) -> ConditionTimeline:
        """Only the sensors of these sites (a detector partition); all when empty, so a
        partition never reports another partition's sensors as missing."""
        if not sites:
            return self
        return ConditionTimeline(
            {k: v for k, v in self._segments.items() if k.site in sites},
            {k: c for k, c in self.calibrations.items() if k.site in sites},
            {k: ms for k, ms in self.removed.items() if k.site in sites},
        )

    def known(self, key: SensorKey) -> bool:
        return key in self._segments

    def sensors(self) -> list[SensorKey]:
        return list(self._segments)

    def lookup(self, key: SensorKey, ts_ms: int) -> Segment:
        segments = self._segments.get(key)
        if not segments:
            return _UNKNOWN
        i = bisect.bisect_right(self._starts[key], ts_ms) - 1
        return segments[max(i, 0)]
