"""Per-step inputs of the cabinets for one chunk: ambient, doors, power, compressor, defrost.

Door openings are a Poisson process per unit with exponential durations; each opening
adds the share of a step it covers, so a 40 s opening in a 30 s step model still lets in
40 s worth of warm air.
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from simulators.faults import FaultWindow, active_mask
from simulators.plan import UnitPlan
from simulators.spec import FaultKind
from simulators.thermal import CabinetInputs

__all__ = ["ambient_c", "build_inputs", "defrost_windows"]

_DAY_MS = 86_400_000
_MAX_OPEN_S = 600.0


def ambient_c(
    mean_c: NDArray[np.float64], swing_c: NDArray[np.float64], tick_ms: NDArray[np.int64]
) -> NDArray[np.float64]:
    """A daily sine (warmest at 15:00 UTC), shape (ticks, units)."""
    hour = (tick_ms % _DAY_MS) / 3_600_000.0
    phase = np.sin(2 * np.pi * (hour - 9.0) / 24.0)
    result: NDArray[np.float64] = mean_c[None, :] + swing_c[None, :] * phase[:, None]
    return result


def defrost_windows(
    unit: UnitPlan, run_start_ms: int, begin_ms: int, end_ms: int
) -> list[tuple[int, int]]:
    """Defrost cycles of one unit that overlap [begin_ms, end_ms)."""
    if unit.defrost_every_s is None:
        return []
    every = round(unit.defrost_every_s * 1000)
    first = run_start_ms + round(unit.defrost_first_s * 1000)
    length = round(unit.defrost_duration_s * 1000)
    k = max(0, (begin_ms - first - length) // every)
    windows = []
    while (start := first + k * every) < end_ms:
        if start + length > begin_ms:
            windows.append((start, start + length))
        k += 1
    return windows


def _door_openings(
    rng: np.random.Generator,
    units: Sequence[UnitPlan],
    chunk_start_ms: int,
    steps: int,
    step_s: int,
) -> NDArray[np.float64]:
    door = np.zeros((steps, len(units)))
    span_s = steps * step_s
    rates = np.array([u.openings_per_day for u in units]) * span_s / 86_400
    counts = rng.poisson(rates)
    means = np.array([u.mean_open_s for u in units])
    for u in np.flatnonzero(counts):
        starts = rng.uniform(0.0, span_s, counts[u])
        # People close doors: exponential lengths, cut at four times the mean.
        lengths = np.minimum(rng.exponential(means[u], counts[u]), min(4.0 * means[u], _MAX_OPEN_S))
        for begin, length in zip(starts.tolist(), lengths.tolist(), strict=True):
            _spread(door[:, u], begin, begin + length, step_s)
    np.minimum(door, 1.0, out=door)
    return door


def _spread(column: NDArray[np.float64], begin_s: float, end_s: float, step_s: int) -> None:
    """Add to each step the share of it that lies in [begin_s, end_s)."""
    first, last = int(begin_s // step_s), int(min(end_s, len(column) * step_s - 1e-9) // step_s)
    for i in range(first, last + 1):
        lo, hi = max(begin_s, i * step_s), min(end_s, (i + 1) * step_s)
        if hi > lo:
            column[i] += (hi - lo) / step_s


def build_inputs(
    rng: np.random.Generator,
    units: Sequence[UnitPlan],
    faults: Sequence[FaultWindow],
    unit_index: dict[str, int],
    run_start_ms: int,
    chunk_start_ms: int,
    tick_ms: NDArray[np.int64],
    step_s: int,
    ambient_mean: NDArray[np.float64],
    ambient_swing: NDArray[np.float64],
) -> CabinetInputs:
    """Inputs for the steps ending at `tick_ms`; a step is in a window when its start is."""
    steps = len(tick_ms)
    step_start = tick_ms - step_s * 1000
    door = _door_openings(rng, units, chunk_start_ms, steps, step_s)
    powered = np.ones((steps, len(units)), dtype=bool)
    compressor_ok = np.ones((steps, len(units)), dtype=bool)
    defrost = np.zeros((steps, len(units)), dtype=bool)
    for fault in faults:
        if fault.end_ms <= int(step_start[0]) or fault.start_ms > int(step_start[-1]):
            continue
        u = unit_index.get(f"{fault.site}/{fault.device}")
        if u is None or fault.source != "unit":
            continue
        mask = active_mask(fault, step_start)
        if not mask.any():
            continue
        if fault.kind is FaultKind.COMPRESSOR_FAILURE:
            compressor_ok[mask, u] = False
        elif fault.kind is FaultKind.POWER_OUTAGE:
            powered[mask, u] = False
        elif fault.kind is FaultKind.DOOR_LEFT_OPEN:
            door[mask, u] = np.maximum(door[mask, u], fault.open_fraction)
    end_ms = int(tick_ms[-1])
    for u, unit in enumerate(units):
        for start, stop in defrost_windows(unit, run_start_ms, chunk_start_ms, end_ms):
            defrost[(step_start >= start) & (step_start < stop), u] = True
    return CabinetInputs(
        ambient_c(ambient_mean, ambient_swing, tick_ms), door, powered, compressor_ok, defrost
    )
