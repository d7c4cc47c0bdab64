"""What a probe reports: true temperature plus its offset, noise and resolution, and the
lies of a broken probe (an error code when disconnected, one value forever when stuck)."""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from simulators.faults import FaultWindow, active_mask
from simulators.spec import FaultKind

__all__ = ["ProbeFaults", "measure"]


def measure(
    rng: np.random.Generator,
    true_c: NDArray[np.float64],
    offset_c: NDArray[np.float64],
    noise_c: NDArray[np.float64],
    resolution_c: NDArray[np.float64],
) -> NDArray[np.float64]:
    """Readings (ticks, probes) as the probes would report them when healthy."""
    noisy = true_c + offset_c + noise_c * rng.standard_normal(true_c.shape)
    result: NDArray[np.float64] = np.round(np.round(noisy / resolution_c) * resolution_c, 4)
    return result


class ProbeFaults:
    """Applies probe_disconnected and stuck_sensor windows to measured values.

    A stuck probe repeats the first value it reported inside its window, across chunks.
    """

    def __init__(self, faults: Sequence[FaultWindow]) -> None:
        kinds = (FaultKind.PROBE_DISCONNECTED, FaultKind.STUCK_SENSOR)
        self._faults = [f for f in faults if f.kind in kinds]
        self._held: dict[tuple[int, str], float] = {}

    def apply(
        self,
        measured: NDArray[np.float64],
        sampled: NDArray[np.bool_],
        tick_ms: NDArray[np.int64],
        column_of: dict[tuple[str, str, str], int],
    ) -> None:
        """Rewrite `measured` (ticks, probes) in place; `column_of[(site, device, sensor)]`."""
        first, last = int(tick_ms[0]), int(tick_ms[-1])
        for n, fault in enumerate(self._faults):
            if fault.end_ms <= first or fault.start_ms > last:
                continue
            mask = active_mask(fault, tick_ms)
            for sensor in fault.sensors:
                col = column_of.get((fault.site, fault.device, sensor))
                if col is None:
                    continue
                if fault.kind is FaultKind.PROBE_DISCONNECTED:
                    measured[mask, col] = fault.error_value_c
                    continue
                rows = np.flatnonzero(mask & sampled[:, col])
                if not len(rows):
                    continue
                held = self._held.setdefault((n, sensor), float(measured[rows[0], col]))
                measured[rows, col] = held
