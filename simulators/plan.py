"""The resolved plan of a run: every unit, logger and fault with concrete numbers and times.

`build_plan` is the one place where the fleet file and its `simulation:` keys meet the
run's start, end and seed; every problem becomes a `ConfigError` naming the field, e.g.
`sites[0].units[1](FRZ-01).simulation.faults[0].sensor: unknown sensor 'p9'`.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, TypeVar

import numpy as np
from pydantic import BaseModel, ValidationError

from coldchain.errors import ConfigError
from coldchain.fleet import Fleet, Shipment, StorageUnit, UnitKind
from simulators.faults import FaultWindow, draw_random_faults, resolve_fault
from simulators.kinds import KIND_DEFAULTS
from simulators.spec import (
    LOGGER_FAULTS,
    SITE_FAULTS,
    UNIT_FAULTS,
    DefrostSpec,
    FleetSimulation,
    LegSpec,
    ProbeSpec,
    ShipmentSimulation,
    ShipperSpec,
    UnitSimulation,
)

__all__ = [
    "LoggerPlan",
    "ProbePlan",
    "ShipmentPlan",
    "SimPlan",
    "SitePlan",
    "UnitPlan",
    "build_plan",
    "fleet_simulation",
]

_AIR_LAG_S = 60.0
_GLYCOL_LAG_S = 900.0
_AIR_DRAUGHT = 0.25
_M = TypeVar("_M", bound=BaseModel)


@dataclass(frozen=True, slots=True)
class ProbePlan:
    sensor: str
    offset_c: float
    noise_c: float
    lag_s: float
    resolution_c: float
    draught: float


@dataclass(frozen=True, slots=True)
class SitePlan:
    site: str
    gateway: str
    ambient_c: float
    ambient_swing_c: float


@dataclass(frozen=True, slots=True)
class UnitPlan:
    """One storage unit with every default filled in (see `kinds.py`)."""

    site: str
    device: str
    kind: UnitKind
    setpoint_c: float
    log_interval_s: int
    probes: tuple[ProbePlan, ...]
    range_c: tuple[float, float]
    alarm_delay_s: float
    ambient_c: float
    ambient_swing_c: float
    initial_c: float
    mass_j_per_k: float
    ua_w_per_k: float
    door_ua_w_per_k: float
    cooling_w: float
    heating_w: float
    band_c: float
    openings_per_day: float
    mean_open_s: float
    defrost_every_s: float | None
    defrost_duration_s: float
    defrost_heater_w: float
    defrost_first_s: float


@dataclass(frozen=True, slots=True)
class LoggerPlan:
    device: str
    log_interval_s: int
    probes: tuple[ProbePlan, ...]


@dataclass(frozen=True, slots=True)
class ShipmentPlan:
    shipment: str
    site: str
    depart_ms: int
    lane: tuple[LegSpec, ...]
    shipper: ShipperSpec
    loggers: tuple[LoggerPlan, ...]
    range_c: tuple[float, float]
    alarm_delay_s: float
    upload_interval_s: float | None
    burst_size: int
    duplicate_probability: float
    gaps_per_day: float
    gap_duration_s: float


@dataclass(frozen=True, slots=True)
class SimPlan:
    start_ms: int
    end_ms: int
    seed: int
    step_s: int
    status_interval_s: float
    sites: tuple[SitePlan, ...]
    units: tuple[UnitPlan, ...]
    shipments: tuple[ShipmentPlan, ...]
    faults: tuple[FaultWindow, ...] = field(default=())


def _parse(model: type[_M], raw: dict[str, Any] | None, where: str) -> _M:
    try:
        return model.model_validate(raw or {})
    except ValidationError as exc:
        problems = []
        for error in exc.errors():
            loc = ".".join(str(p) for p in error["loc"])
            problems.append(f"{where}.{loc}: {error['msg']}" if loc else f"{where}: {error['msg']}")
        raise ConfigError("\n".join(problems)) from None


def _probes(sensors: list[str], specs: dict[str, ProbeSpec], where: str) -> tuple[ProbePlan, ...]:
    unknown = sorted(set(specs) - set(sensors))
    if unknown:
        raise ConfigError(f"{where}.probes: unknown sensor {unknown[0]!r} (have {sensors})")
    plans = []
    for index, sensor in enumerate(sensors):
        spec = specs.get(sensor, ProbeSpec())
        air = index == 0
        lag = spec.lag_s if spec.lag_s is not None else (_AIR_LAG_S if air else _GLYCOL_LAG_S)
        draught = spec.draught if spec.draught is not None else (_AIR_DRAUGHT if air else 0.0)
        plans.append(
            ProbePlan(
                sensor, spec.offset_c, spec.noise_c, max(lag, 1.0), spec.resolution_c, draught
            )
        )
    return tuple(plans)


def _unit_plan(
    site: SitePlan, unit: StorageUnit, sim: UnitSimulation, where: str, step_s: int
) -> UnitPlan:
    if unit.log_interval_s % step_s:
        raise ConfigError(
            f"{where}.log_interval_s: {unit.log_interval_s} is not a multiple "
            f"of simulation.step_s={step_s}"
        )
    base = KIND_DEFAULTS[unit.kind]
    t = sim.thermal
    low, high = sim.range_c or base.range_c
    if low >= high:
        raise ConfigError(f"{where}.simulation.range_c: {low} must be below {high}")
    defrost = sim.defrost
    has_defrost = defrost.enabled if defrost is not None else base.defrost
    d = defrost or DefrostSpec()
    return UnitPlan(
        site=site.site,
        device=unit.id,
        kind=unit.kind,
        setpoint_c=unit.setpoint_c,
        log_interval_s=unit.log_interval_s,
        probes=_probes([s.id for s in unit.sensors], sim.probes, f"{where}.simulation"),
        range_c=(low, high),
        alarm_delay_s=sim.alarm_delay_min * 60.0,
        ambient_c=sim.ambient_c if sim.ambient_c is not None else site.ambient_c,
        ambient_swing_c=(
            sim.ambient_swing_c if sim.ambient_swing_c is not None else site.ambient_swing_c
        ),
        initial_c=sim.initial_c if sim.initial_c is not None else unit.setpoint_c,
        mass_j_per_k=1000.0 * (t.thermal_mass_kj_per_k or base.thermal_mass_kj_per_k),
        ua_w_per_k=t.ua_w_per_k or base.ua_w_per_k,
        door_ua_w_per_k=(
            t.door_ua_w_per_k if t.door_ua_w_per_k is not None else base.door_ua_w_per_k
        ),
        cooling_w=t.cooling_w if t.cooling_w is not None else base.cooling_w,
        heating_w=t.heating_w if t.heating_w is not None else base.heating_w,
        band_c=t.band_c or base.band_c,
        openings_per_day=(sim.door.openings_per_day if sim.door else base.openings_per_day),
        mean_open_s=sim.door.mean_open_s if sim.door else base.mean_open_s,
        defrost_every_s=d.every if has_defrost else None,
        defrost_duration_s=d.duration,
        defrost_heater_w=d.heater_w,
        defrost_first_s=d.first_at,
    )


def _shipment_plan(
    shipment: Shipment, sim: ShipmentSimulation, where: str, start_ms: int
) -> ShipmentPlan:
    sensors = {s.id for lg in shipment.loggers for s in lg.sensors}
    unknown = sorted(set(sim.probes) - sensors)
    if unknown:
        raise ConfigError(f"{where}.simulation.probes: unknown sensor {unknown[0]!r}")
    loggers = tuple(
        LoggerPlan(
            lg.id,
            lg.log_interval_s,
            _probes(
                [s.id for s in lg.sensors],
                {k: v for k, v in sim.probes.items() if k in {s.id for s in lg.sensors}},
                f"{where}.simulation",
            ),
        )
        for lg in shipment.loggers
    )
    low, high = sim.range_c
    if low >= high:
        raise ConfigError(f"{where}.simulation.range_c: {low} must be below {high}")
    return ShipmentPlan(
        shipment=shipment.id,
        site=shipment.origin,
        depart_ms=start_ms + round(sim.depart * 1000),
        lane=tuple(sim.lane),
        shipper=sim.shipper,
        loggers=loggers,
        range_c=sim.range_c,
        alarm_delay_s=sim.alarm_delay_min * 60.0,
        upload_interval_s=sim.upload_interval,
        burst_size=sim.burst_size,
        duplicate_probability=sim.duplicate_probability,
        gaps_per_day=sim.gaps_per_day,
        gap_duration_s=sim.gap_duration,
    )


def fleet_simulation(raw: dict[str, Any] | None) -> FleetSimulation:
    """The fleet file's top-level `simulation:` keys, checked."""
    return _parse(FleetSimulation, raw, "simulation")


