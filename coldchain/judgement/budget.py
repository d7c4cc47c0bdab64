"""A batch's stability budget as an account (#22): every charge against it, where it came
from, and how much of each band is consumed.

A budget is a list of bands (`Band`): time with the product in [min_c, max_c] outside its
storage range is charged to the band holding it, up to the band's hours (a temperature on
the edge two bands share is the lower band's; the old single form's limit, e.g. 25 °C, is
within it, as it always was). Time outside the
range that no band covers is over budget at once (0 h allowed), as is a product without a
budget at all. Freeze events (an excursion to or below `freeze_c`, not each reading) are
counted separately against `freeze_allowed`, once per batch: a run still frozen when the
batch is handed over and frozen from the first reading in the next place is one event, not
two (`FreezeRuns.then`).

Charges come from three sources: the readings (the batch record's worst path), manual
time-out-of-refrigeration entries (their duration, in the band holding their maximum
temperature) and time carried in from before the product reached this site (as recorded).
The export, the API and the budget alerts all build the account here, so they agree, and
`crossing_ms` says when the account reached a share (when a budget alert starts).

Pure: no catalog, no store, no transport (the judgement package's import contract).
"""

from __future__ import annotations

import json
import math
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final, Literal, Protocol

import numpy as np
import numpy.typing as npt

__all__ = [
    "Band",
    "BandAccount",
    "Budget",
    "BudgetAccount",
    "BudgetCondition",
    "Charge",
    "ChargeSource",
    "FreezeRuns",
    "bands_json",
    "budget_account",
    "budget_of",
    "carried_in_charge",
    "crossing_ms",
    "legacy_band",
    "manual_charge",
]

ChargeSource = Literal["readings", "manual", "carried_in"]

_HOUR_MS: Final = 3_600_000.0


@dataclass(frozen=True, slots=True)
class Band:
    """Up to `hours` cumulative with the product in [min_c, max_c] outside its range."""

    min_c: float
    max_c: float
    hours: float

    def holds(self, temp_c: float) -> bool:
        return self.min_c <= temp_c <= self.max_c

    @property
    def label(self) -> str:
        return f"{self.min_c:g}–{self.max_c:g} °C"


def legacy_band(range_max_c: float, max_c: float, hours: float, min_c: float | None) -> Band:
    """The old single form `budget: {max_c, hours, min_c?}` as one band: above the range up
    to `max_c`, reaching below the range down to `min_c` when it is given (one pool of hours
    for both sides, as the old verdict charged them; time in range is never charged)."""
    return Band(range_max_c if min_c is None else min_c, max_c, hours)


@dataclass(frozen=True, slots=True)
class Budget:
    """The bands (non-overlapping, lowest first), the freeze threshold and how many freeze
    events are allowed (None: freezing is not counted)."""

    bands: tuple[Band, ...] = ()
    freeze_c: float | None = None
    freeze_allowed: int | None = None

    def bands_of(self, temps_c: npt.NDArray[np.float64]) -> npt.NDArray[np.intp]:
        """The index of the band holding each temperature: closed bands, the lower of two on
        a shared edge; `len(bands)` where none does (the bands do not overlap, lowest
        first). Vectorised: the record charges millions of readings through it."""
        none = len(self.bands)
        if none == 0:
            return np.zeros(temps_c.size, dtype=np.intp)
        lows = np.array([b.min_c for b in self.bands], dtype=np.float64)
        highs = np.array([b.max_c for b in self.bands], dtype=np.float64)
        below = np.searchsorted(lows, temps_c, side="left") - 1  # starts below t
        at = np.searchsorted(lows, temps_c, side="right") - 1  # starts at or below t
        in_below = (below >= 0) & (temps_c <= highs[below.clip(0)])
        in_at = (at >= 0) & (temps_c <= highs[at.clip(0)])
        found: npt.NDArray[np.intp] = np.where(in_below, below, np.where(in_at, at, none))
        return found

    def band_of(self, temp_c: float) -> int | None:
        """The index of the band holding `temp_c` (`bands_of`), None when no band does."""
        index = int(self.bands_of(np.array([temp_c], dtype=np.float64))[0])
        return None if index == len(self.bands) else index

    def band_matching(self, min_c: float, max_c: float) -> int | None:
        """The band that covers [min_c, max_c) whole (carried-in time names its band)."""
        for index, band in enumerate(self.bands):
            if band.min_c <= min_c and max_c <= band.max_c:
                return index
        return None


@dataclass(frozen=True, slots=True)
class FreezeRuns:
    """The freeze events of a stretch of readings (one probe in one place, or a chain of
    them): when each began (epoch ms, in order), and whether the stretch's first and last
    readings were at or below `freeze_c`."""

    starts_ms: tuple[int, ...] = ()
    first_frozen: bool = False
    last_frozen: bool = False

    @property
    def events(self) -> int:
        return len(self.starts_ms)

    def then(self, after: FreezeRuns, *, handed_over: bool) -> FreezeRuns:
        """This stretch followed by `after`. The budget is the batch's across its chain of
        custody: when the batch was handed over between them (`handed_over`: the next place
        took it at once, its probe there from the start) and the run this stretch ends in is
        still frozen at the first reading of `after`, no reading above `freeze_c` came in
        between, so it is one freeze event, not one per place."""
        joined = handed_over and self.last_frozen and after.first_frozen
        onward = after.starts_ms[1:] if joined else after.starts_ms
        return FreezeRuns(self.starts_ms + onward, self.first_frozen, after.last_frozen)


