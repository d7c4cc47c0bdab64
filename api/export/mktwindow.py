"""MKT over an evaluation window around each alarm excursion, beside the whole chain's.

USP <1079.2> uses MKT to weigh an excursion's thermal effect over a period; a whole-record
MKT dilutes a short excursion in months of good storage, so the record also states the MKT
of the excursion and a day either side: from 24 h before the clock hour it started in to
24 h after the clock hour it ended in, clipped to the placements of the probes that
recorded it (the product's own path). It is context for QA: an MKT inside the range never
excuses an excursion.

A probe's Arrhenius sums (coldchain.mkt) are kept per clock hour. An hour is dropped once
no window can need it any more (older than a day and outside every alarm excursion's
window), so memory follows the excursions, not the length of the record.
"""

from __future__ import annotations

import math
from collections.abc import Sequence

import numpy as np
import numpy.typing as npt

from coldchain.mkt import MktAccumulator

__all__ = ["HOUR_MS", "MARGIN_H", "MktHours", "window_ms"]

HOUR_MS = 3_600_000
#: Hours before and after an excursion that its window covers.
MARGIN_H = 24


def _hours(start_ms: int, end_ms: int | None) -> tuple[int, float]:
    """The window of an excursion as clock hour numbers [first, last)."""
    last = math.inf if end_ms is None else -(-end_ms // HOUR_MS) + MARGIN_H
    return start_ms // HOUR_MS - MARGIN_H, last


def window_ms(start_ms: int, end_ms: int) -> tuple[int, int]:
    """The window of an excursion from `start_ms` to `end_ms`, in ms (before clipping)."""
    first, last = _hours(start_ms, end_ms)
    return first * HOUR_MS, int(last) * HOUR_MS


class MktHours:
    """A probe's MKT sums, in all (`total`) and per clock hour.

    Usage:
        hours = MktHours(delta_h)
        hours.add(times, temps, weights)       # each reading and the time it stands for
        hours.prune(now_ms, spans)             # spans: (start, end|None) still of interest
        hours.window(start_ms, end_ms)         # MktAccumulator of those hours, or None
    """

    def __init__(self, delta_h_kj_per_mol: float) -> None:
        self.total = MktAccumulator(delta_h_kj_per_mol)
        self._recent: dict[int, list[float]] = {}  # hour -> [Σ weight, Σ term], time order
        self._kept: dict[int, list[float]] = {}

    def add(
        self,
        times: npt.NDArray[np.int64],
        temps: npt.NDArray[np.float64],
        weights: npt.NDArray[np.float64],
    ) -> None:
        """Readings in time order (so their hours come in order too)."""
        if times.size == 0:
            return
        terms = self.total.add(temps, weights)
        hours = times // HOUR_MS
        first = int(hours[0])
        weight = np.bincount(hours - first, weights=weights)
        scaled = np.bincount(hours - first, weights=terms)
        for k in np.flatnonzero(weight).tolist():
            sums = self._recent.setdefault(first + k, [0.0, 0.0])
            sums[0] += float(weight[k])
            sums[1] += float(scaled[k])

    def prune(self, now_ms: float, spans: Sequence[tuple[int, int | None]]) -> None:
        """Drop the hours no window can need: a day older than `now_ms` (the probe's latest
        reading, or infinity once it has no more; an excursion that starts later looks back
        a day at most) and outside the window of every span (alarm excursions, and the one
        still running)."""
        windows = [_hours(start, end) for start, end in spans]
        cutoff = now_ms // HOUR_MS - MARGIN_H if math.isfinite(now_ms) else math.inf
        while self._recent:
            hour = next(iter(self._recent))
            if hour >= cutoff:
                break
            sums = self._recent.pop(hour)
            if any(a <= hour < b for a, b in windows):
                self._kept[hour] = sums

    def window(self, start_ms: int, end_ms: int) -> MktAccumulator | None:
        """The sums of the hours in [start_ms, end_ms) (hour-aligned), None without any."""
        first, last = start_ms // HOUR_MS, end_ms // HOUR_MS
        weight = scaled = 0.0
        for store in (self._kept, self._recent):
            for hour, (w, s) in store.items():
                if first <= hour < last:
                    weight += w
                    scaled += s
        return self.total.part(weight, scaled) if weight > 0 else None
