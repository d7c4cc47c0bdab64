"""Our figures over a logger's readings, in the device's own terms, for comparison.

The device prints min/max/mean/MKT for a run (Q-tag `Res:`) or minutes out of range per
local day (Fridge-tag `Hist:` `t Acc`); a QA person compares those with ours. Both the QA
export (over the readings as stored in InfluxDB) and the agreement tests (over the parsed
file) call these functions, so the two can never compute different things.

Time base, as in the export (api/export/stats.py) and coldchain/mkt.py: a reading stands
for the time until the next one, at most one logging interval (the last one for one
interval). Minutes out of range are these weights summed over readings strictly above
the high limit / below the low limit, split at local midnight, per local day of the site.

Invalid readings (`coldchain.judgement.validity.ReadingValidity`: error codes such as
85.0 / −127 °C, values outside the probe's range) are not temperatures: given `validity`,
ours leave them out, as every other figure of the record does (an invalid reading is a
missing one; the reading before it stands for at most one interval). The device's own
figures are what it printed.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt

from coldchain.judgement.validity import ReadingValidity
from coldchain.mkt import mean_kinetic_temperature
from coldchain.times import local, to_ms

__all__ = [
    "DayFigures",
    "RunFigures",
    "daily_figures",
    "reading_weights_ms",
    "run_figures",
    "valid_readings",
]

_MS_PER_MIN = 60_000.0


@dataclass(frozen=True, slots=True)
class RunFigures:
    """Our statistics over a run's readings (times in epoch ms).

    Attributes:
        min_at_ms, max_at_ms: the first reading with the extreme value.
        mean_c: time-weighted mean; mkt_c: MKT with the given ΔH (USP <1079.2>).
    """

    count: int
    min_c: float
    min_at_ms: int
    max_c: float
    max_at_ms: int
    mean_c: float
    mkt_c: float
    delta_h_kj_per_mol: float


@dataclass(frozen=True, slots=True)
class DayFigures:
    """Our figures for one local day.

    Attributes:
        above_min, below_min: minutes strictly above the high / below the low limit.
        count: readings that day; min_c, max_c, mean_c over them (mean time-weighted).
    """

    day: date
    above_min: float
    below_min: float
    count: int
    min_c: float
    max_c: float
    mean_c: float


def reading_weights_ms(
    times_ms: npt.NDArray[np.int64], interval_ms: float
) -> npt.NDArray[np.float64]:
    """What each reading stands for: the time to the next one, capped at the interval."""
    if times_ms.size == 0:
        return np.empty(0)
    steps = np.diff(times_ms).astype(np.float64)
    weights: npt.NDArray[np.float64] = np.minimum(np.append(steps, interval_ms), interval_ms)
    return weights


def valid_readings(
    times_ms: npt.NDArray[np.int64],
    temps_c: npt.NDArray[np.float64],
    validity: ReadingValidity | None,
) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
    """The readings that are temperatures (all of them without `validity`)."""
    if validity is None or temps_c.size == 0:
        return times_ms, temps_c
    keep = validity.valid(temps_c)
    if keep.all():
        return times_ms, temps_c
    return times_ms[keep], temps_c[keep]


def run_figures(
    times_ms: npt.NDArray[np.int64],
    temps_c: npt.NDArray[np.float64],
    *,
    interval_ms: float,
    delta_h_kj_per_mol: float,
    validity: ReadingValidity | None = None,
) -> RunFigures | None:
    """Min, max (with times), time-weighted mean and MKT of readings in time order (valid
    ones only, given `validity`); None without any."""
    times_ms, temps_c = valid_readings(times_ms, temps_c, validity)
    if times_ms.size == 0:
        return None
    weights = reading_weights_ms(times_ms, interval_ms)
    low, high = int(np.argmin(temps_c)), int(np.argmax(temps_c))
    return RunFigures(
        count=int(times_ms.size),
        min_c=float(temps_c[low]),
        min_at_ms=int(times_ms[low]),
        max_c=float(temps_c[high]),
        max_at_ms=int(times_ms[high]),
        mean_c=float(np.average(temps_c, weights=weights)),
        mkt_c=mean_kinetic_temperature(temps_c, weights, delta_h_kj_per_mol),
        delta_h_kj_per_mol=delta_h_kj_per_mol,
    )


def daily_figures(
    times_ms: npt.NDArray[np.int64],
    temps_c: npt.NDArray[np.float64],
    *,
    interval_ms: float,
    timezone: str,
    low_c: float | None,
    high_c: float | None,
    validity: ReadingValidity | None = None,
) -> list[DayFigures]:
    """Per local day: minutes above `high_c` and below `low_c`, count, min, max, mean (valid
    readings only, given `validity`).

    A reading's weight that runs past local midnight is split between the two days, as
    the device counts minutes per calendar day.
    """
    times_ms, temps_c = valid_readings(times_ms, temps_c, validity)
    if times_ms.size == 0:
        return []
    zone = ZoneInfo(timezone)
    weights = reading_weights_ms(times_ms, interval_ms)
    starts = [local(t, zone).date() for t in times_ms.tolist()]
    days = sorted(set(starts))
    # Epoch ms of each day's local midnight (the zone's rules, DST included).
    midnights = {
        d: to_ms(datetime.combine(d, time(0), tzinfo=zone))
        for d in [*days, days[-1] + timedelta(days=1)]
    }
    above = temps_c > (np.inf if high_c is None else high_c)
    below = temps_c < (-np.inf if low_c is None else low_c)
    minutes: dict[date, list[float]] = {d: [0.0, 0.0] for d in days}
    for index, day in enumerate(starts):
        if not (above[index] or below[index]):
            continue
        slot = 0 if above[index] else 1
        start, end = int(times_ms[index]), int(times_ms[index]) + float(weights[index])
        next_midnight = midnights[day + timedelta(days=1)]
        inside = min(end, next_midnight) - start
        minutes[day][slot] += inside / _MS_PER_MIN
        if end > next_midnight:
            minutes.setdefault(day + timedelta(days=1), [0.0, 0.0])[slot] += (
                end - next_midnight
            ) / _MS_PER_MIN
    figures = []
    day_index = np.array([d.toordinal() for d in starts])
    for day in sorted(minutes):
        mask = day_index == day.toordinal()
        if not mask.any():
            above_min, below_min = minutes[day]  # spilled over midnight, no reading of its own
            figures.append(DayFigures(day, above_min, below_min, 0, np.nan, np.nan, np.nan))
            continue
        temps = temps_c[mask]
        figures.append(
            DayFigures(
                day=day,
                above_min=minutes[day][0],
                below_min=minutes[day][1],
                count=int(mask.sum()),
                min_c=float(temps.min()),
                max_c=float(temps.max()),
                mean_c=float(np.average(temps, weights=weights[mask])),
            )
        )
    return figures
