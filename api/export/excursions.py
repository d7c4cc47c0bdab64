"""The record's excursions: the domain's one excursion rule (coldchain.judgement.excursion,
which the detector runs live) over each probe's valid readings, its state handed on at a
hand-over (timeline.py) so that an excursion across two places is one excursion.

At a hand-over the state carried to each probe of the next placement is the worst of the
outgoing placement's probes (the product may have sat next to any of them): the open
excursion that has been beyond the range the longest (earliest `since_ms`), or, with none
open, the latest reading inside. Any other excursion still open there ends at the hand-over.
"""

from __future__ import annotations

from collections.abc import Iterable
from dataclasses import dataclass, replace

import numpy as np
import numpy.typing as npt

from api.export.inforce import LimitsInForce
from api.export.record import PlacementInfo, SensorRef
from api.export.timeline import ONGOING
from coldchain.judgement.excursion import Excursion, ExcursionRule, ExcursionTracker
from coldchain.judgement.limits import Limits

__all__ = [
    "BACK_IN_RANGE",
    "PROBE_REMOVED",
    "Carry",
    "Leg",
    "ProbeExcursions",
    "RecordExcursion",
    "worst",
]

#: How an excursion that ended within its placement ended (others end as their placement
#: does: timeline.HAND_OVER, CUSTODY_GAP, END_OF_RECORD, ONGOING): back in range, or the
#: probe that saw it was taken out before the placement ended (nothing is known after).
BACK_IN_RANGE = "back in range"
PROBE_REMOVED = "probe removed"


@dataclass(frozen=True, slots=True)
class Leg:
    """A probe in a placement: where (part of) an excursion was seen."""

    placement: PlacementInfo
    sensor: SensorRef

    @property
    def label(self) -> str:
        s = self.sensor
        probe = s.sensor if s.source == "unit" else f"{s.device}/{s.sensor}"
        return f"{self.placement.place} ({probe})"

    @property
    def start_ms(self) -> int:
        """Where the probe's part of the placement begins (fitted then, or later)."""
        return self.placement.fitted_ms(self.sensor)[0]

    @property
    def until_ms(self) -> int:
        """Where it ends: the placement's end, or the probe's removal before it."""
        return self.placement.fitted_ms(self.sensor)[1]


@dataclass(frozen=True, slots=True)
class Carry:
    """What a probe hands to the next placement: its open excursion (and the probes it was
    seen on so far), and the time of its latest reading inside the range."""

    excursion: Excursion | None
    legs: tuple[Leg, ...]
    last_ok_ms: int | None


def worst(carries: Iterable[Carry]) -> Carry | None:
    """The worst path's state: the open excursion beyond the longest, else the freshest
    reading inside; None when nothing was read."""
    known = list(carries)
    running = [(c.excursion.since_ms, c) for c in known if c.excursion is not None]
    if running:
        return min(running, key=lambda pair: pair[0])[1]
    inside = [(c.last_ok_ms, c) for c in known if c.last_ok_ms is not None]
    return max(inside, key=lambda pair: pair[0])[1] if inside else None


@dataclass(frozen=True, slots=True)
class RecordExcursion:
    """One excursion of the record, on one probe path.

    Attributes:
        run: the rule's excursion (start, since, peak, alarm, ...).
        legs: the probes it was seen on, in order (several across hand-overs).
        end_ms: its end: the first reading back inside (for an alarm, the one that began
            its clearing), or where its last placement's readings end.
        ended: `BACK_IN_RANGE`, or how the last placement ended (timeline.py exits).
    """

    run: Excursion
    legs: tuple[Leg, ...]
    end_ms: int
    ended: str

    @property
    def start_ms(self) -> int:
        return self.run.start_ms

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.run.start_ms

    @property
    def ongoing(self) -> bool:
        """Still running when the record was generated."""
        return self.ended == ONGOING

    @property
    def direction(self) -> str:
        return "above" if self.run.direction > 0 else "below"

    @property
    def where(self) -> str:
        return " → ".join(leg.label for leg in self.legs)

    def leg_span(self, n: int) -> tuple[int, int]:
        """[first, last] ms of leg `n`: from the excursion's start or the placement's, to its
        end or the placement's."""
        leg = self.legs[n]
        first = self.run.start_ms if n == 0 else leg.start_ms
        last = self.end_ms if n == len(self.legs) - 1 else leg.until_ms
        return first, last


