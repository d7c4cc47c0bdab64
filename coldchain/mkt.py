"""Mean Kinetic Temperature (USP <1079.2>), as a function and as a running accumulator.

USP <1079.2> "Mean Kinetic Temperature in the Evaluation of Temperature Excursions During
Storage and Transportation of Drug Products" defines

    T_K = (ΔH / R) / -ln( Σ w_i · exp(-ΔH / (R · T_i)) / Σ w_i )

with T_i in kelvin, ΔH the activation energy (83.144 kJ/mol unless the product's own
stability data give another) and R the gas constant as the chapter states it, 8.3144
J/(mol·K) (so that ΔH/R is 10,000 K by default, the chapter's own figure; CODATA's
8.314462618 would move an MKT by a few hundred-thousandths of a degree, and a record must
reproduce the chapter's numbers exactly). The chapter writes it for equally
spaced readings (all w_i = 1); a time-weighted mean of the Arrhenius factors is the same
quantity on an unequal time base, so here each value carries the duration it stands for.

Numerically, exp(-ΔH/(R·T)) is about 1e-16 at 5 °C and 1e-23 at -80 °C: representable in
float64, but sums of many such terms lose nothing only because every term is scaled by a
common reference factor exp(ΔH/(R·T_ref)) first (taken from the first value seen), which
cancels in the ratio.
"""

from __future__ import annotations

import math
from collections.abc import Iterable

import numpy as np
import numpy.typing as npt

__all__ = [
    "DEFAULT_DELTA_H_KJ_PER_MOL",
    "GAS_CONSTANT_J_PER_MOL_K",
    "KELVIN_OFFSET",
    "MktAccumulator",
    "mean_kinetic_temperature",
]

DEFAULT_DELTA_H_KJ_PER_MOL = 83.144
GAS_CONSTANT_J_PER_MOL_K = 8.3144  # as USP <1079.2> states it (ΔH/R = 10,000 K by default)
KELVIN_OFFSET = 273.15


def mean_kinetic_temperature(
    temperatures_c: Iterable[float] | npt.ArrayLike,
    weights: Iterable[float] | npt.ArrayLike | None = None,
    delta_h_kj_per_mol: float = DEFAULT_DELTA_H_KJ_PER_MOL,
) -> float:
    """The MKT of `temperatures_c` in °C (USP <1079.2>).

    Args:
        temperatures_c: the temperatures, °C.
        weights: the duration each value stands for (any unit, all the same); None means
            equally spaced readings, the chapter's own case.
        delta_h_kj_per_mol: activation energy ΔH; 83.144 kJ/mol is the chapter's default.

    Raises:
        ValueError: no values, a value that is not finite or below absolute zero, a
            negative or non-finite weight, weights that sum to zero, or a length mismatch.

    Usage:
        mean_kinetic_temperature([5.0, 25.0])                  # 19.70 °C
        mean_kinetic_temperature([5.0, 25.0], weights=[3, 1])  # 15.13 °C (25 °C a quarter)
    """
    temps = _as_array(temperatures_c)
    if temps.ndim != 1 or temps.size == 0:
        raise ValueError("temperatures_c: expected a non-empty sequence of numbers")
    if weights is None:
        w = np.ones_like(temps)
    else:
        w = _as_array(weights)
        if w.shape != temps.shape:
            raise ValueError(
                f"weights: expected {temps.size} values, one per temperature, got {w.size}"
            )
    accumulator = MktAccumulator(delta_h_kj_per_mol)
    accumulator.add(temps, w)
    return accumulator.value_c()


def _as_array(values: Iterable[float] | npt.ArrayLike) -> npt.NDArray[np.float64]:
    # Generators and other one-shot iterables must be materialised before numpy sees them.
    if isinstance(values, Iterable) and not isinstance(values, np.ndarray | list | tuple | str):
        return np.asarray(list(values), dtype=np.float64)
    return np.asarray(values, dtype=np.float64)


