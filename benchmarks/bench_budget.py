"""What budget accounting costs, and where: readings/s of the batch record's per-sensor
judgement (api/export/stats.py `SensorAccumulator`, what the export and the API's batch scan
fold every reading into) without a budget and with three bands and a freeze threshold,
pinned to one core; in-process, no InfluxDB. Prints figures; asserts nothing.

The detector is not in this path: the account is the record's (the API's watch judges a
batch), never the detector's per reading, so `bench_detector throughput` is unchanged by it.

    python -m benchmarks.bench_budget [--readings 5000000] [--chunk 10000]
"""

from __future__ import annotations

import argparse
import os
import time

import numpy as np

from api.export.stats import SensorAccumulator
from coldchain.config import Settings
from coldchain.judgement.budget import Band, Budget
from coldchain.judgement.limits import Limits
from coldchain.judgement.validity import ReadingValidity

_MIN_MS = 60_000
_LIMITS = Limits(low_c=2.0, high_c=8.0, alarm_delay_ms=30 * _MIN_MS, label="product VAX")
_BANDS = Budget(
    bands=(Band(-2.0, 2.0, 12.0), Band(8.0, 15.0, 72.0), Band(15.0, 25.0, 24.0)),
    freeze_c=-0.5,
    freeze_allowed=0,
)


def _readings(count: int) -> tuple[np.ndarray, np.ndarray]:
    """1-minute readings around 5 °C with an excursion in every band each day."""
    rng = np.random.default_rng(7)
    times = np.arange(count, dtype=np.int64) * _MIN_MS
    minute = np.arange(count) % 1440
    temps = 5.0 + rng.normal(0.0, 0.3, count)
    temps[(minute >= 300) & (minute < 360)] = 11.0
    temps[(minute >= 600) & (minute < 620)] = 18.0
    temps[(minute >= 900) & (minute < 930)] = -1.0
    return times, temps


def _rate(times: np.ndarray, temps: np.ndarray, chunk: int, budget: Budget | None) -> float:
    acc = SensorAccumulator(
        start_ms=0,
        end_ms=int(times[-1]) + _MIN_MS,
        interval_ms=_MIN_MS,
        limits=_LIMITS,
        delta_h_kj_per_mol=83.144,
        validity=ReadingValidity.from_settings(Settings()),
        budget=budget,
    )
    started = time.perf_counter()
    for i in range(0, len(times), chunk):
        acc.add(times[i : i + chunk], temps[i : i + chunk])
    acc.finish()
    return len(times) / (time.perf_counter() - started)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=5_000_000)
    parser.add_argument("--chunk", type=int, default=10_000, help="readings per chunk, as streamed")
    args = parser.parse_args()
    if hasattr(os, "sched_setaffinity"):
        os.sched_setaffinity(0, {min(os.sched_getaffinity(0))})
        print(f"pinned to CPU {min(os.sched_getaffinity(0))}")
    times, temps = _readings(args.readings)
    plain = _rate(times, temps, args.chunk, None)
    banded = _rate(times, temps, args.chunk, _BANDS)
    print(
        f"record judgement, {args.readings:,} readings in chunks of {args.chunk:,}: "
        f"{plain:,.0f} readings/s without a budget, {banded:,.0f} with 3 bands and freeze "
        f"events ({banded / plain:.0%})"
    )


if __name__ == "__main__":
    main()
