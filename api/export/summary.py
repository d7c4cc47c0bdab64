"""Per-placement, per-path and whole-chain figures, combined from the per-sensor
summaries, and the stability budget account (coldchain/judgement/budget.py).

How probes are combined (the issue is silent; README.md says the same):
- min and max over every probe; mean and MKT (USP <1079.2>) pool the probes' time-weighted
  sums, so a placement's MKT is the MKT of everything its probes saw.
- Time out of range of a placement is that of its worst probe (the product may have sat
  next to it).
- A path (timeline.py: the placements one part of the batch went through) sums its
  placements, each placement's sums scaled by 1 / (its number of probes), so a fridge with
  two probes counts its time once, not twice.
- Time per budget band and freeze events of a placement are those of its worst probe,
  band by band; a path sums its placements, except that a freeze run going on across a
  hand-over counts once (`FreezeRuns.then`: the worst probe of the place before ends
  frozen, the worst probe of the next, fitted from the hand-over, begins frozen). Of
  probes with as many freeze events, the worst is the one whose runs do not go on across
  a hand-over (more events, the conservative count).
- The chain's figures are those of its worst path: the most time out of range, then the
  highest MKT. A lot split over two places at once is judged by its worse half, never by an
  MKT pooling a warm half with a cold one; without a split there is one path, the chain.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field
from itertools import zip_longest

from api.export.record import ProductInfo
from api.export.stats import SensorSummary
from coldchain.catalog.budget import BudgetEntries
from coldchain.judgement.budget import (
    BudgetAccount,
    Charge,
    FreezeRuns,
    budget_account,
    carried_in_charge,
    manual_charge,
)
from coldchain.mkt import MktAccumulator
from coldchain.times import to_ms

__all__ = [
    "Figures",
    "PathFigures",
    "ReadingsTimeline",
    "budget_account_of",
    "combine",
    "readings_timeline",
    "worst_path",
]

_HOUR_MS = 3_600_000.0
_READINGS = "the worst path's readings"  # what a readings charge says it comes from


@dataclass(frozen=True, slots=True)
class Figures:
    """min/max/mean/MKT and time in and out of range of a placement or the chain.

    Attributes:
        in_range_share: time in range / observed time (None when nothing was observed).
        above_h, below_h: time out of range above the maximum / below the minimum (worst probe
            for a placement, summed over placements for a path).
        invalid: readings that were not temperatures (not in `count`, invalid.py).
        band_h: time out of range per budget band, then in no band (stats.py).
        freeze_events: runs of readings at or below the budget's freeze_c.
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
    band_h: tuple[float, ...] = ()
    freeze_events: int = 0

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
    band: list[float] = field(default_factory=list)
    freezes: FreezeRuns | None = None  # of the worst probes so far, None before any
    freezes_until_ms: int = 0  # where the last worst probe's readings ended (fitted)

    def add_freezes(self, probe: SensorSummary) -> None:
        """The next placement's worst probe for freezing: a run still frozen at the
        hand-over (its probe fitted from where the last one's ended) is one event."""
        runs = probe.freezes
        if self.freezes is not None:
            runs = self.freezes.then(runs, handed_over=self.freezes_until_ms == probe.start_ms)
        self.freezes, self.freezes_until_ms = runs, probe.end_ms


def _freeze_rank(probe: SensorSummary) -> tuple[int, bool, bool]:
    """The most freeze events; of as many, a probe whose runs do not go on across a
    hand-over (the conservative count)."""
    runs = probe.freezes
    return (runs.events, not runs.first_frozen, not runs.last_frozen)


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
        worst_band: list[float] = []
        for probe in probes:
            worst_band = [
                max(a, b) for a, b in zip_longest(worst_band, probe.band_ms, fillvalue=0.0)
            ]
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
        sums.band = [a + b for a, b in zip_longest(sums.band, worst_band, fillvalue=0.0)]
        if probes:
            sums.add_freezes(max(probes, key=_freeze_rank))
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
        band_h=tuple(ms / _HOUR_MS for ms in sums.band),
        freeze_events=0 if sums.freezes is None else sums.freezes.events,
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
class ReadingsTimeline:
    """When a path's readings charged the budget: `charges`, one per run of a band (source
    "readings", in time order per band), totalling the path's `band_h` (`combine`), and the
    path's freeze events (`FreezeRuns`)."""

    charges: tuple[Charge, ...]
    freezes: FreezeRuns


