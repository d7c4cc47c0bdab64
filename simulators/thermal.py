"""First-order thermal model of storage cabinets, vectorised over units.

Each cabinet is one lumped node (air + load) of heat capacity C:

    C dT/dt = (UA + f_door * UA_door) (T_amb - T) - Q_cool + Q_heat

With the inputs held for one step `dt` the exact solution is an exponential relaxation
towards T_eq = T_amb + (Q_heat - Q_cool) / UA_eff with tau = C / UA_eff, so any step
length is stable. The thermostat switches on a hysteresis band around the setpoint
(compressor on above `sp + band`, off below `sp - band`), which makes readings cycle
as a real unit's do. Probes follow the cabinet through their own first-order lag; an air
probe near the door also sees a share of the warm inflow while the door is open, which is
the short spike that recovers (a glycol-buffered probe, like the product, barely moves).
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

__all__ = ["CabinetInputs", "CabinetParams", "CabinetState", "integrate", "relax"]

F64 = NDArray[np.float64]
Bool = NDArray[np.bool_]


@dataclass(frozen=True, slots=True)
class CabinetParams:
    """Per-unit constants, arrays of shape (units,)."""

    mass_j_per_k: F64
    ua_w_per_k: F64
    door_ua_w_per_k: F64
    cooling_w: F64
    heating_w: F64
    defrost_w: F64
    setpoint_c: F64
    band_c: F64


@dataclass(slots=True)
class CabinetState:
    """What carries over from one chunk to the next: temperatures and relay states."""

    temp_c: F64
    cooling_on: Bool
    heating_on: Bool
    probe_c: F64


@dataclass(frozen=True, slots=True)
class CabinetInputs:
    """Per-step inputs, arrays of shape (steps, units).

    Attributes:
        door: share of the step the door stood open (0..1).
        powered: mains present (compressor, heater and defrost heater need it).
        compressor_ok: False while the compressor has failed.
        defrost: the defrost heater runs and the compressor is held off.
    """

    ambient_c: F64
    door: F64
    powered: Bool
    compressor_ok: Bool
    defrost: Bool


def relax(temp_c: float, equilibrium_c: float, dt_s: float, tau_s: float) -> float:
    """Exact first-order step of a scalar node (shipper payloads)."""
    return equilibrium_c + (temp_c - equilibrium_c) * float(np.exp(-dt_s / tau_s))


def integrate(
    params: CabinetParams,
    state: CabinetState,
    inputs: CabinetInputs,
    probe_unit: NDArray[np.intp],
    probe_lag_s: F64,
    probe_draught: F64,
    dt_s: float,
) -> tuple[F64, F64, Bool]:
    """Advance every cabinet and probe by `steps` steps of `dt_s`, updating `state`.

    Returns:
        cabinet temperatures (steps, units), probe temperatures (steps, probes) and the
        compressor state (steps, units), each at the end of its step.
    """
    steps, units = inputs.ambient_c.shape
    cabinet = np.empty((steps, units))
    probes = np.empty((steps, probe_unit.shape[0]))
    running = np.empty((steps, units), dtype=bool)
    probe_alpha = 1.0 - np.exp(-dt_s / probe_lag_s)
    high = params.setpoint_c + params.band_c
    low = params.setpoint_c - params.band_c
    temp, cooling, heating, probe = state.temp_c, state.cooling_on, state.heating_on, state.probe_c
    for i in range(steps):
        cooling = np.where(temp > high, True, np.where(temp < low, False, cooling))
        heating = np.where(temp < low, True, np.where(temp > params.setpoint_c, False, heating))
        powered = inputs.powered[i]
        defrost = inputs.defrost[i] & powered
        compressor = cooling & powered & inputs.compressor_ok[i] & ~defrost
        q = (heating & powered) * params.heating_w - compressor * params.cooling_w
        q = q + defrost * params.defrost_w
        ua = params.ua_w_per_k + inputs.door[i] * params.door_ua_w_per_k
        equilibrium = inputs.ambient_c[i] + q / ua
        temp = equilibrium + (temp - equilibrium) * np.exp(-dt_s * ua / params.mass_j_per_k)
        # An air probe near the door also feels the warm inflow while the door is open.
        inflow = (inputs.door[i] * (inputs.ambient_c[i] - temp))[probe_unit] * probe_draught
        probe = probe + probe_alpha * (temp[probe_unit] + inflow - probe)
        cabinet[i], probes[i], running[i] = temp, probe, compressor
    state.temp_c, state.cooling_on, state.heating_on, state.probe_c = (
        temp,
        cooling,
        heating,
        probe,
    )
    return cabinet, probes, running
