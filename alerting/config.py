"""The detector's tunables in the units it computes in (ms, °C), converted once from
`Settings`. The defaults and what each one means live there (coldchain/config.py, the
`detect_*` fields, listed in alerting/README.md), and only there: a tunable is changed in
one place and every service, test and benchmark sees the same value."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Final

from coldchain.config import Settings
from coldchain.judgement.excursion import ExcursionRule
from coldchain.judgement.limits import MINUTE_MS, Limits, alert_range
from coldchain.judgement.validity import ReadingValidity

__all__ = ["DetectorConfig"]

_SECOND_MS: Final = 1000


@dataclass(frozen=True, slots=True)
class DetectorConfig:
    """Tunables shared by every sensor, in ms and °C; each is the `Settings` field
    `detect_<name>` (minutes and seconds turned into ms, °C/min into °C/ms); `excursion` and
    `validity` are the domain's one excursion and reading-validity rules (coldchain.judgement),
    which the batch record applies too.

    Usage:
        DetectorConfig.from_settings(Settings())
    """

    reorder_window_ms: int
    backfill_gap_ms: int
    backfill_quiet_ms: int
    default_alarm_delay_ms: int
    warning_margin_c: float
    warning_delay_ms: int
    excursion: ExcursionRule
    missing_after_ms: int
    stuck_after_ms: int
    stuck_min_readings: int
    validity: ReadingValidity
    rate_c_per_ms: float
    rate_window_ms: int
    rate_sustain_ms: int
    forecast_window_ms: int
    forecast_horizon_ms: int
    forecast_min_r2: float
    low_battery_pct: float

    @classmethod
    def from_settings(cls, s: Settings) -> DetectorConfig:
        def seconds(value: float) -> int:
            return round(value * _SECOND_MS)

        def minutes(value: float) -> int:
            return round(value * MINUTE_MS)

        return cls(
            reorder_window_ms=seconds(s.detect_reorder_window_s),
            backfill_gap_ms=seconds(s.detect_backfill_gap_s),
            backfill_quiet_ms=seconds(s.detect_backfill_quiet_s),
            default_alarm_delay_ms=minutes(s.detect_default_alarm_delay_min),
            warning_margin_c=s.detect_warning_margin_c,
            warning_delay_ms=minutes(s.detect_warning_delay_min),
            excursion=ExcursionRule.from_settings(s),
            missing_after_ms=minutes(s.detect_missing_after_min),
            stuck_after_ms=minutes(s.detect_stuck_after_min),
            stuck_min_readings=s.detect_stuck_min_readings,
            validity=ReadingValidity.from_settings(s),
            rate_c_per_ms=s.detect_rate_c_per_min / MINUTE_MS,
            rate_window_ms=minutes(s.detect_rate_window_min),
            rate_sustain_ms=minutes(s.detect_rate_sustain_min),
            forecast_window_ms=minutes(s.detect_forecast_window_min),
            forecast_horizon_ms=minutes(s.detect_forecast_horizon_min),
            forecast_min_r2=s.detect_forecast_min_r2,
            low_battery_pct=s.detect_low_battery_pct,
        )

    def guard_c(self, limits: Limits) -> float:
        """How far inside the range a value starts being watched closely (forecast, warning):
        a quarter of the range, at least the warning margin."""
        if not math.isfinite(limits.span_c):
            return 0.0
        return max(self.warning_margin_c, limits.span_c / 4)

    def warning_limits(self, limits: Limits) -> Limits:
        """The alert limits of a condition, inside its range by the warning band
        (`warning_band_c`, as the live view and the dashboards draw it) or where its alarm
        profile sets them (`alert_range`), with the warning delay: beyond them a warning,
        before the alarm."""
        low, high = alert_range(limits, self.warning_margin_c)
        return Limits(low, high, self.warning_delay_ms, limits.label)
