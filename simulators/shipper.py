"""Shippers and lanes: the payload temperature of a shipment as it travels.

Passive shipper: insulation (UA) around phase-change material (PCM). While the PCM is
part frozen it holds the payload near its melting point; heat leaking in melts it, cold
leaking in refreezes it. Once it is all melted (or all frozen) the payload relaxes to
the ambient with tau = C / UA, which is how a hot tarmac stop that outlasts the PCM
becomes an excursion. Active shipper: a thermostat with cooling and heating on a
battery; when the autonomy runs out it is an insulated box.
"""

from __future__ import annotations

from dataclasses import dataclass

from simulators.plan import ShipmentPlan
from simulators.spec import LegSpec
from simulators.thermal import relax

__all__ = ["Shipper", "leg_at"]

_PAYLOAD_TAU_S = 1800.0


def leg_at(lane: tuple[LegSpec, ...], since_depart_s: float) -> LegSpec | None:
    """The leg the shipment is on, None before departure or after arrival."""
    if since_depart_s < 0:
        return None
    elapsed = 0.0
    for leg in lane:
        elapsed += leg.duration
        if since_depart_s < elapsed:
            return leg
    return None


@dataclass(slots=True)
class Shipper:
    """State of one shipper's payload; `step` advances it under one ambient."""

    plan: ShipmentPlan
    payload_c: float = 0.0
    frozen: float = 0.0
    cooling: bool = False
    heating: bool = False

    def __post_init__(self) -> None:
        spec = self.plan.shipper
        self.payload_c = spec.pcm_c if spec.kind == "passive" else spec.setpoint_c
        self.frozen = spec.pcm_initial_frozen if spec.pcm_latent_kj > 0 else 0.0

    def step(self, ambient_c: float, dt_s: float, since_depart_s: float) -> float:
        if self.plan.shipper.kind == "passive":
            return self._passive(ambient_c, dt_s)
        return self._active(ambient_c, dt_s, since_depart_s)

    def _passive(self, ambient_c: float, dt_s: float) -> float:
        spec = self.plan.shipper
        tau = spec.payload_kj_per_k * 1000.0 / spec.ua_w_per_k
        latent_j = spec.pcm_latent_kj * 1000.0
        if 0.0 < self.frozen < 1.0 and latent_j > 0:
            heat_j = spec.ua_w_per_k * (ambient_c - spec.pcm_c) * dt_s
            self.frozen = min(1.0, max(0.0, self.frozen - heat_j / latent_j))
            held = spec.pcm_c + spec.pcm_coupling * (ambient_c - spec.pcm_c)
            self.payload_c = relax(self.payload_c, held, dt_s, _PAYLOAD_TAU_S)
            return self.payload_c
        before = self.payload_c
        self.payload_c = relax(before, ambient_c, dt_s, tau)
        crossed = (before - spec.pcm_c) * (self.payload_c - spec.pcm_c) < 0
        if crossed and latent_j > 0:
            # Reaching the melting point starts the phase change: held there again.
            self.frozen = 1e-6 if self.frozen <= 0 else 1.0 - 1e-6
            self.payload_c = spec.pcm_c
        return self.payload_c

    def _active(self, ambient_c: float, dt_s: float, since_depart_s: float) -> float:
        spec = self.plan.shipper
        tau = spec.payload_kj_per_k * 1000.0 / spec.ua_w_per_k
        t = self.payload_c
        if since_depart_s < spec.autonomy:
            if t > spec.setpoint_c + spec.band_c:
                self.cooling = True
            elif t < spec.setpoint_c - spec.band_c:
                self.cooling = False
            if t < spec.setpoint_c - spec.band_c:
                self.heating = True
            elif t > spec.setpoint_c:
                self.heating = False
        else:
            self.cooling = self.heating = False
        q = self.heating * spec.heating_w - self.cooling * spec.cooling_w
        self.payload_c = relax(t, ambient_c + q / spec.ua_w_per_k, dt_s, tau)
        return self.payload_c
