"""Statistics of one sensor over one placement, computed in a single pass over chunks of
readings: min/max/mean, time in and out of range, MKT sums (whole and per hour), gaps.

The time base (the choice the issue leaves to us, written down in README.md):

- Only valid readings count (invalid.py screens the others out first): an invalid reading
  is a missing one.
- A reading stands for the time until the next reading, but for at most one logging
  interval: a longer silence is a *gap*, reported with its start (the last reading before
  it) and end (the first after it), and is not bridged silently by the value before it.
  Mean, MKT (USP <1079.2>) and time in range use these weights.
- A reading *out of range* stands for the whole time until the next reading, gap or not:
  nothing showed the product back in range, so time out of range (what the stability
  budget is charged with) is conservative.
- A gap is a silence longer than 1.5 logging intervals (`coldchain.judgement.excursion.
  gap_ms`, the rule the excursion delay uses too), also at the start and end of a
  placement. Expected readings = ceil(placement duration / interval).
- A probe counts only while it was fitted (`start_ms`/`end_ms` are its fitted part of the
  placement, `PlacementInfo.fitted_ms`): no gap and no expected reading outside it.
- Each reading is judged in or out of range by the limits in force when it was taken
  (`LimitsInForce`): a later change of the product's condition does not rewrite the past.
- Time out of range is also split by the stability budget's bands (#22: the bands of the
  account, `coldchain.judgement.budget`), the last entry being time in no band; a freeze
  event is a run of readings at or below `freeze_c` (one excursion, however many readings),
  and whether the first and last readings were frozen is kept, so that a run going on
  across a hand-over counts once (summary.py, `FreezeRuns.then`). When each band's time
  was spent (`band_runs`) and when each freeze event began are kept too: the budget alerts
  start when the account crossed their threshold (api/budget_watch.py).

Excursions are not found here: the domain's rule finds them (excursions.py).
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from api.export.inforce import LimitsInForce
from api.export.invalid import InvalidRun, InvalidScreen
from api.export.mktwindow import MktHours
from coldchain.judgement.budget import Budget, FreezeRuns
from coldchain.judgement.excursion import gap_ms
from coldchain.judgement.limits import Limits
from coldchain.judgement.validity import ReadingValidity
from coldchain.mkt import MktAccumulator

__all__ = ["Gap", "SensorAccumulator", "SensorSummary"]


@dataclass(frozen=True, slots=True)
class Gap:
    """No reading between `start_ms` and `end_ms`.

    Attributes:
        where: "between" two readings, at the "start" or "end" of the placement, or "empty"
            (no reading at all in the placement).
        missing: expected readings that are not there.
    """

    start_ms: int
    end_ms: int
    where: str
    missing: int

    @property
    def duration_ms(self) -> int:
        return self.end_ms - self.start_ms


@dataclass(slots=True)
class SensorSummary:
    """Everything the record says about one sensor in one placement.

    Attributes:
        count: valid readings; `invalid`: readings that were not temperatures, in `invalid_runs`.
        covered_ms: Σ of reading weights (observed time, see the module docstring).
        mkt: the whole placement's MKT sums; `hours`: the same per clock hour, for the
            windows around excursions (mktwindow.py).
        chart_low, chart_high: per-bucket minimum and maximum for the PDF's chart (peaks
            kept, NaN where a bucket had no reading); empty when no chart was asked for.
    """

    count: int
    invalid: int
    expected: int
    min_c: float | None
    max_c: float | None
    mean_c: float | None
    covered_ms: float
    in_range_ms: float
    above_ms: float
    below_ms: float
    mkt: MktAccumulator
    hours: MktHours
    gaps: list[Gap]
    invalid_runs: list[InvalidRun]
    chart_low: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    chart_high: npt.NDArray[np.float64] = field(default_factory=lambda: np.empty(0))
    start_ms: int = 0
    end_ms: int = 0
    #: Time out of range per budget band, then in no band (len(bands) + 1 entries).
    band_ms: tuple[float, ...] = (0.0,)
    #: The same time as runs in time order: (band index, len(bands) for none; start, end ms).
    band_runs: tuple[tuple[int, int, int], ...] = ()
    #: Freeze events, and whether the first and last readings were frozen (a hand-over).
    freezes: FreezeRuns = field(default_factory=FreezeRuns)
    #: Valid readings past calibration (#22; still judged, only marked): (due date passed,
    #: epoch ms; readings at or after it under the certificate in force), by due date.
    past_calibration: tuple[tuple[int, int], ...] = ()

    @property
    def present_share(self) -> float:
        return 1.0 if self.expected == 0 else min(1.0, self.count / self.expected)

    @property
    def freeze_events(self) -> int:
        return self.freezes.events


class SensorAccumulator:
    """Feed chunks of (times, temperatures) in time order with `add`, then `finish` once.

    Memory is constant in the number of readings (plus one entry per gap and invalid run,
    and the MKT hours that excursion windows still need, `prune_hours`).
    """

    def __init__(
        self,
        *,
        start_ms: int,
        end_ms: int,
        interval_ms: int,
        limits: Limits | LimitsInForce,
        delta_h_kj_per_mol: float,
        validity: ReadingValidity,
        chart_buckets: int = 0,
        budget: Budget | None = None,
    ) -> None:
        self.start_ms, self.end_ms = start_ms, end_ms
        self.interval_ms = max(1, interval_ms)
        self.gap_ms = gap_ms(self.interval_ms)
        self.limits = (
            limits if isinstance(limits, LimitsInForce) else LimitsInForce.constant(limits)
        )
        self.screen = InvalidScreen(validity)
        self._last: tuple[int, float] | None = None  # newest reading, weight not yet known
        self._count = 0
        self._min = math.inf
        self._max = -math.inf
        self._covered = self._sum_wv = self._in_range = self._above = self._below = 0.0
        self.hours = MktHours(delta_h_kj_per_mol)
        self._gaps: list[Gap] = []
        # About two expected readings per bucket at least: an empty bucket breaks the line,
        # which must mean a gap, not clock jitter.
        expected = math.ceil(max(0, end_ms - start_ms) / self.interval_ms)
        self._buckets = min(chart_buckets, max(1, expected // 2)) if chart_buckets else 0
        self._chart_low = np.full(self._buckets, np.nan)
        self._chart_high = np.full(self._buckets, np.nan)
        self._budget = budget = budget or Budget()
        self._band_ms = np.zeros(len(budget.bands) + 1)
        self._freeze_c = budget.freeze_c
        self._band_runs: list[tuple[int, int, int]] = []
        self._first_frozen: bool | None = None  # the first reading was (None: none yet)
        self._frozen = False  # the newest reading was at or below freeze_c
        self._freeze_starts: list[int] = []

    def add(
        self, times: npt.NDArray[np.int64], temps: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """Take a chunk; returns its valid readings (what the excursion rule is fed)."""
        times, temps = self.screen.split(times, temps)
        if times.size == 0:
            return times, temps
        if self._last is None:
            self._gap(self.start_ms, int(times[0]), "start")
            all_t, all_v = times, temps
        else:
            all_t = np.concatenate(([self._last[0]], times))
            all_v = np.concatenate(([self._last[1]], temps))
        steps = np.diff(all_t)
        for i in np.flatnonzero(steps > self.gap_ms):
            self._gap(int(all_t[i]), int(all_t[i + 1]), "between")
        self._weigh(all_t[:-1], all_v[:-1], steps.astype(np.float64))
        self._count += int(times.size)
        self._min = min(self._min, float(temps.min()))
        self._max = max(self._max, float(temps.max()))
        if self._buckets:
            self._chart(times, temps)
        if self._freeze_c is not None:
            self._count_freezes(times, temps <= self._freeze_c)
        self._last = (int(times[-1]), float(temps[-1]))
        return times, temps

    def finish(self) -> SensorSummary:
        if self._last is None:
            self._gap(self.start_ms, self.end_ms, "empty")
        else:
            last_t, last_v = self._last
            tail = max(0, self.end_ms - last_t)
            self._weigh(np.array([last_t]), np.array([last_v]), np.array([float(tail)]))
            self._gap(last_t, self.end_ms, "end")
        span = max(0, self.end_ms - self.start_ms)
        has = self._count > 0
        return SensorSummary(
            count=self._count,
            invalid=self.screen.count,
            expected=math.ceil(span / self.interval_ms),
            min_c=self._min if has else None,
            max_c=self._max if has else None,
            mean_c=self._sum_wv / self._covered if self._covered > 0 else None,
            covered_ms=self._covered,
            in_range_ms=self._in_range,
            above_ms=self._above,
            below_ms=self._below,
            mkt=self.hours.total,
            hours=self.hours,
            gaps=self._gaps,
            invalid_runs=self.screen.finish(),
            chart_low=self._chart_low,
            chart_high=self._chart_high,
            start_ms=self.start_ms,
            end_ms=self.end_ms,
            band_ms=tuple(float(x) for x in self._band_ms),
            band_runs=tuple(self._band_runs),
            freezes=FreezeRuns(tuple(self._freeze_starts), bool(self._first_frozen), self._frozen),
        )

    def _gap(self, start_ms: int, end_ms: int, where: str) -> None:
        if where == "empty":
            if end_ms > start_ms:
                missing = math.ceil((end_ms - start_ms) / self.interval_ms)
                self._gaps.append(Gap(start_ms, end_ms, where, missing))
            return
        if end_ms - start_ms > self.gap_ms:
            # Readings fall due every interval after the last one; those before `end_ms`
            # are missing (at the edges the placement boundary stands in for a reading).
            missing = max(1, math.ceil((end_ms - start_ms) / self.interval_ms) - 1)
            self._gaps.append(Gap(start_ms, end_ms, where, missing))

    def _weigh(
        self,
        times: npt.NDArray[np.int64],
        temps: npt.NDArray[np.float64],
        steps: npt.NDArray[np.float64],
    ) -> None:
        """Charge each reading with its weight (see the module docstring)."""
        weights = np.minimum(steps, float(self.interval_ms))
        low, high = self.limits.bounds(times)
        above = temps > high
        below = temps < low
        inside = ~(above | below)
        self._covered += float(weights.sum())
        self._sum_wv += float(np.dot(weights, temps))
        self._in_range += float(weights[inside].sum())
        self._above += float(steps[above].sum())
        self._below += float(steps[below].sum())
        self.hours.add(times, temps, weights)
        out = above | below
        if np.any(out):
            bands = self._budget.bands_of(temps[out])
            self._band_ms += np.bincount(bands, weights=steps[out], minlength=self._band_ms.size)
            self._add_band_runs(bands, times[out], times[out] + steps[out].astype(np.int64))

    def _add_band_runs(
        self,
        bands: npt.NDArray[np.intp],
        starts: npt.NDArray[np.int64],
        ends: npt.NDArray[np.int64],
    ) -> None:
        """Out-of-range spans merged into runs: one per band until the band changes or the
        product is back in range (a span not starting where the one before ended)."""
        new = np.ones(bands.size, dtype=np.bool_)
        new[1:] = (bands[1:] != bands[:-1]) | (starts[1:] != ends[:-1])
        firsts = np.flatnonzero(new)
        lasts = np.append(firsts[1:], bands.size) - 1
        for first, last in zip(firsts.tolist(), lasts.tolist(), strict=True):
            band, start, end = int(bands[first]), int(starts[first]), int(ends[last])
            if (
                self._band_runs
                and self._band_runs[-1][0] == band
                and self._band_runs[-1][2] == start
            ):
                self._band_runs[-1] = (band, self._band_runs[-1][1], end)
            else:
                self._band_runs.append((band, start, end))

    def _count_freezes(self, times: npt.NDArray[np.int64], frozen: npt.NDArray[np.bool_]) -> None:
        """A freeze event starts at each reading at or below freeze_c after one above it."""
        if self._first_frozen is None:
            self._first_frozen = bool(frozen[0])
        before = np.concatenate(([self._frozen], frozen[:-1]))
        self._freeze_starts.extend(times[frozen & ~before].tolist())
        self._frozen = bool(frozen[-1])

    def _chart(self, times: npt.NDArray[np.int64], temps: npt.NDArray[np.float64]) -> None:
        span = max(1, self.end_ms - self.start_ms)
        index = ((times - self.start_ms) * self._buckets // span).clip(0, self._buckets - 1)
        low = np.where(np.isnan(self._chart_low), np.inf, self._chart_low)
        high = np.where(np.isnan(self._chart_high), -np.inf, self._chart_high)
        np.minimum.at(low, index, temps)
        np.maximum.at(high, index, temps)
        self._chart_low = np.where(np.isinf(low), np.nan, low)
        self._chart_high = np.where(np.isinf(high), np.nan, high)