class MktAccumulator:
    """Running sums for MKT over a stream too long to hold: add chunks, read the value.

    Two accumulators with the same ΔH can be merged (with a scale on the other's weights),
    which is how a placement's probes and a chain's placements are combined.

    Usage:
        acc = MktAccumulator()
        acc.add(np.array([5.0, 6.0]), np.array([60.0, 60.0]))
        acc.value_c()
    """

    def __init__(self, delta_h_kj_per_mol: float = DEFAULT_DELTA_H_KJ_PER_MOL) -> None:
        if not math.isfinite(delta_h_kj_per_mol) or delta_h_kj_per_mol <= 0:
            raise ValueError(
                f"delta_h_kj_per_mol: expected a positive number, got {delta_h_kj_per_mol}"
            )
        self.delta_h_kj_per_mol = delta_h_kj_per_mol
        self._a = delta_h_kj_per_mol * 1000.0 / GAS_CONSTANT_J_PER_MOL_K  # ΔH/R, kelvin
        self._inv_ref: float | None = None  # 1/T_ref of the common scale factor
        self.weight = 0.0  # Σ w
        self._scaled = 0.0  # Σ w · exp(-a (1/T - 1/T_ref))

    def add(
        self, temperatures_c: npt.NDArray[np.float64], weights: npt.NDArray[np.float64]
    ) -> npt.NDArray[np.float64]:
        """Add values and the durations they stand for; zero weights are allowed (ignored).

        Returns each value's term of the sums (its weight times its scaled Arrhenius
        factor), for a caller that also sums them by time to read the MKT of a part (`part`).
        """
        if temperatures_c.size == 0:
            return np.empty(0)
        kelvin = temperatures_c + KELVIN_OFFSET
        if not np.all(np.isfinite(kelvin)) or np.any(kelvin <= 0):
            raise ValueError("temperatures_c: every value must be finite and above -273.15 °C")
        if not np.all(np.isfinite(weights)) or np.any(weights < 0):
            raise ValueError("weights: every weight must be finite and not negative")
        inverse = 1.0 / kelvin
        if self._inv_ref is None:
            self._inv_ref = float(inverse[0])
        terms: npt.NDArray[np.float64] = weights * np.exp(-self._a * (inverse - self._inv_ref))
        self._scaled += float(terms.sum())
        self.weight += float(weights.sum())
        return terms

    def part(self, weight: float, scaled: float) -> MktAccumulator:
        """The sums of a part of what was added: `weight` and `scaled` are sums of the weights
        and of the terms `add` returned for that part (e.g. the hours of a window)."""
        part = MktAccumulator(self.delta_h_kj_per_mol)
        part._inv_ref, part.weight, part._scaled = self._inv_ref, weight, scaled
        return part

    def merge(self, other: MktAccumulator, scale: float = 1.0) -> None:
        """Add `other`'s sums, its weights multiplied by `scale` (e.g. 1/number of probes)."""
        if other.delta_h_kj_per_mol != self.delta_h_kj_per_mol:
            raise ValueError("cannot merge MKT sums computed with different ΔH")
        if other._inv_ref is None or other.weight == 0:
            return
        if self._inv_ref is None:
            self._inv_ref = other._inv_ref
        rebase = math.exp(-self._a * (other._inv_ref - self._inv_ref))
        self._scaled += other._scaled * rebase * scale
        self.weight += other.weight * scale

    def value_c(self) -> float:
        """The MKT in °C; raises ValueError when nothing with a positive weight was added."""
        if self._inv_ref is None or self.weight <= 0 or self._scaled <= 0:
            raise ValueError("weights: the weights sum to zero, MKT is undefined")
        # ln(mean of scaled factors) = -a (1/T_mkt - 1/T_ref)  =>  1/T_mkt = 1/T_ref - ln(m)/a
        inverse = self._inv_ref - math.log(self._scaled / self.weight) / self._a
        return 1.0 / inverse - KELVIN_OFFSET

    def value_or_none(self) -> float | None:
        """The MKT in °C, or None when there is nothing to compute it from."""
        if self._inv_ref is None or self.weight <= 0:
            return None
        return self.value_c()