class BudgetCondition(Protocol):
    """A storage condition's budget columns (a catalog row, a version, a `ProductInfo`)."""

    @property
    def max_c(self) -> float: ...
    @property
    def budget_max_c(self) -> float | None: ...
    @property
    def budget_min_c(self) -> float | None: ...
    @property
    def budget_hours(self) -> float | None: ...
    @property
    def budget_bands_json(self) -> str | None: ...
    @property
    def freeze_c(self) -> float | None: ...
    @property
    def freeze_events(self) -> int | None: ...


def bands_json(bands: Sequence[Band]) -> str:
    """The bands as the catalog stores them (`budget_bands_json`)."""
    return json.dumps([{"min_c": b.min_c, "max_c": b.max_c, "hours": b.hours} for b in bands])


def budget_of(condition: BudgetCondition) -> Budget:
    """The budget of a stored condition: its bands when it has them, else the old single
    form as one band (`legacy_band`), else none (no time out of range allowed)."""
    if condition.budget_bands_json is not None:
        bands = tuple(
            Band(float(b["min_c"]), float(b["max_c"]), float(b["hours"]))
            for b in json.loads(condition.budget_bands_json)
        )
    elif condition.budget_max_c is not None and condition.budget_hours is not None:
        bands = (
            legacy_band(
                condition.max_c,
                condition.budget_max_c,
                condition.budget_hours,
                condition.budget_min_c,
            ),
        )
    else:
        bands = ()
    freeze_c = condition.freeze_c
    allowed = None if freeze_c is None else (condition.freeze_events or 0)
    return Budget(tuple(sorted(bands, key=lambda b: b.min_c)), freeze_c, allowed)


@dataclass(frozen=True, slots=True)
class Charge:
    """One amount of time charged against the budget.

    Attributes:
        source: "readings", "manual" (a time-out-of-refrigeration entry) or "carried_in".
        band: index into the budget's bands; None = outside every band (over at once).
        start_ms, end_ms: when (None for amounts without a time, e.g. readings totals or
            carried-in time).
        detail: who and why, or where the amount comes from, in words.
    """

    source: ChargeSource
    band: int | None
    start_ms: int | None
    end_ms: int | None
    hours: float
    detail: str


@dataclass(frozen=True, slots=True)
class BandAccount:
    """One band's hours: allowed and charged."""

    min_c: float
    max_c: float
    allowed_h: float
    charged_h: float

    @property
    def share(self) -> float:
        """charged / allowed: inf when nothing is allowed and something is charged, 0 when
        both are 0."""
        if self.allowed_h > 0:
            return self.charged_h / self.allowed_h
        return math.inf if self.charged_h > 0 else 0.0

    @property
    def remaining_h(self) -> float:
        return self.allowed_h - self.charged_h


@dataclass(frozen=True, slots=True)
class BudgetAccount:
    """A batch's account: its bands, every charge, freeze events, and why it is exceeded.

    `allowed_h`, `charged_h` and `remaining_h` total the bands plus the time outside every
    band (allowed 0), the figures the record printed before bands existed.
    """

    bands: tuple[BandAccount, ...]
    charges: tuple[Charge, ...]
    freeze_events: int
    freeze_allowed: int | None
    reasons: tuple[str, ...]

    @property
    def outside_h(self) -> float:
        """Time charged outside every band (over budget at once)."""
        return sum(c.hours for c in self.charges if c.band is None)

    @property
    def allowed_h(self) -> float:
        return sum(b.allowed_h for b in self.bands)

    @property
    def charged_h(self) -> float:
        return sum(b.charged_h for b in self.bands) + self.outside_h

    @property
    def remaining_h(self) -> float:
        return self.allowed_h - self.charged_h

    @property
    def over_by_h(self) -> float:
        return sum(max(0.0, -b.remaining_h) for b in self.bands) + self.outside_h

    @property
    def consumed_share(self) -> float:
        """The most consumed of the bands and of the freeze events allowed: 1.0 = 100 %
        (inf when something is charged where nothing is allowed)."""
        shares = [b.share for b in self.bands]
        if self.outside_h > 0:
            shares.append(math.inf)
        if self.freeze_allowed is not None:
            shares.append(
                self.freeze_events / self.freeze_allowed
                if self.freeze_allowed > 0
                else (math.inf if self.freeze_events > 0 else 0.0)
            )
        return max(shares, default=0.0)

    @property
    def exceeded(self) -> bool:
        return bool(self.reasons)


