"""Readings that are not temperatures (the domain's one reading-validity rule,
coldchain.judgement.validity): screened out of a probe's stream before any figure sees
them, and gathered into runs (consecutive invalid readings of one probe) for the record.

An invalid reading counts as missing: the figures, the gaps and the excursion rule see the
probe's valid readings only, so a power-on 85.0 °C leaves a gap where it leaves one and
never enters min, max, mean, MKT or the time out of range.
"""

from __future__ import annotations

from dataclasses import dataclass, field

import numpy as np
import numpy.typing as npt

from coldchain.judgement.validity import ReadingValidity

__all__ = ["InvalidRun", "InvalidScreen"]

_VALUES_SHOWN = 10  # distinct values a run lists; its count says how many readings


@dataclass(frozen=True, slots=True)
class InvalidRun:
    """Consecutive invalid readings of one probe, from `start_ms` to `end_ms` (the first and
    the last of them), their number, their distinct values (the first ten) and why."""

    start_ms: int
    end_ms: int
    count: int
    values: tuple[float, ...]
    reasons: tuple[str, ...]


@dataclass(slots=True)
class _Open:
    start_ms: int
    end_ms: int = 0
    count: int = 0
    values: list[float] = field(default_factory=list)


class InvalidScreen:
    """Usage:
    screen = InvalidScreen(validity)
    times, temps = screen.split(times, temps)   # the valid ones, chunk by chunk
    screen.finish()                             # the runs of invalid ones
    """

    def __init__(self, validity: ReadingValidity) -> None:
        self.validity = validity
        self.count = 0
        self._runs: list[InvalidRun] = []
        self._open: _Open | None = None

    def split(
        self, times: npt.NDArray[np.int64], temps: npt.NDArray[np.float64]
    ) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64]]:
        """The valid readings of a chunk; the invalid ones join the runs."""
        if times.size == 0:
            return times, temps
        valid = self.validity.valid(temps)
        if self._open is not None and valid[0]:
            self._close()
        if valid.all():
            return times, temps
        bad = np.flatnonzero(~valid)
        last = int(times.size) - 1
        for group in np.split(bad, np.flatnonzero(np.diff(bad) > 1) + 1):
            first, end = int(group[0]), int(group[-1])
            run = self._open = self._open or _Open(int(times[first]))
            run.end_ms = int(times[end])
            run.count += int(group.size)
            for value in temps[group].tolist():
                if value not in run.values and len(run.values) < _VALUES_SHOWN:
                    run.values.append(value)
            if end < last:  # a valid reading follows
                self._close()
        self.count += int(bad.size)
        return times[valid], temps[valid]

    def _close(self) -> None:
        run = self._open
        assert run is not None
        reasons = dict.fromkeys(r for v in run.values if (r := self.validity.reason(v)))
        self._runs.append(
            InvalidRun(run.start_ms, run.end_ms, run.count, tuple(run.values), tuple(reasons))
        )
        self._open = None

    def finish(self) -> list[InvalidRun]:
        if self._open is not None:
            self._close()
        return self._runs
