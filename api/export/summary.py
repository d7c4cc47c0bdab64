"""Per-placement, per-path and whole-chain figures, combined from the per-sensor
summaries, and the stability budget verdict.

How probes are combined (the issue is silent; README.md says the same):
- min and max over every probe; mean and MKT (USP <1079.2>) pool the probes' time-weighted
  sums, so a placement's MKT is the MKT of everything its probes saw.
- Time out of range of a placement is that of its worst probe (the product may have sat
  next to it).
- A path (timeline.py: the placements one part of the batch went through) sums its
  placements, each placement's sums scaled by 1 / (its number of probes), so a fridge with
  two probes counts its time once, not twice.
- The chain's figures are those of its worst path: the most time out of range, then the
  highest MKT. A lot split over two places at once is judged by its worse half, never by an
  MKT pooling a warm half with a cold one; without a split there is one path, the chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass

from api.export.record import ProductInfo
from api.export.stats import SensorSummary
from coldchain.mkt import MktAccumulator

__all__ = ["BudgetVerdict", "Figures", "PathFigures", "budget_verdict", "combine", "worst_path"]

_HOUR_MS = 3_600_000.0


@dataclass(frozen=True, slots=True)
class Figures:
    """min/max/mean/MKT and time in and out of range of a placement or the chain.

    Attributes:
        in_range_share: time in range / observed time (None when nothing was observed).
        above_h, below_h: time out of range above the maximum / below the minimum (worst probe
            for a placement, summed over placements for a path).
        invalid: readings that were not temperatures (not in `count`, invalid.py).
    """

    count: int
    expected: int
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    mkt_c: float | None
    observed_h: float
    in_range_h: float
    in_range_share: float | None
    above_h: float
    below_h: float
    invalid: int = 0

    @property
    def out_of_range_h(self) -> float:
        return self.above_h + self.below_h

    @property
    def present_share(self) -> float:
        return 1.0 if self.expected == 0 else min(1.0, self.count / self.expected)


@dataclass(slots=True)
class _Sums:
    count: int = 0
    invalid: int = 0
    expected: int = 0
    min_c: float | None = None
    max_c: float | None = None
    weight: float = 0.0
    weighted: float = 0.0
    in_range: float = 0.0
    above: float = 0.0
    below: float = 0.0


def combine(
    groups: list[list[SensorSummary]], delta_h_kj_per_mol: float, *, chain: bool
) -> Figures:
    """Figures of one placement (`groups` = [its probes], chain=False) or of a path
    (`groups` = one list of probes per placement, chain=True)."""
    sums = _Sums()
    mkt = MktAccumulator(delta_h_kj_per_mol)
    for probes in groups:
        scale = 1.0 / len(probes) if chain and probes else 1.0
        worst_above = worst_below = 0.0
        for probe in probes:
            sums.count += probe.count
            sums.invalid += probe.invalid
            sums.expected += probe.expected
            if probe.min_c is not None:
                sums.min_c = probe.min_c if sums.min_c is None else min(sums.min_c, probe.min_c)
            if probe.max_c is not None:
                sums.max_c = probe.max_c if sums.max_c is None else max(sums.max_c, probe.max_c)
            if probe.mean_c is not None:
                sums.weight += probe.covered_ms * scale
                sums.weighted += probe.mean_c * probe.covered_ms * scale
            sums.in_range += probe.in_range_ms * scale
            worst_above = max(worst_above, probe.above_ms)
            worst_below = max(worst_below, probe.below_ms)
            mkt.merge(probe.mkt, scale)
        sums.above += worst_above
        sums.below += worst_below
    return Figures(
        count=sums.count,
        expected=sums.expected,
        min_c=sums.min_c,
        max_c=sums.max_c,
        mean_c=sums.weighted / sums.weight if sums.weight > 0 else None,
        mkt_c=mkt.value_or_none(),
        observed_h=sums.weight / _HOUR_MS,
        in_range_h=sums.in_range / _HOUR_MS,
        in_range_share=sums.in_range / sums.weight if sums.weight > 0 else None,
        above_h=sums.above / _HOUR_MS,
        below_h=sums.below / _HOUR_MS,
        invalid=sums.invalid,
    )


@dataclass(frozen=True, slots=True)
class PathFigures:
    """The figures of one path: `placements` are their indices, in time order."""

    placements: tuple[int, ...]
    figures: Figures


def worst_path(paths: list[PathFigures]) -> PathFigures | None:
    """The path with the most time out of range, then the highest MKT."""
    return max(
        paths,
        key=lambda p: (
            p.figures.out_of_range_h,
            -math.inf if p.figures.mkt_c is None else p.figures.mkt_c,
        ),
        default=None,
    )


@dataclass(frozen=True, slots=True)
class BudgetVerdict:
    """The chain's time out of range against the product's stability budget.

    Attributes:
        allowed_h: the budget's hours (0 when the product has none: no excursion allowed).
        charged_h: the time charged against it (above the range, plus below it when the
            budget has a lower bound).
        exceeded: over the hours, or a temperature outside what the budget covers.
        reasons: why it is exceeded, in words; empty when within.
    """

    allowed_h: float
    charged_h: float
    remaining_h: float
    exceeded: bool
    reasons: tuple[str, ...]

    @property
    def over_by_h(self) -> float:
        return max(0.0, self.charged_h - self.allowed_h)


def budget_verdict(product: ProductInfo, chain: Figures, extremes: Figures) -> BudgetVerdict:
    """Is the chain (its worst path) within the product's stability budget?

    A budget allows up to `hours` cumulative between its bounds (catalog `Budget`); without
    a budget no time out of range is allowed. Without a lower bound, the budget covers
    excursions above the range only, so any time below the range is outside it (a 2–8 °C
    product's budget for warm excursions says nothing about freezing). The budget's own
    limits are checked against `extremes` (every placement: a peak on any path counts).
    """
    reasons: list[str] = []
    allowed = product.budget_hours if product.budget_hours is not None else 0.0
    charged = chain.above_h
    if product.budget_hours is None:
        charged += chain.below_h
        if charged > 0:
            reasons.append(
                f"the product has no stability budget and the batch spent {charged:.2f} h "
                f"outside {product.min_c:g}–{product.max_c:g} °C"
            )
    else:
        if product.budget_min_c is not None:
            charged += chain.below_h
        elif chain.below_h > 0:
            reasons.append(
                f"{chain.below_h:.2f} h below {product.min_c:g} °C, which the stability "
                "budget does not cover"
            )
        if charged > allowed:
            reasons.append(
                f"{charged:.2f} h out of range exceeds the stability budget of "
                f"{allowed:g} h by {charged - allowed:.2f} h"
            )
    top, bottom = product.budget_max_c, product.budget_min_c
    peak, low = extremes.max_c, extremes.min_c
    if top is not None and peak is not None and peak > top:
        reasons.append(f"maximum {peak:g} °C is above the budget's limit of {top:g} °C")
    if bottom is not None and low is not None and low < bottom:
        reasons.append(f"minimum {low:g} °C is below the budget's limit of {bottom:g} °C")
    return BudgetVerdict(
        allowed_h=allowed,
        charged_h=charged,
        remaining_h=allowed - charged,
        exceeded=bool(reasons),
        reasons=tuple(reasons),
    )