def budget_account(
    budget: Budget,
    charges: Sequence[Charge],
    *,
    freeze_events: int = 0,
    range_label: str = "its storage range",
    extra_reasons: Sequence[str] = (),
) -> BudgetAccount:
    """The account of `charges` against `budget`, with the reasons it is exceeded: a band
    over its hours, time outside every band, more freeze events than allowed, and
    `extra_reasons` (e.g. a peak on another path beyond the budget's limits)."""
    charged = [0.0] * len(budget.bands)
    outside = 0.0
    for charge in charges:
        if charge.band is None:
            outside += charge.hours
        else:
            charged[charge.band] += charge.hours
    bands = tuple(
        BandAccount(b.min_c, b.max_c, b.hours, h)
        for b, h in zip(budget.bands, charged, strict=True)
    )
    reasons: list[str] = []
    if outside > 0:
        if budget.bands:
            reasons.append(
                f"{outside:.2f} h outside {range_label} in no band of the stability budget "
                f"({', '.join(b.label for b in budget.bands)}), which allows none"
            )
        else:
            reasons.append(
                f"the product has no stability budget and the batch spent {outside:.2f} h "
                f"outside {range_label}"
            )
    for band in bands:
        if band.charged_h > band.allowed_h:
            reasons.append(
                f"{band.charged_h:.2f} h at {band.min_c:g}–{band.max_c:g} °C exceeds the "
                f"stability budget of {band.allowed_h:g} h by "
                f"{band.charged_h - band.allowed_h:.2f} h"
            )
    allowed = budget.freeze_allowed
    if allowed is not None and freeze_events > allowed:
        reasons.append(
            f"{freeze_events} freeze event(s) at or below {budget.freeze_c:g} °C, {allowed} allowed"
        )
    reasons.extend(extra_reasons)
    return BudgetAccount(
        bands=bands,
        charges=tuple(charges),
        freeze_events=freeze_events,
        freeze_allowed=allowed,
        reasons=tuple(reasons),
    )


def manual_charge(budget: Budget, start_ms: int, end_ms: int, max_c: float, detail: str) -> Charge:
    """A time-out-of-refrigeration entry: its duration, in the band holding its maximum
    temperature (the worst the product saw while it was out)."""
    return Charge(
        "manual", budget.band_of(max_c), start_ms, end_ms, (end_ms - start_ms) / _HOUR_MS, detail
    )


def carried_in_charge(
    budget: Budget, min_c: float, max_c: float, hours: float, detail: str
) -> Charge:
    """Time spent before the product reached this site, in the band it names."""
    return Charge("carried_in", budget.band_matching(min_c, max_c), None, None, hours, detail)


def _first_reaching(charges: Sequence[Charge], need_h: float, since_ms: int) -> float | None:
    """The first instant `charges` (each spread evenly over [start_ms, end_ms], all at once
    at its start when it has no length; at `since_ms` when it has no time) add up to
    `need_h` hours; None if they never do."""
    rates: dict[int, float] = {}  # ms -> change of the rate (hours per ms) from then on
    jumps: dict[int, float] = {}  # ms -> hours charged at that instant
    for c in charges:
        start = since_ms if c.start_ms is None else c.start_ms
        end = start if c.end_ms is None else c.end_ms
        if end > start:
            rate = c.hours / (end - start)
            rates[start] = rates.get(start, 0.0) + rate
            rates[end] = rates.get(end, 0.0) - rate
        else:
            jumps[start] = jumps.get(start, 0.0) + c.hours
    total = rate = 0.0
    last: int | None = None
    for t in sorted(rates.keys() | jumps.keys()):
        if last is not None and rate > 0 and total + rate * (t - last) >= need_h:
            return last + (need_h - total) / rate
        if last is not None:
            total += rate * (t - last)
        total += jumps.get(t, 0.0)
        if total >= need_h:
            return float(t)
        rate += rates.get(t, 0.0)
        last = t
    return None


def crossing_ms(
    budget: Budget,
    charges: Sequence[Charge],
    freeze_starts_ms: Sequence[int],
    share: float,
    *,
    since_ms: int,
) -> int | None:
    """The first instant the account of `charges` and of the freeze events begun at
    `freeze_starts_ms` reached `share` consumed (as `BudgetAccount.consumed_share`: the
    most consumed band, time in no band or in a band allowing none at once, or the freeze
    events), None if it never did. A charge counts evenly over its span, all at its start
    without one, and at `since_ms` (when the account opened: the batch's first placement)
    without a time, e.g. time carried in from before."""
    slack = 1e-9  # hours and shares are sums of floats: equal is reached
    found: list[float] = []
    for index in [*range(len(budget.bands)), None]:
        mine = [c for c in charges if c.band == index and c.hours > 0]
        allowed = 0.0 if index is None else budget.bands[index].hours
        # Nothing allowed (in no band, or a band of 0 h): any time charged is over at once.
        at = _first_reaching(mine, max(share * allowed - slack, slack), since_ms)
        if at is not None:
            found.append(at)
    allowed_freezes = budget.freeze_allowed
    if allowed_freezes is not None:
        events = sorted(freeze_starts_ms)
        nth = max(1, math.ceil(share * allowed_freezes - slack))
        if len(events) >= nth:
            found.append(float(events[nth - 1]))
    return None if not found else round(min(found))
