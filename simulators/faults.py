"""Fault windows: scheduled ones from the fleet file, random ones drawn from the seed.

A window says what breaks, where, from when to when; the physics (`units.py`,
`loggers.py`) asks which windows cover each step. Times are epoch ms.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from typing import Literal

import numpy as np

from coldchain.errors import ConfigError
from simulators.spec import FaultKind, FaultSpec, RandomFaults

__all__ = ["FaultWindow", "active_mask", "draw_random_faults", "resolve_fault"]

_SENSOR_FAULTS = frozenset({FaultKind.PROBE_DISCONNECTED, FaultKind.STUCK_SENSOR})


@dataclass(frozen=True, slots=True)
class FaultWindow:
    """One fault on one device (a gateway for `gateway_offline`).

    Attributes:
        sensors: the sensors it touches; every sensor of the device unless the spec named one.
        end_ms: exclusive; the run's end when the spec gave no duration.
        origin: "scheduled" from the fleet file or "random" from the seed.
    """

    kind: FaultKind
    site: str
    source: Literal["unit", "logger", "gateway"]
    device: str
    sensors: tuple[str, ...]
    start_ms: int
    end_ms: int
    origin: Literal["scheduled", "random"] = "scheduled"
    skew_s: float = 0.0
    level_pct: float = 100.0
    open_fraction: float = 1.0
    error_value_c: float = -127.0

    def covers(self, ts_ms: int) -> bool:
        return self.start_ms <= ts_ms < self.end_ms


def resolve_fault(
    spec: FaultSpec,
    where: str,
    start_ms: int,
    end_ms: int,
    site: str,
    source: Literal["unit", "logger", "gateway"],
    device: str,
    sensors: tuple[str, ...],
) -> FaultWindow:
    """Concrete times and targets of one scheduled fault; `where` names it in errors."""
    at = spec.at
    begin = int(at[1:]) if isinstance(at, str) else start_ms + round(at * 1000)
    finish = end_ms if spec.duration is None else begin + round(spec.duration * 1000)
    if spec.sensor is not None:
        if spec.kind not in _SENSOR_FAULTS:
            raise ConfigError(
                f"{where}.sensor: only probe faults name a sensor, not {spec.kind.value}"
            )
        if spec.sensor not in sensors:
            raise ConfigError(
                f"{where}.sensor: unknown sensor {spec.sensor!r} of {device} (have {list(sensors)})"
            )
        sensors = (spec.sensor,)
    if finish <= begin:
        raise ConfigError(f"{where}.duration: must be longer than zero")
    return FaultWindow(
        spec.kind,
        site,
        source,
        device,
        sensors,
        begin,
        finish,
        skew_s=spec.skew_s,
        level_pct=spec.level_pct,
        open_fraction=spec.open_fraction,
        error_value_c=spec.error_value_c,
    )


def draw_random_faults(
    rng: np.random.Generator,
    spec: RandomFaults,
    units: Sequence[tuple[str, str, tuple[str, ...]]],
    start_ms: int,
    end_ms: int,
) -> list[FaultWindow]:
    """A Poisson process per unit, given as (site, device, sensors); same seed, same fleet,
    same span: same faults."""
    if spec.per_unit_per_day <= 0 or not spec.kinds:
        return []
    days = (end_ms - start_ms) / 86_400_000
    drawn: list[FaultWindow] = []
    for site, device, every_sensor in units:
        count = int(rng.poisson(spec.per_unit_per_day * days))
        for _ in range(count):
            kind = spec.kinds[int(rng.integers(len(spec.kinds)))]
            begin = start_ms + int(rng.integers(0, max(end_ms - start_ms, 1)))
            length = float(rng.uniform(spec.min_duration, spec.max_duration))
            sensors = (
                (every_sensor[int(rng.integers(len(every_sensor)))],)
                if kind in _SENSOR_FAULTS
                else every_sensor
            )
            drawn.append(
                FaultWindow(
                    kind,
                    site,
                    "unit",
                    device,
                    sensors,
                    begin,
                    min(begin + round(length * 1000), end_ms),
                    "random",
                )
            )
    return sorted(drawn, key=lambda f: (f.start_ms, f.device, f.kind.value))


def active_mask(window: FaultWindow, tick_ms: np.ndarray) -> np.ndarray:
    """Which of the ticks (epoch ms) the window covers."""
    mask: np.ndarray = (tick_ms >= window.start_ms) & (tick_ms < window.end_ms)
    return mask