def readings_timeline(groups: list[list[SensorSummary]], bands: int) -> ReadingsTimeline:
    """The runs behind a path's figures (`groups`: one list of probes per placement, in time
    order, as `combine(chain=True)` takes them; `bands`: how many the budget has): each
    placement's worst probe band by band, and its worst probe for freezing, as `combine`
    chooses them."""
    charges: list[Charge] = []
    sums = _Sums()
    for probes in groups:
        if not probes:
            continue
        for index in range(bands + 1):
            worst = max(probes, key=lambda p: p.band_ms[index] if index < len(p.band_ms) else 0.0)
            charges += [
                Charge(
                    "readings",
                    None if band == bands else band,
                    start,
                    end,
                    (end - start) / _HOUR_MS,
                    _READINGS,
                )
                for band, start, end in worst.band_runs
                if band == index
            ]
        sums.add_freezes(max(probes, key=_freeze_rank))
    return ReadingsTimeline(tuple(charges), sums.freezes or FreezeRuns())


def budget_account_of(
    product: ProductInfo, chain: Figures, extremes: Figures, entries: BudgetEntries
) -> BudgetAccount:
    """The batch's stability budget account: the chain's (worst path's) time out of range
    per band and its freeze events, every manual time-out-of-refrigeration entry in force
    (voided ones charge nothing), and the time carried in.

    The budget is that of the condition in force at generation time (`ProductInfo.budget`).
    Its outer limits are checked against `extremes` (every placement: a peak on any path
    counts, as before bands existed).
    """
    budget = product.budget
    charges = [
        Charge("readings", None if i == len(budget.bands) else i, None, None, hours, _READINGS)
        for i, hours in enumerate(chain.band_h)
        if hours > 0
    ]
    charges += [
        manual_charge(
            budget,
            to_ms(entry.start),
            to_ms(entry.end),
            entry.max_c,
            f"entry {entry.id} by {entry.recorded_by}, up to {entry.max_c:g} °C: {entry.reason}",
        )
        for entry in entries.tor
        if entry.in_force
    ]
    charges += [
        carried_in_charge(
            budget,
            c.band_min_c,
            c.band_max_c,
            c.hours,
            f"carried in ({c.source}), recorded by {c.recorded_by}",
        )
        for c in entries.carried_in
    ]
    freezes = chain.freeze_events + sum(c.freeze_events for c in entries.carried_in)
    return budget_account(
        budget,
        charges,
        freeze_events=freezes,
        range_label=f"{product.min_c:g}–{product.max_c:g} °C",
        extra_reasons=_beyond_limits(product, extremes),
    )


def _beyond_limits(product: ProductInfo, extremes: Figures) -> list[str]:
    """A peak above the budget's top band (or a low below its bottom band, when it reaches
    below the range) anywhere in the record, on any path."""
    bands = product.budget.bands
    if not bands:
        return []
    reasons = []
    top, bottom = bands[-1].max_c, bands[0].min_c
    peak, low = extremes.max_c, extremes.min_c
    if top > product.max_c and peak is not None and peak >= top:
        reasons.append(f"maximum {peak:g} °C is above the budget's limit of {top:g} °C")
    if bottom < product.min_c and low is not None and low < bottom:
        reasons.append(f"minimum {low:g} °C is below the budget's limit of {bottom:g} °C")
    return reasons
