"""Which readings are temperatures at all: the one reading-validity rule (docs/design.md
§11). A probe that reports an error code (85.0 °C is a DS18B20 that lost power, −127 °C one
that is disconnected) or a value outside what the probe can measure did not measure the
product. The detector raises a sensor fault on it and judges nothing else by it; the batch
record shows it as invalid, counts it as missing and keeps it out of min, max, mean and MKT;
the live view does not show it as the unit's temperature."""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
import numpy.typing as npt

from coldchain.config import Settings

__all__ = ["ReadingValidity"]


@dataclass(frozen=True, slots=True)
class ReadingValidity:
    """Usage:
    validity = ReadingValidity.from_settings(settings)
    validity.reason(85.0)          # "error code 85 °C"
    validity.valid(np.array([...]))  # a mask, True where the reading is a temperature
    """

    error_values_c: tuple[float, ...]
    probe_min_c: float
    probe_max_c: float

    @classmethod
    def from_settings(cls, settings: Settings) -> ReadingValidity:
        return cls(
            tuple(settings.detect_error_values_c),
            settings.detect_sensor_min_c,
            settings.detect_sensor_max_c,
        )

    def reason(self, value_c: float) -> str | None:
        """Why `value_c` is not a temperature, or None when it is one."""
        if value_c in self.error_values_c:
            return f"error code {value_c:g} °C"
        if not self.probe_min_c <= value_c <= self.probe_max_c:
            return f"outside the probe's range {self.probe_min_c:g}…{self.probe_max_c:g} °C"
        return None

    def valid(self, values_c: npt.NDArray[np.float64]) -> npt.NDArray[np.bool_]:
        """The same rule over an array: True where the value is a temperature."""
        inside = (values_c >= self.probe_min_c) & (values_c <= self.probe_max_c)
        result: npt.NDArray[np.bool_] = inside & ~np.isin(values_c, self.error_values_c)
        return result