class ProbeExcursions:
    """One probe's valid readings in one placement, in time order, through the rule.

    Usage:
        probe = ProbeExcursions(rule, limits, Leg(placement, sensor), interval_ms, carry)
        probe.add(times, temps)          # valid readings only, chunk by chunk
        probe.carry()                    # what a hand-over would pass on
        probe.close(exit, handed_on)     # its excursions, once the placement is read
    """

    def __init__(
        self,
        rule: ExcursionRule,
        limits: Limits | LimitsInForce,
        leg: Leg,
        interval_ms: int,
        carry: Carry | None,
    ) -> None:
        self.limits = (
            limits if isinstance(limits, LimitsInForce) else LimitsInForce.constant(limits)
        )
        self.leg = leg
        self.interval_ms = interval_ms
        self.tracker = ExcursionTracker(rule)
        self._carried: Excursion | None = None
        self._carried_legs: tuple[Leg, ...] = ()
        if carry is not None:
            self.tracker.last_ok_ms = carry.last_ok_ms
            if carry.excursion is not None:
                # A copy per probe of the next place: each goes on as its own path.
                self._carried = self.tracker.current = replace(carry.excursion)
                self._carried_legs = carry.legs

    def add(self, times: npt.NDArray[np.int64], temps: npt.NDArray[np.float64]) -> None:
        """Feed the tracker. Readings inside the range while nothing is open only move the
        last reading inside, so a chunk without a reading beyond costs one comparison: the
        tracker sees readings one by one only from the first one beyond, and while an
        excursion is open."""
        if times.size == 0:
            return
        tracker, limits = self.tracker, self.limits
        low, high = limits.bounds(times)
        beyond = np.flatnonzero((temps > high) | (temps < low)).tolist()
        if not beyond and tracker.current is None:
            tracker.last_ok_ms = int(times[-1])
            return
        t, v = times.tolist(), temps.tolist()
        i, k, n = 0, 0, len(t)
        while i < n:
            if tracker.current is None:
                while k < len(beyond) and beyond[k] < i:
                    k += 1
                if k == len(beyond):
                    tracker.last_ok_ms = t[-1]
                    return
                if beyond[k] > i:
                    tracker.last_ok_ms = t[beyond[k] - 1]
                i = beyond[k]
            tracker.add(t[i], v[i], limits.at(t[i]), self.interval_ms)
            i += 1

    def _legs(self, run: Excursion) -> tuple[Leg, ...]:
        return (*self._carried_legs, self.leg) if run is self._carried else (self.leg,)

    def carry(self) -> Carry:
        current = self.tracker.current
        legs = () if current is None else self._legs(current)
        return Carry(current, legs, self.tracker.last_ok_ms)

    def spans(self) -> list[tuple[int, int | None]]:
        """(start, end) of the alarm excursions and of the one running (end None): the
        times whose MKT window may still be read (mktwindow.py)."""
        found: list[tuple[int, int | None]] = [
            (r.start_ms, r.end_ms) for r in self.tracker.finished if r.alarm
        ]
        if self.tracker.current is not None:
            found.append((self.tracker.current.start_ms, None))
        return found

    def close(self, exit: str, handed_on: bool) -> list[RecordExcursion]:
        """The excursions seen here: those that ended, and the one still running when the
        placement's readings ended (`exit`), unless it is `handed_on` to the next place. A
        probe removed before the placement ended ends its own excursion there
        (`PROBE_REMOVED`), whatever follows the placement."""
        found = [
            RecordExcursion(r, self._legs(r), r.end_ms, BACK_IN_RANGE)
            for r in self.tracker.finished
            if r.end_ms is not None
        ]
        run = self.tracker.current
        if run is not None and not handed_on:
            until = self.leg.until_ms
            if until < self.leg.placement.until_ms:
                exit = PROBE_REMOVED
            end = until if exit == ONGOING or run.back_ms is None else run.back_ms
            found.append(RecordExcursion(run, self._legs(run), end, exit))
        return found
