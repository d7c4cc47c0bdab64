"""Our figures over the real logs agree with what the devices printed.

- Fridge-tag 2 L: per local day, our minutes above 8 °C / below 2 °C vs the device's
  `t Acc`, within 10 minutes (two logging intervals) on all 38 days.
- Q-tag CLm doc LR (both runs): our MKT (ΔH 83.0 kJ/mol, as configured on the device) and
  mean satisfy device ≤ ours < device + 0.1 °C (the device truncates to 0.1 °C); min and
  max and their times are exactly the device's.

The same functions (coldchain/loggers/compare.py) make the QA export's figures. `pytest -s`
prints the measured differences.
"""

from __future__ import annotations

from zoneinfo import ZoneInfo

import numpy as np
import numpy.typing as npt
import pytest

from coldchain.loggers import LoggerFile
from coldchain.loggers.compare import daily_figures, run_figures
from coldchain.loggers.timebase import epoch_ms, local_instant
from coldchain.times import to_ms
from tests.support.real_loggers import real_file

#: Any zone does, used both ways; Zurich has no DST change inside either log.
ZONE = "Europe/Zurich"
TOLERANCE_MIN = 10.0


def _series(parsed: LoggerFile) -> tuple[npt.NDArray[np.int64], npt.NDArray[np.float64], float]:
    """Times (epoch ms), temperatures, logging interval in ms."""
    assert parsed.log_interval_min is not None
    temps = np.array([r.temp_c for r in parsed.readings], dtype=np.float64)
    return epoch_ms(parsed.readings, ZONE), temps, parsed.log_interval_min * 60_000.0


def test_fridgetag_2l_minutes_out_of_range_per_day_agree_with_t_acc() -> None:
    parsed = real_file("fridgetag2l")
    low, high = parsed.rule(0), parsed.rule(1)
    assert low is not None
    assert high is not None
    times, temps, interval_ms = _series(parsed)
    ours = {
        d.day: d
        for d in daily_figures(
            times,
            temps,
            interval_ms=interval_ms,
            timezone=ZONE,
            low_c=low.limit_c,
            high_c=high.limit_c,
        )
    }
    worst = {"above": 0.0, "below": 0.0}
    for day in parsed.daily:
        cold, hot = day.alarm(0), day.alarm(1)
        assert cold is not None
        assert hot is not None
        figures = ours[day.day]
        for side, device, mine in (
            ("above", hot.minutes, figures.above_min),
            ("below", cold.minutes, figures.below_min),
        ):
            assert abs(mine - device) <= TOLERANCE_MIN, (day.day, side, device, mine)
            worst[side] = max(worst[side], abs(mine - device))
    assert len(ours) == len(parsed.daily) == 38
    print(
        f"Fridge-tag 2 L, 38 days: max |ours - t Acc| above {worst['above']:.0f} min, "
        f"below {worst['below']:.0f} min"
    )


@pytest.mark.parametrize("name", ["qtag_run2", "qtag_run3"])
def test_qtag_run_statistics_agree_with_res(name: str) -> None:
    parsed = real_file(name)
    device = parsed.run
    assert device is not None
    assert device.mkt_delta_h_kj_per_mol == 83.0
    times, temps, interval_ms = _series(parsed)
    ours = run_figures(
        times,
        temps,
        interval_ms=interval_ms,
        delta_h_kj_per_mol=device.mkt_delta_h_kj_per_mol,
    )
    assert ours is not None
    assert device.mkt_c <= ours.mkt_c < device.mkt_c + 0.1
    assert device.mean_c <= ours.mean_c < device.mean_c + 0.1
    assert (ours.min_c, ours.max_c) == (device.min_c, device.max_c)
    zone = ZoneInfo(ZONE)
    assert ours.min_at_ms == to_ms(local_instant(device.min_at, zone))
    assert ours.max_at_ms == to_ms(local_instant(device.max_at, zone))
    print(
        f"{name}: MKT {ours.mkt_c:.3f} vs {device.mkt_c}, mean {ours.mean_c:.3f} vs "
        f"{device.mean_c}, min {ours.min_c} / max {ours.max_c} at the device's times"
    )
