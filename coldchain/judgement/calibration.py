"""The one calibration rule (docs/design.md §11), as the detector applies it live and the
batch record over a batch's timeline, so both judge the same corrected values.

- The certificate in force at a time is the one calibrated latest on or before it; a newer
  certificate supersedes, none is ever rewritten. Before a probe's first certificate, its
  bare due date (the fleet file's `calibration_due`) stands as one without a lab or a
  correction.
- A certificate's correction (`offset_c`) is added to every reading in force under it. Only
  to a temperature: an error code or a value outside the probe's range did not measure the
  product, and must stay recognisable as what the probe sent (`ReadingValidity`).
- A corrected value is rounded to 6 decimals (a micro-degree, far below any probe's
  resolution): 5.06 + 0.3 is 5.36 in the record, not the binary sum 5.359999999999999.
- A reading at or after the due date of the certificate in force is *past calibration*:
  marked in the record, still judged (the probe still measured; QA weighs the mark), never
  made invalid by it.
"""

from __future__ import annotations

import bisect
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Final

import numpy as np
import numpy.typing as npt

from coldchain.judgement.validity import ReadingValidity

__all__ = ["SINCE_EVER_MS", "Calibration", "Certificate", "add_correction"]

#: Where a bare due date (no certificate) is in force from: since ever.
SINCE_EVER_MS: Final = -(2**62)

#: The decimals a corrected value keeps (the module's docstring says why).
CORRECTED_DECIMALS: Final = 6


def add_correction(
    values_c: npt.NDArray[np.float64], offsets_c: npt.NDArray[np.float64]
) -> npt.NDArray[np.float64]:
    """`values_c` + `offsets_c`, rounded to `CORRECTED_DECIMALS`."""
    result: npt.NDArray[np.float64] = np.round(values_c + offsets_c, CORRECTED_DECIMALS)
    return result


@dataclass(frozen=True, slots=True)
class Certificate:
    """One calibration of a probe: in force from `calibrated_ms` until a later one
    supersedes it; due at `due_ms`. `certificate` and `lab` are None for a bare due date.

    Attributes:
        offset_c: the correction to add to readings, °C; None: the lab found none to apply.
    """

    certificate: str | None
    lab: str | None
    calibrated_ms: int
    due_ms: int
    offset_c: float | None = None

    @property
    def correction_c(self) -> float:
        return self.offset_c or 0.0

    def past_due(self, ts_ms: int) -> bool:
        """A reading at `ts_ms` under this certificate is past calibration."""
        return ts_ms >= self.due_ms


@dataclass(frozen=True, slots=True)
class Calibration:
    """A probe's certificates, oldest first.

    Usage:
        calibration = Calibration.of(certificates)
        calibration.at(ts_ms)                      # the certificate in force, or None
        calibration.corrected(times, temps, validity)
        calibration.past_due(times)                # a mask
    """

    certificates: tuple[Certificate, ...]

    @classmethod
    def of(cls, certificates: Sequence[Certificate]) -> Calibration:
        return cls(tuple(sorted(certificates, key=lambda c: c.calibrated_ms)))

    @property
    def corrects(self) -> bool:
        """Whether any certificate gives a correction (else readings pass unchanged)."""
        return any(c.correction_c != 0.0 for c in self.certificates)

    def at(self, ts_ms: int) -> Certificate | None:
        starts = [c.calibrated_ms for c in self.certificates]
        i = bisect.bisect_right(starts, ts_ms) - 1
        return self.certificates[i] if i >= 0 else None

    def between(self, start_ms: int, end_ms: int) -> tuple[Certificate, ...]:
        """The certificates in force at some time of [start_ms, end_ms)."""
        return tuple(
            c
            for i, c in enumerate(self.certificates)
            if c.calibrated_ms < end_ms
            and (
                i + 1 == len(self.certificates) or self.certificates[i + 1].calibrated_ms > start_ms
            )
        )

    def _index(self, times_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.intp]:
        starts = np.array([c.calibrated_ms for c in self.certificates], dtype=np.int64)
        found: npt.NDArray[np.intp] = np.searchsorted(starts, times_ms, side="right") - 1
        return found

    def offsets(self, times_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.float64]:
        """The correction in force at each time (0 where none is)."""
        table = np.array([0.0, *(c.correction_c for c in self.certificates)])
        result: npt.NDArray[np.float64] = table[self._index(times_ms) + 1]
        return result

    def corrected(
        self,
        times_ms: npt.NDArray[np.int64],
        temps_c: npt.NDArray[np.float64],
        validity: ReadingValidity,
    ) -> npt.NDArray[np.float64]:
        """The readings with the correction in force added, temperatures only."""
        if not self.corrects:
            return temps_c
        result: npt.NDArray[np.float64] = np.where(
            validity.valid(temps_c), add_correction(temps_c, self.offsets(times_ms)), temps_c
        )
        return result

    def due_ms(self, times_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.int64]:
        """The due date (epoch ms) of the certificate in force at each time (the largest
        int64 where none is)."""
        table = np.array(
            [np.iinfo(np.int64).max, *(c.due_ms for c in self.certificates)], dtype=np.int64
        )
        result: npt.NDArray[np.int64] = table[self._index(times_ms) + 1]
        return result

    def past_due(self, times_ms: npt.NDArray[np.int64]) -> npt.NDArray[np.bool_]:
        """True where a reading is past calibration (at or after its certificate's due)."""
        result: npt.NDArray[np.bool_] = times_ms >= self.due_ms(times_ms)
        return result
