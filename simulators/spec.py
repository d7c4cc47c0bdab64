"""Typed `simulation:` keys of the fleet file (top level, per unit, per shipment).

The fleet model keeps these as free dicts (the catalog ignores them); here they become
frozen pydantic models that refuse unknown keys, so a typo in a fault never passes
silently. Defaults that depend on the kind of unit live in `kinds.py`.
"""

from __future__ import annotations

import enum
from typing import Annotated, Literal, Self

from pydantic import (
    AwareDatetime,
    BaseModel,
    BeforeValidator,
    ConfigDict,
    Field,
    model_validator,
)

from simulators.durations import parse_duration_s, parse_rfc3339_ms

__all__ = [
    "DefrostSpec",
    "DoorSpec",
    "FaultKind",
    "FaultSpec",
    "FleetSimulation",
    "LegSpec",
    "ProbeSpec",
    "RandomFaults",
    "Seconds",
    "ShipmentSimulation",
    "ShipperSpec",
    "SiteSimulation",
    "ThermalSpec",
    "UnitSimulation",
]

Seconds = Annotated[float, BeforeValidator(parse_duration_s)]


class _Spec(BaseModel):
    model_config = ConfigDict(extra="forbid", frozen=True)


class FaultKind(enum.StrEnum):
    """What can go wrong; each kind is written to the ground truth under its own name."""

    COMPRESSOR_FAILURE = "compressor_failure"
    POWER_OUTAGE = "power_outage"
    DOOR_LEFT_OPEN = "door_left_open"
    PROBE_DISCONNECTED = "probe_disconnected"
    STUCK_SENSOR = "stuck_sensor"
    CLOCK_SKEW = "clock_skew"
    LOW_BATTERY = "low_battery"
    GATEWAY_OFFLINE = "gateway_offline"
    CONNECTIVITY_GAP = "connectivity_gap"


UNIT_FAULTS = frozenset(FaultKind) - {FaultKind.GATEWAY_OFFLINE, FaultKind.CONNECTIVITY_GAP}
LOGGER_FAULTS = frozenset(
    {
        FaultKind.PROBE_DISCONNECTED,
        FaultKind.STUCK_SENSOR,
        FaultKind.CLOCK_SKEW,
        FaultKind.LOW_BATTERY,
        FaultKind.CONNECTIVITY_GAP,
    }
)
SITE_FAULTS = frozenset({FaultKind.GATEWAY_OFFLINE})


def _moment(value: object) -> object:
    """An offset from the simulation's start ("5m") stays a number; RFC 3339 becomes
    a string marked absolute, resolved against the start by the plan."""
    if isinstance(value, str) and "T" in value:
        return f"@{parse_rfc3339_ms(value)}"
    return parse_duration_s(value)


class FaultSpec(_Spec):
    """One scheduled fault.

    Usage:
        {kind: compressor_failure, at: 5m, duration: 6h}
        {kind: probe_disconnected, at: "2026-11-22T10:00:00Z", duration: 20m, sensor: p2}
    """

    kind: FaultKind
    at: Annotated[float | str, BeforeValidator(_moment)] = Field(
        description="offset from the start ('5m') or an RFC 3339 time"
    )
    duration: Seconds | None = Field(default=None, description="None: until the run ends")
    sensor: str | None = Field(default=None, description="probe faults; None: every sensor")
    logger: str | None = Field(default=None, description="shipment faults; None: every logger")
    site: str | None = Field(default=None, description="gateway_offline at the top level")
    skew_s: float = Field(default=600.0, description="clock_skew: device clock ahead by this")
    level_pct: float = Field(default=8.0, ge=0, le=100, description="low_battery: level")
    open_fraction: float = Field(default=1.0, gt=0, le=1, description="door_left_open: ajar")
    error_value_c: float = Field(
        default=-127.0,
        ge=-273.15,
        le=1000.0,
        description="probe_disconnected: the sensor's error code (DS18B20 style)",
    )


class RandomFaults(_Spec):
    """Faults drawn from the seed: a Poisson process per unit (and per site for gateways)."""

    per_unit_per_day: float = Field(default=0.0, ge=0)
    kinds: list[FaultKind] = Field(
        default_factory=lambda: [
            FaultKind.COMPRESSOR_FAILURE,
            FaultKind.POWER_OUTAGE,
            FaultKind.DOOR_LEFT_OPEN,
            FaultKind.PROBE_DISCONNECTED,
            FaultKind.STUCK_SENSOR,
        ]
    )
    min_duration: Seconds = 20 * 60.0
    max_duration: Seconds = 6 * 3600.0

    @model_validator(mode="after")
    def _ordered(self) -> Self:
        if self.max_duration < self.min_duration:
            raise ValueError("max_duration: must not be below min_duration")
        return self


class ThermalSpec(_Spec):
    """First-order cabinet: C dT/dt = (UA + door*UA_door)(T_amb - T) - cooling + heating."""

    thermal_mass_kj_per_k: float | None = Field(default=None, gt=0)
    ua_w_per_k: float | None = Field(default=None, gt=0)
    door_ua_w_per_k: float | None = Field(default=None, ge=0)
    cooling_w: float | None = Field(default=None, ge=0)
    heating_w: float | None = Field(default=None, ge=0)
    band_c: float | None = Field(default=None, gt=0, description="hysteresis half-width")