def build_plan(fleet: Fleet, start_ms: int, end_ms: int, seed: int | None = None) -> SimPlan:
    """Resolve the fleet for a run from `start_ms` to `end_ms`.

    Args:
        seed: overrides `simulation.seed`; the same seed and fleet give the same run.
    """
    top = fleet_simulation(fleet.simulation)
    run_seed = seed if seed is not None else (top.seed if top.seed is not None else 0)
    site_ids = {s.id for s in fleet.sites}
    for name in top.sites:
        if name not in site_ids:
            raise ConfigError(f"simulation.sites.{name}: unknown site {name!r}")
    sites: list[SitePlan] = []
    units: list[UnitPlan] = []
    faults: list[FaultWindow] = []
    for i, site in enumerate(fleet.sites):
        ss = top.sites.get(site.id)
        site_plan = SitePlan(
            site.id,
            (ss.gateway if ss and ss.gateway else f"{site.id}-gw"),
            ss.ambient_c if ss and ss.ambient_c is not None else top.ambient_c,
            (ss.ambient_swing_c if ss and ss.ambient_swing_c is not None else top.ambient_swing_c),
        )
        sites.append(site_plan)
        for j, unit in enumerate(site.units):
            where = f"sites[{i}].units[{j}]({unit.id})"
            sim = _parse(UnitSimulation, unit.simulation, f"{where}.simulation")
            plan = _unit_plan(site_plan, unit, sim, where, top.step_s)
            units.append(plan)
            sensors = tuple(p.sensor for p in plan.probes)
            for k, spec in enumerate(sim.faults):
                fw = f"{where}.simulation.faults[{k}]"
                if spec.kind not in UNIT_FAULTS:
                    raise ConfigError(
                        f"{fw}.kind: {spec.kind.value} is not a fault of a unit "
                        f"(one of {sorted(k.value for k in UNIT_FAULTS)})"
                    )
                faults.append(
                    resolve_fault(spec, fw, start_ms, end_ms, site.id, "unit", unit.id, sensors)
                )
    shipments: list[ShipmentPlan] = []
    for i, shipment in enumerate(fleet.shipments):
        where = f"shipments[{i}]({shipment.id})"
        ssim = _parse(ShipmentSimulation, shipment.simulation, f"{where}.simulation")
        if not ssim.enabled:
            continue
        splan = _shipment_plan(shipment, ssim, where, start_ms)
        shipments.append(splan)
        for k, spec in enumerate(ssim.faults):
            fw = f"{where}.simulation.faults[{k}]"
            if spec.kind not in LOGGER_FAULTS:
                raise ConfigError(
                    f"{fw}.kind: {spec.kind.value} is not a fault of a logger "
                    f"(one of {sorted(k.value for k in LOGGER_FAULTS)})"
                )
            targets = [lg for lg in splan.loggers if spec.logger in (None, lg.device)]
            if not targets:
                raise ConfigError(f"{fw}.logger: unknown logger {spec.logger!r}")
            faults += [
                resolve_fault(
                    spec,
                    fw,
                    start_ms,
                    end_ms,
                    splan.site,
                    "logger",
                    lg.device,
                    tuple(p.sensor for p in lg.probes),
                )
                for lg in targets
            ]
    for k, spec in enumerate(top.faults):
        fw = f"simulation.faults[{k}]"
        if spec.kind not in SITE_FAULTS:
            raise ConfigError(
                f"{fw}.kind: top-level faults are gateway_offline (with site); "
                f"put {spec.kind.value} under a unit or shipment"
            )
        if spec.site not in site_ids:
            raise ConfigError(f"{fw}.site: unknown site {spec.site!r}")
        gateway = next(s.gateway for s in sites if s.site == spec.site)
        faults.append(resolve_fault(spec, fw, start_ms, end_ms, spec.site, "gateway", gateway, ()))
    rng = np.random.default_rng([run_seed, 0xFA17])
    faults += draw_random_faults(
        rng,
        top.random_faults,
        [(u.site, u.device, tuple(p.sensor for p in u.probes)) for u in units],
        start_ms,
        end_ms,
    )
    return SimPlan(
        start_ms,
        end_ms,
        run_seed,
        top.step_s,
        top.status_interval,
        tuple(sites),
        tuple(units),
        tuple(shipments),
        tuple(faults),
    )
