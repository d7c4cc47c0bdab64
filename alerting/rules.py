"""The detector's rules as plain numbers: the limits that apply to one sensor at one time,
and the tunables every sensor shares (taken from `Settings` once, in milliseconds)."""

from __future__ import annotations

import hashlib
import math
from dataclasses import dataclass
from typing import Final

from coldchain.config import Settings
from coldchain.models import SensorKey

__all__ = ["KIND_DEFAULT_RANGES", "DetectorConfig", "Limits", "alert_id_for"]

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
    """What a sensor must hold at a moment: the action range [low_c, high_c] and the alarm
    delay; `label` says where they came from (products, or a unit kind's default)."""

    low_c: float
    high_c: float
    alarm_delay_ms: int
    label: str

    @property
    def span_c(self) -> float:
        return self.high_c - self.low_c


NO_LIMITS: Final = Limits(-math.inf, math.inf, 0, "none")


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Tunables shared by every sensor, in ms and °C.

    Usage:
        DetectorConfig.from_settings(Settings())
    """

    reorder_window_ms: int = 300_000
    backfill_gap_ms: int = 900_000
    backfill_quiet_ms: int = 2_000
    default_alarm_delay_ms: int = 1_800_000
    warning_margin_c: float = 0.5
    warning_delay_ms: int = 600_000
    hysteresis_c: float = 0.3
    clear_after_ms: int = 300_000
    missing_after_ms: int = 1_200_000
    stuck_after_ms: int = 3_600_000
    stuck_min_readings: int = 10
    error_values_c: tuple[float, ...] = (-127.0, 85.0)
    sensor_min_c: float = -100.0
    sensor_max_c: float = 70.0
    rate_c_per_ms: float = 0.5 / 60_000
    rate_window_ms: int = 600_000
    rate_sustain_ms: int = 300_000
    forecast_window_ms: int = 1_200_000
    forecast_horizon_ms: int = 2_700_000
    forecast_min_r2: float = 0.9
    low_battery_pct: float = 15.0

    @classmethod
    def from_settings(cls, s: Settings) -> DetectorConfig:
        minute = 60_000
        return cls(
            reorder_window_ms=round(s.detect_reorder_window_s * 1000),
            backfill_gap_ms=round(s.detect_backfill_gap_s * 1000),
            backfill_quiet_ms=round(s.detect_backfill_quiet_s * 1000),
            default_alarm_delay_ms=round(s.detect_default_alarm_delay_min * minute),
            warning_margin_c=s.detect_warning_margin_c,
            warning_delay_ms=round(s.detect_warning_delay_min * minute),
            hysteresis_c=s.detect_hysteresis_c,
            clear_after_ms=round(s.detect_clear_after_min * minute),
            missing_after_ms=round(s.detect_missing_after_min * minute),
            stuck_after_ms=round(s.detect_stuck_after_min * minute),
            stuck_min_readings=s.detect_stuck_min_readings,
            error_values_c=tuple(s.detect_error_values_c),
            sensor_min_c=s.detect_sensor_min_c,
            sensor_max_c=s.detect_sensor_max_c,
            rate_c_per_ms=s.detect_rate_c_per_min / minute,
            rate_window_ms=round(s.detect_rate_window_min * minute),
            rate_sustain_ms=round(s.detect_rate_sustain_min * minute),
            forecast_window_ms=round(s.detect_forecast_window_min * minute),
            forecast_horizon_ms=round(s.detect_forecast_horizon_min * minute),
            forecast_min_r2=s.detect_forecast_min_r2,
            low_battery_pct=s.detect_low_battery_pct,
        )

    def guard_c(self, limits: Limits) -> float:
        """How far inside the range a value starts being watched closely (forecast, warning):
        a quarter of the range, at least the warning margin."""
        if not math.isfinite(limits.span_c):
            return 0.0
        return max(self.warning_margin_c, limits.span_c / 4)


def alert_id_for(
    key: SensorKey, kind: str, severity: str, start_ms: int, rule_id: int | None = None
) -> str:
    """A deterministic id: the same alert found twice (replay, restart) has the same id.
    An alarm of a catalog rule (`rule_id`) has its own: the product-limit alarm of the same
    excursion, or another rule's, is another alert."""
    parts = (*key, kind, severity, str(start_ms))
    text = "/".join(parts if rule_id is None else (*parts, f"rule{rule_id}"))
    return "al-" + hashlib.sha256(text.encode()).hexdigest()[:24]
