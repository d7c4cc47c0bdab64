"""The product's limits along the record's time axis: each reading is judged by the
condition version in force when it was taken (docs/design.md §11, "Limits in force";
`coldchain.catalog.conditions.conditions_in_force`), so a later change of the product's
limits never rewrites how the past is judged.

Usage:
    in_force = LimitsInForce.from_spans(spans)   # or LimitsInForce.constant(limits)
    in_force.at(ts_ms)                           # the Limits of one moment
    low, high = in_force.bounds(times)           # scalars (one version) or arrays
    in_force.spans(start_ms, end_ms)             # [(from, to, Limits)] over a span
    alarm_limits(product, placement)             # set up by the alarm profiles there (#22)
    alarm_setup(limits)                          # what decides when an alarm is raised
"""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Sequence
from typing import TYPE_CHECKING

import numpy as np
import numpy.typing as npt

from coldchain.catalog.conditions import ConditionSpan
from coldchain.judgement.limits import Limits, own_limits
from coldchain.judgement.profiles import ProfileTimeline, apply_profiles
from coldchain.times import to_ms

if TYPE_CHECKING:
    from api.export.record import PlacementInfo, ProductInfo

__all__ = ["LimitsInForce", "alarm_limits", "alarm_setup"]

Bound = float | npt.NDArray[np.float64]


class LimitsInForce:
    """Limits by time: `limits[i]` from `starts_ms[i]` to the next start. The first one
    also applies before its start (nothing of the record lies there)."""

    __slots__ = ("_high", "_limits", "_low", "_starts", "_starts_list")

    def __init__(self, starts_ms: Sequence[int], limits: Sequence[Limits]) -> None:
        if not limits or len(starts_ms) != len(limits):
            raise ValueError("LimitsInForce: one start per limits, at least one")
        self._limits = tuple(limits)
        self._starts_list = list(starts_ms[1:])
        self._starts = np.asarray(self._starts_list, dtype=np.int64)
        self._low = np.array([x.low_c for x in limits], dtype=np.float64)
        self._high = np.array([x.high_c for x in limits], dtype=np.float64)

    @classmethod
    def constant(cls, limits: Limits) -> LimitsInForce:
        return cls([0], [limits])

    @classmethod
    def from_spans(cls, spans: Sequence[ConditionSpan]) -> LimitsInForce:
        return cls([to_ms(s.valid_from) for s in spans], [own_limits(s.condition) for s in spans])

    def with_profiles(self, *timelines: ProfileTimeline) -> LimitsInForce:
        """These limits set up by the strictest of the alarm profiles in force at each
        moment (the product's, the place's; docs/design.md §11), as the detector's are:
        cut wherever a limit or a profile took a new version."""
        changes = {t for timeline in timelines for t in timeline.starts_ms}
        if not changes:
            return self
        first = min(changes) if not self._starts_list else min(min(changes), self._starts_list[0])
        starts = [first - 1, *sorted(changes | set(self._starts_list))]
        limits = [apply_profiles(self.at(t), [tl.at(t) for tl in timelines]) for t in starts]
        return LimitsInForce(starts, limits)

    @property
    def single(self) -> Limits | None:
        """The limits when one version applies throughout, else None."""
        return self._limits[0] if len(self._limits) == 1 else None

    def at(self, ts_ms: int) -> Limits:
        if len(self._limits) == 1:
            return self._limits[0]
        return self._limits[bisect_right(self._starts_list, ts_ms)]

    def spans(self, start_ms: int, end_ms: int) -> list[tuple[int, int, Limits]]:
        """(from, to, limits) of each version in force over [start_ms, end_ms), oldest
        first, cut to it; a version that sets nothing new (a profile change that left
        these limits as they were) continues the one before. What the record states a
        placement was judged by (docs/design.md §11)."""
        cuts = [t for t in self._starts_list if start_ms < t < end_ms]
        found: list[tuple[int, int, Limits]] = []
        for low, high in zip([start_ms, *cuts], [*cuts, end_ms], strict=True):
            limits = self.at(low)
            if found and found[-1][2] == limits:
                found[-1] = (found[-1][0], high, limits)
            else:
                found.append((low, high, limits))
        return found

    def bounds(self, times: npt.NDArray[np.int64]) -> tuple[Bound, Bound]:
        """(low, high) for each of `times`: two floats when one version applies."""
        if len(self._limits) == 1:
            return float(self._low[0]), float(self._high[0])
        index = np.searchsorted(self._starts, times, side="right")
        return self._low[index], self._high[index]


def alarm_limits(product: ProductInfo, placement: PlacementInfo) -> LimitsInForce:
    """What the record alarms by in `placement` (#22), as the detector does: the product's
    own limits by time set up by the strictest of its alarm profile and the unit's in force
    at each moment. The record states them per placement (document.alarm_limits_dicts)."""
    return product.in_force.with_profiles(product.alarm_profiles, placement.alarm_profiles)


def alarm_setup(limits: Limits) -> tuple[float, ...]:
    """What decides when an alarm is raised under `limits`: the range, the delay above and
    below it, the critical limits. Two limits equal here raise the same alarms on the same
    readings (warning limits and latching only change warnings and how an alarm ends), so
    an alarm raised under a setup other than the product's own was someone else's (#22:
    another product's stricter condition or alarm profile, record.py `other_limits`)."""
    return (
        limits.low_c,
        limits.high_c,
        limits.delay_ms(1),
        limits.delay_ms(-1),
        limits.critical_low_c,
        limits.critical_high_c,
    )
