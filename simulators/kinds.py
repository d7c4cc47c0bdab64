"""Physical defaults per kind of storage unit, tuned so healthy units cycle in range.

Numbers are lumped (cabinet + load) and chosen from typical catalogue values: a loaded
pharmacy refrigerator leaves 2–8 °C about 50 minutes after its compressor fails in a 22 °C
room (tau = C/UA = 4.4 h); an ultra-low freezer holds above -60 °C for about 5 hours.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final

from coldchain.fleet import UnitKind

__all__ = ["KIND_DEFAULTS", "KindDefaults"]


@dataclass(frozen=True, slots=True)
class KindDefaults:
    """Everything a unit of this kind gets unless its `simulation:` says otherwise.

    Attributes:
        range_c: the acceptable range; excursions in the ground truth are measured against it.
        band_c: half-width of the thermostat's hysteresis around the setpoint.
        openings_per_day: door openings of a normal working day (a Poisson process).
        defrost: whether the unit runs timed defrost cycles (heater on, compressor off).
    """

    range_c: tuple[float, float]
    thermal_mass_kj_per_k: float
    ua_w_per_k: float
    door_ua_w_per_k: float
    cooling_w: float
    heating_w: float
    band_c: float
    openings_per_day: float
    mean_open_s: float
    defrost: bool


KIND_DEFAULTS: Final[dict[UnitKind, KindDefaults]] = {
    UnitKind.REFRIGERATOR: KindDefaults(
        range_c=(2.0, 8.0),
        thermal_mass_kj_per_k=40.0,
        ua_w_per_k=2.5,
        door_ua_w_per_k=12.0,
        cooling_w=80.0,
        heating_w=0.0,
        band_c=1.0,
        openings_per_day=12.0,
        mean_open_s=40.0,
        defrost=False,
    ),
    UnitKind.FREEZER: KindDefaults(
        range_c=(-25.0, -15.0),
        thermal_mass_kj_per_k=60.0,
        ua_w_per_k=2.0,
        door_ua_w_per_k=20.0,
        cooling_w=150.0,
        heating_w=0.0,
        band_c=1.5,
        openings_per_day=6.0,
        mean_open_s=30.0,
        defrost=True,
    ),
    UnitKind.ULTRA_LOW: KindDefaults(
        range_c=(-90.0, -60.0),
        thermal_mass_kj_per_k=80.0,
        ua_w_per_k=1.0,
        door_ua_w_per_k=15.0,
        cooling_w=250.0,
        heating_w=0.0,
        band_c=2.0,
        openings_per_day=2.0,
        mean_open_s=30.0,
        defrost=False,
    ),
    UnitKind.COLD_ROOM: KindDefaults(
        range_c=(2.0, 8.0),
        thermal_mass_kj_per_k=2000.0,
        ua_w_per_k=40.0,
        door_ua_w_per_k=150.0,
        cooling_w=2500.0,
        heating_w=0.0,
        band_c=1.0,
        openings_per_day=30.0,
        mean_open_s=60.0,
        defrost=False,
    ),
    UnitKind.CRT: KindDefaults(
        range_c=(15.0, 25.0),
        thermal_mass_kj_per_k=3000.0,
        ua_w_per_k=60.0,
        door_ua_w_per_k=200.0,
        cooling_w=3000.0,
        heating_w=3000.0,
        band_c=1.5,
        openings_per_day=20.0,
        mean_open_s=60.0,
        defrost=False,
    ),
}
