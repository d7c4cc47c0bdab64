"""The storage units of a fleet, simulated together one chunk at a time (numpy over units).

Per chunk: build the inputs (doors, faults, defrost), integrate the thermal model, record
ground truth from the true probe temperatures, then turn the sampled steps into readings
as the devices would send them: offset, noise, broken probes, skewed clocks, and nothing
at all while the site's gateway is offline (the seq numbers still advance, so the gap shows).
"""

from __future__ import annotations

from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from coldchain.models import DeviceStatus, Reading, SensorKey, SourceKind
from simulators.faults import FaultWindow, active_mask
from simulators.inputs import build_inputs, defrost_windows
from simulators.outbound import GatewayMessage, Outbound, ReadingsMessage, StatusMessage
from simulators.plan import SimPlan, UnitPlan
from simulators.probes import ProbeFaults, measure
from simulators.spec import FaultKind
from simulators.thermal import CabinetParams, CabinetState, integrate
from simulators.truth import ExcursionTracker, TruthEvent, WindowPeaks

__all__ = ["UnitBank"]

_UNIT = SourceKind.UNIT
_THERMAL = frozenset(
    {FaultKind.COMPRESSOR_FAILURE, FaultKind.POWER_OUTAGE, FaultKind.DOOR_LEFT_OPEN}
)


def _array(units: Sequence[UnitPlan], name: str) -> NDArray[np.float64]:
    return np.array([float(getattr(u, name)) for u in units])


