"""What a sensor must hold at a moment: the limits of a storage condition, and the ranges
an empty unit falls back to by kind."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

__all__ = ["KIND_DEFAULT_RANGES", "MINUTE_MS", "NO_LIMITS", "Limits"]

#: The detector counts time in ms; delays and rates are set and shown in minutes.
MINUTE_MS: Final = 60_000

#: Limits of an empty storage unit, by kind: what the unit is built to hold (USP <659>
#: "refrigerator" 2–8 °C, "freezer" −25…−10 °C; common ultra-low and CRT practice). Used only
#: when nothing is stored in the unit; a stored product's labelled condition always wins.
KIND_DEFAULT_RANGES: Final[dict[str, tuple[float, float]]] = {
    "refrigerator": (2.0, 8.0),
    "cold_room": (2.0, 8.0),
    "freezer": (-25.0, -15.0),
    "ultra_low": (-90.0, -60.0),
    "crt": (15.0, 25.0),
}


@dataclass(frozen=True, slots=True)
class Limits:
    """What a sensor must hold at a moment: the action range [low_c, high_c] and how long a
    value may be beyond it before the alert (the alarm delay; for the alert limits of
    `DetectorConfig.warning_limits`, the warning delay); `label` says where they came from
    (products, or a unit kind's default)."""

    low_c: float
    high_c: float
    alarm_delay_ms: int
    label: str

    @property
    def span_c(self) -> float:
        return self.high_c - self.low_c


#: A sensor that must hold nothing (a logger on a shelf, a sensor the catalog does not know).
NO_LIMITS: Final = Limits(-math.inf, math.inf, 0, "none")