class DoorSpec(_Spec):
    openings_per_day: float = Field(ge=0)
    mean_open_s: Seconds = 40.0


class DefrostSpec(_Spec):
    enabled: bool = True
    every: Seconds = 8 * 3600.0
    duration: Seconds = 15 * 60.0
    heater_w: float = Field(default=100.0, ge=0)
    first_at: Seconds = 2 * 3600.0


class ProbeSpec(_Spec):
    offset_c: float = 0.0
    noise_c: float = Field(default=0.05, ge=0)
    lag_s: Seconds | None = Field(default=None, description="None: air probe first, glycol rest")
    resolution_c: float = Field(default=0.01, gt=0)
    draught: float | None = Field(
        default=None,
        ge=0,
        le=1,
        description="share of the door's inflow (ambient - cabinet) the probe sees while the "
        "door is open; None: 0.25 for the air probe, 0 for buffered ones",
    )


class UnitSimulation(_Spec):
    ambient_c: float | None = None
    ambient_swing_c: float | None = Field(default=None, ge=0)
    initial_c: float | None = None
    range_c: tuple[float, float] | None = None
    alarm_delay_min: float = Field(default=30.0, ge=0)
    thermal: ThermalSpec = ThermalSpec()
    door: DoorSpec | None = None
    defrost: DefrostSpec | None = None
    probes: dict[str, ProbeSpec] = Field(default_factory=dict)
    faults: list[FaultSpec] = Field(default_factory=list)


class LegSpec(_Spec):
    """One stretch of a lane under one ambient, e.g. a hot tarmac stop."""

    name: str
    duration: Seconds
    ambient_c: float
    connected: bool = True


class ShipperSpec(_Spec):
    """Passive (insulation + phase-change material) or active (powered, thermostatic)."""

    kind: Literal["passive", "active"] = "passive"
    ua_w_per_k: float = Field(default=0.6, gt=0)
    payload_kj_per_k: float = Field(default=15.0, gt=0)
    pcm_c: float = 5.0
    pcm_latent_kj: float = Field(default=1500.0, ge=0)
    pcm_initial_frozen: float = Field(default=0.7, ge=0, le=1)
    pcm_coupling: float = Field(
        default=0.03, ge=0, le=1, description="share of (ambient - pcm) reaching the product"
    )
    setpoint_c: float = 5.0
    band_c: float = Field(default=1.0, gt=0)
    cooling_w: float = Field(default=60.0, ge=0)
    heating_w: float = Field(default=40.0, ge=0)
    autonomy: Seconds = 100 * 3600.0


def _default_lane() -> list[LegSpec]:
    return [
        LegSpec(name="warehouse", duration=2 * 3600, ambient_c=20.0),
        LegSpec(name="truck", duration=4 * 3600, ambient_c=24.0),
        LegSpec(name="tarmac", duration=1.5 * 3600, ambient_c=38.0),
        LegSpec(name="flight", duration=9 * 3600, ambient_c=12.0, connected=False),
        LegSpec(name="customs", duration=6 * 3600, ambient_c=26.0),
        LegSpec(name="delivery", duration=3 * 3600, ambient_c=22.0),
    ]


class ShipmentSimulation(_Spec):
    enabled: bool = Field(
        default=True,
        description="false: not simulated (a shipment whose logger file is imported instead)",
    )
    depart: Seconds = Field(default=0.0, description="offset of departure from the start")
    lane: list[LegSpec] = Field(default_factory=_default_lane, min_length=1)
    shipper: ShipperSpec = ShipperSpec()
    range_c: tuple[float, float] = (2.0, 8.0)
    alarm_delay_min: float = Field(default=30.0, ge=0)
    upload_interval: Seconds | None = Field(default=None, description="None: each log")
    burst_size: int = Field(default=24, ge=1, description="readings per backfill message")
    duplicate_probability: float = Field(default=0.2, ge=0, le=1)
    gaps_per_day: float = Field(default=0.0, ge=0, description="random connectivity gaps")
    gap_duration: Seconds = 3 * 3600.0
    probes: dict[str, ProbeSpec] = Field(default_factory=dict)
    faults: list[FaultSpec] = Field(default_factory=list)


class SiteSimulation(_Spec):
    gateway: str | None = None
    ambient_c: float | None = None
    ambient_swing_c: float | None = Field(default=None, ge=0)


class FleetSimulation(_Spec):
    seed: int | None = None
    story_start: AwareDatetime | None = Field(
        default=None,
        description="the instant the placements from it onwards were written against; "
        "`coldchain up` moves them so that it falls on the simulated history's start",
    )
    step_s: int = Field(default=30, gt=0, le=600, description="physics step")
    ambient_c: float = 22.0
    ambient_swing_c: float = Field(default=2.0, ge=0)
    status_interval: Seconds = 900.0
    sites: dict[str, SiteSimulation] = Field(default_factory=dict)
    faults: list[FaultSpec] = Field(default_factory=list)
    random_faults: RandomFaults = RandomFaults()