class UnitBank:
    """Every storage unit of the plan; `advance` simulates one chunk of steps."""

    def __init__(
        self,
        plan: SimPlan,
        rng_doors: np.random.Generator,
        rng_noise: np.random.Generator,
        excursions: ExcursionTracker,
        windows: WindowPeaks,
        batch_s: float,
    ) -> None:
        self.plan = plan
        self.units = plan.units
        self._rng_doors, self._rng_noise = rng_doors, rng_noise
        self._excursions, self._windows = excursions, windows
        self._batch_ms = max(round(batch_s * 1000), 0)
        units = self.units
        self._index = {f"{u.site}/{u.device}": i for i, u in enumerate(units)}
        self.params = CabinetParams(
            _array(units, "mass_j_per_k"),
            _array(units, "ua_w_per_k"),
            _array(units, "door_ua_w_per_k"),
            _array(units, "cooling_w"),
            _array(units, "heating_w"),
            _array(units, "defrost_heater_w"),
            _array(units, "setpoint_c"),
            _array(units, "band_c"),
        )
        self._ambient = _array(units, "ambient_c"), _array(units, "ambient_swing_c")
        self.keys: list[SensorKey] = [
            SensorKey(u.site, "unit", u.device, p.sensor) for u in units for p in u.probes
        ]
        probes = [(i, p) for i, u in enumerate(units) for p in u.probes]
        self._probe_unit = np.array([i for i, _ in probes], dtype=np.intp)
        self._lag = np.array([p.lag_s for _, p in probes])
        self._draught = np.array([p.draught for _, p in probes])
        self._offset = np.array([p.offset_c for _, p in probes])
        self._noise = np.array([p.noise_c for _, p in probes])
        self._resolution = np.array([p.resolution_c for _, p in probes])
        self._column = {(k.site, k.device, k.sensor): c for c, k in enumerate(self.keys)}
        initial = _array(units, "initial_c")
        self.state = CabinetState(
            initial.copy(),
            np.zeros(len(units), dtype=bool),
            np.zeros(len(units), dtype=bool),
            initial[self._probe_unit],
        )
        self._faults = [f for f in plan.faults if f.source in ("unit", "gateway")]
        self._probe_faults = ProbeFaults([f for f in self._faults if f.source == "unit"])
        self._seq = [0] * len(units)
        self._offline = [f for f in plan.faults if f.kind is FaultKind.GATEWAY_OFFLINE]
        for u in units:
            for p in u.probes:
                excursions.register(
                    SensorKey(u.site, "unit", u.device, p.sensor), *u.range_c, u.alarm_delay_s
                )
        self._register_fault_windows()

    def _register_fault_windows(self) -> None:
        by_site: dict[str, list[SensorKey]] = {}
        for key in self.keys:
            by_site.setdefault(key.site, []).append(key)
        for f in self._faults:
            if f.kind is FaultKind.GATEWAY_OFFLINE:
                keys, reference = by_site.get(f.site, []), 0.0
                if not keys:
                    continue
            else:
                unit = self.units[self._index[f"{f.site}/{f.device}"]]
                keys, reference = (
                    [SensorKey(f.site, "unit", f.device, s) for s in f.sensors],
                    unit.setpoint_c,
                )
            kind = (
                "sensor_fault"
                if f.kind in (FaultKind.PROBE_DISCONNECTED, FaultKind.STUCK_SENSOR)
                else f.kind.value
            )
            detail: dict[str, object] = {"fault": f.kind.value, "origin": f.origin}
            if f.kind is FaultKind.PROBE_DISCONNECTED:
                detail["error_value_c"] = f.error_value_c
            elif f.kind is FaultKind.CLOCK_SKEW:
                detail["skew_s"] = f.skew_s
            elif f.kind is FaultKind.LOW_BATTERY:
                detail["level_pct"] = f.level_pct
            elif f.kind is FaultKind.GATEWAY_OFFLINE:
                detail["gateway"] = f.device
            self._windows.add(
                kind,
                keys,
                f.start_ms,
                f.end_ms,
                reference,
                alarm_expected=True,
                detail=detail,
                direction=self._warming(f) if f.kind in _THERMAL else 0,
            )

    def _warming(self, fault: FaultWindow) -> int:
        """Losing cooling drives a unit towards its ambient: up, except a CRT in the cold."""
        unit = self.units[self._index[f"{fault.site}/{fault.device}"]]
        return 1 if unit.ambient_c >= unit.setpoint_c else -1

    def advance(
        self,
        chunk_start_ms: int,
        tick_ms: NDArray[np.int64],
    ) -> tuple[list[Outbound], list[TruthEvent]]:
        """Simulate the steps that end at `tick_ms` (all within one chunk)."""
        if not self.units:
            return [], []
        plan = self.plan
        inputs = build_inputs(
            self._rng_doors,
            self.units,
            self._faults,
            self._index,
            plan.start_ms,
            chunk_start_ms,
            tick_ms,
            plan.step_s,
            *self._ambient,
        )
        _, probe_true, _ = integrate(
            self.params,
            self.state,
            inputs,
            self._probe_unit,
            self._lag,
            self._draught,
            float(plan.step_s),
        )
        truth = self._excursions.feed(tick_ms, probe_true, self.keys)
        self._add_defrosts(chunk_start_ms, int(tick_ms[-1]))
        truth += self._windows.feed(tick_ms, {k: probe_true[:, c] for c, k in enumerate(self.keys)})
        return self._messages(tick_ms, probe_true), truth

    def _add_defrosts(self, chunk_start_ms: int, last_ms: int) -> None:
        for u in self.units:
            for start, stop in defrost_windows(u, self.plan.start_ms, chunk_start_ms, last_ms):
                if start >= chunk_start_ms:
                    self._windows.add(
                        "defrost",
                        [SensorKey(u.site, "unit", u.device, p.sensor) for p in u.probes],
                        start,
                        stop,
                        u.setpoint_c,
                        alarm_expected=False,
                        direction=1,
                    )

    def _messages(
        self, tick_ms: NDArray[np.int64], probe_true: NDArray[np.float64]
    ) -> list[Outbound]:
        plan = self.plan
        since = tick_ms - plan.start_ms
        interval_ms = np.array([u.log_interval_s * 1000 for u in self.units])
        sampled_unit = (since[:, None] % interval_ms[None, :]) == 0
        sampled = sampled_unit[:, self._probe_unit]
        measured = measure(self._rng_noise, probe_true, self._offset, self._noise, self._resolution)
        self._probe_faults.apply(measured, sampled, tick_ms, self._column)
        skew_ms, dropped, battery = self._device_effects(tick_ms)
        messages: list[Outbound] = self._gateway_messages(tick_ms)
        values = measured.tolist()
        ticks = tick_ms.tolist()
        status_ms = round(plan.status_interval_s * 1000)
        column = 0
        for u, unit in enumerate(self.units):
            sensors = [p.sensor for p in unit.probes]
            cols = range(column, column + len(sensors))
            column += len(sensors)
            batch: list[Reading] = []
            seq = self._seq[u]
            for i in np.flatnonzero(sampled_unit[:, u]).tolist():
                ts = ticks[i] + skew_ms[i][u]
                row = values[i]
                readings = [
                    Reading(unit.site, _UNIT, unit.device, s, ts, row[c], seq + k)
                    for k, (s, c) in enumerate(zip(sensors, cols, strict=True))
                ]
                seq += len(sensors)
                if dropped[i][u]:
                    continue
                batch += readings
                if not self._batch_ms or (ticks[i] - plan.start_ms) % self._batch_ms == 0:
                    messages.append(
                        ReadingsMessage(ticks[i], unit.site, _UNIT, unit.device, tuple(batch))
                    )
                    batch = []
            if batch:
                messages.append(
                    ReadingsMessage(ticks[-1], unit.site, _UNIT, unit.device, tuple(batch))
                )
            self._seq[u] = seq
            for i, t in enumerate(ticks):
                if (t - plan.start_ms) % status_ms == 0 and not dropped[i][u]:
                    status = DeviceStatus(
                        unit.site,
                        _UNIT,
                        unit.device,
                        t + skew_ms[i][u],
                        battery_pct=battery[i][u],
                        rssi_dbm=-62.0,
                    )
                    messages.append(StatusMessage(t, status))
        return messages

    def _device_effects(
        self,
        tick_ms: NDArray[np.int64],
    ) -> tuple[list[list[int]], list[list[bool]], list[list[float]]]:
        """Clock skew (ms), gateway-offline drops and battery level per (tick, unit)."""
        shape = (len(tick_ms), len(self.units))
        skew = np.zeros(shape, dtype=np.int64)
        dropped = np.zeros(shape, dtype=bool)
        battery = np.full(shape, 100.0)
        first, last = int(tick_ms[0]), int(tick_ms[-1])
        for f in self._faults:
            if f.end_ms <= first or f.start_ms > last:
                continue
            mask = active_mask(f, tick_ms)
            if f.kind is FaultKind.GATEWAY_OFFLINE:
                cols = np.array([u.site == f.site for u in self.units])
                dropped |= mask[:, None] & cols[None, :]
                continue
            u = self._index[f"{f.site}/{f.device}"]
            if f.kind is FaultKind.CLOCK_SKEW:
                skew[mask, u] = round(f.skew_s * 1000)
            elif f.kind is FaultKind.LOW_BATTERY:
                battery[mask, u] = f.level_pct
        return skew.tolist(), dropped.tolist(), battery.tolist()

    def _gateway_messages(self, tick_ms: NDArray[np.int64]) -> list[Outbound]:
        first, last = int(tick_ms[0]) - self.plan.step_s * 1000, int(tick_ms[-1])
        messages: list[Outbound] = []
        for f in self._offline:
            if first < f.start_ms <= last:
                messages.append(GatewayMessage(f.start_ms, f.site, f.device, "offline"))
            if first < f.end_ms <= last and f.end_ms < self.plan.end_ms:
                messages.append(GatewayMessage(f.end_ms, f.site, f.device, "online"))
        return messages
