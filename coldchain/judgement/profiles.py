"""Alarm profiles (docs/design.md §10, §11): how a product's or a unit's alarm is set up on
top of the storage condition's range — alert (warning) limits of its own, separate delays
above and below the range, a critical limit beyond which the first reading alarms, and
latching (an alarm stays until a person has acknowledged it). Every field is optional;
absent, the condition's behaviour applies, so a place without a profile is judged as before.

Where several profiles apply at once (the products sharing a unit, and the unit's own), the
strictest of each field wins, as `strictest` combines ranges: no product in a place goes
less watched than its own profile says."""

from __future__ import annotations

from bisect import bisect_right
from collections.abc import Callable, Iterable, Sequence
from dataclasses import dataclass, field, replace
from typing import Final

from coldchain.judgement.limits import MINUTE_MS, Limits

__all__ = [
    "NO_PROFILE",
    "NO_PROFILES",
    "AlarmProfile",
    "ProfileTimeline",
    "apply_profile",
    "apply_profiles",
    "strictest_profile",
]


@dataclass(frozen=True, slots=True)
class AlarmProfile:
    """One version of an alarm profile; None (False): not set, the condition's behaviour.

    Attributes:
        warning_low_c, warning_high_c: the alert limits (a warning beyond them).
        high_delay_min, low_delay_min: the alarm delay above / below the range.
        critical_low_c, critical_high_c: zero-delay limits: one reading beyond alarms.
        latching: an alarm resolves only once acknowledged and back in range.
    """

    warning_low_c: float | None = None
    warning_high_c: float | None = None
    high_delay_min: float | None = None
    low_delay_min: float | None = None
    critical_low_c: float | None = None
    critical_high_c: float | None = None
    latching: bool = False


#: A place or product without a profile.
NO_PROFILE: Final = AlarmProfile()


def _pick(values: Iterable[float | None], best: Callable[[Sequence[float]], float]) -> float | None:
    known = [v for v in values if v is not None]
    return best(known) if known else None


def strictest_profile(profiles: Sequence[AlarmProfile]) -> AlarmProfile:
    """The profile a place holding all of `profiles` keeps: the highest low limits, the
    lowest high limits, the shortest delays, latching if any latches."""
    return AlarmProfile(
        warning_low_c=_pick((p.warning_low_c for p in profiles), max),
        warning_high_c=_pick((p.warning_high_c for p in profiles), min),
        high_delay_min=_pick((p.high_delay_min for p in profiles), min),
        low_delay_min=_pick((p.low_delay_min for p in profiles), min),
        critical_low_c=_pick((p.critical_low_c for p in profiles), max),
        critical_high_c=_pick((p.critical_high_c for p in profiles), min),
        latching=any(p.latching for p in profiles),
    )


def _delay_ms(minutes: float | None, default_ms: int) -> int:
    """A side's delay: the profile's, never longer than the condition's own."""
    return default_ms if minutes is None else min(default_ms, round(minutes * MINUTE_MS))


def apply_profile(limits: Limits, profile: AlarmProfile) -> Limits:
    """`limits` as `profile` sets them up. A delay longer than the condition's alarm delay
    cannot loosen it (the label's delay is the longest any product may wait)."""
    if profile == NO_PROFILE:
        return limits
    return replace(
        limits,
        high_delay_ms=_delay_ms(profile.high_delay_min, limits.delay_ms(1)),
        low_delay_ms=_delay_ms(profile.low_delay_min, limits.delay_ms(-1)),
        warning_low_c=profile.warning_low_c,
        warning_high_c=profile.warning_high_c,
        critical_low_c=limits.critical_low_c
        if profile.critical_low_c is None
        else max(limits.critical_low_c, profile.critical_low_c),
        critical_high_c=limits.critical_high_c
        if profile.critical_high_c is None
        else min(limits.critical_high_c, profile.critical_high_c),
        latching=limits.latching or profile.latching,
    )


def apply_profiles(limits: Limits, profiles: Sequence[AlarmProfile]) -> Limits:
    """`limits` (a place's strictest condition) set up by the strictest of the alarm profiles
    in force there: the unit's and its products'. The one rule of the detector, the batch
    record and the live view."""
    return apply_profile(limits, strictest_profile(profiles))


@dataclass(frozen=True, slots=True)
class ProfileTimeline:
    """The versions of one product's or one unit's profile: `profiles[i]` in force from
    `starts_ms[i]` until the next start; none before the first (`NO_PROFILE`), so a profile
    added later never reaches back.

    Usage:
        timeline = ProfileTimeline((t0, t1), (first, second))
        timeline.at(ts_ms)
    """

    starts_ms: tuple[int, ...] = ()
    profiles: tuple[AlarmProfile, ...] = field(default=())

    def at(self, ts_ms: int) -> AlarmProfile:
        i = bisect_right(self.starts_ms, ts_ms) - 1
        return NO_PROFILE if i < 0 else self.profiles[i]


#: A product or unit that never had a profile.
NO_PROFILES: Final = ProfileTimeline()
