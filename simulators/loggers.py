"""Shipment data loggers: log every N minutes, keep readings through connectivity gaps and
upload them later in bursts, out of order and sometimes twice (a lost PUBACK).

Connectivity gaps come from the lane (`connected: false` legs, e.g. a flight), from
`gaps_per_day` drawn from the seed, and from `connectivity_gap` faults.
"""

from __future__ import annotations

import math
from dataclasses import dataclass, field

import numpy as np

from coldchain.models import DeviceStatus, Reading, SensorKey, SourceKind
from simulators.faults import FaultWindow
from simulators.outbound import Outbound, ReadingsMessage, StatusMessage
from simulators.plan import LoggerPlan, ShipmentPlan
from simulators.shipper import Shipper, leg_at
from simulators.spec import FaultKind
from simulators.truth import ExcursionTracker, TruthEvent, WindowPeaks

__all__ = ["ShipmentRun"]

_LOGGER = SourceKind.LOGGER
_GAP_ALARM_S = 1800.0
_DRAIN_PCT_PER_DAY = 1.5


@dataclass(slots=True)
class _LoggerState:
    plan: LoggerPlan
    seq: int = 0
    memory: list[Reading] = field(default_factory=list)
    last_upload_ms: int = 0
    gap_start_ms: int | None = None
    held: dict[tuple[int, str], float] = field(default_factory=dict)


class ShipmentRun:
    """One shipment: its shipper's physics along the lane and its loggers' behaviour."""

    def __init__(
        self,
        plan: ShipmentPlan,
        faults: list[FaultWindow],
        rng: np.random.Generator,
        excursions: ExcursionTracker,
        windows: WindowPeaks,
        status_interval_s: float,
    ) -> None:
        self.plan = plan
        self._rng = rng
        self._excursions, self._windows = excursions, windows
        self._shipper = Shipper(plan)
        self._dt_ms = 1000 * math.gcd(60, *(lg.log_interval_s for lg in plan.loggers))
        self.arrive_ms = plan.depart_ms + round(sum(leg.duration for leg in plan.lane) * 1000)
        self._status_ms = round(status_interval_s * 1000)
        self._loggers = [_LoggerState(lg, last_upload_ms=plan.depart_ms) for lg in plan.loggers]
        self._faults = [
            f
            for f in faults
            if f.site == plan.site
            and f.source == "logger"
            and f.device in {lg.device for lg in plan.loggers}
        ]
        self._gaps = self._gap_windows()
        self._next_ms = plan.depart_ms + self._dt_ms
        self._done = False
        self._gap_truth: list[TruthEvent] = []
        self._mid_c = sum(plan.range_c) / 2
        self.keys: list[SensorKey] = [
            SensorKey(plan.site, "logger", lg.device, p.sensor)
            for lg in plan.loggers
            for p in lg.probes
        ]
        for key in self.keys:
            excursions.register(key, *plan.range_c, plan.alarm_delay_s)
        for f in self._faults:
            if f.kind is not FaultKind.CONNECTIVITY_GAP:
                kind = (
                    "sensor_fault"
                    if f.kind in (FaultKind.PROBE_DISCONNECTED, FaultKind.STUCK_SENSOR)
                    else f.kind.value
                )
                windows.add(
                    kind,
                    [SensorKey(f.site, "logger", f.device, s) for s in f.sensors],
                    f.start_ms,
                    f.end_ms,
                    self._mid_c,
                    alarm_expected=True,
                    detail={"fault": f.kind.value, "origin": f.origin, "shipment": plan.shipment},
                )

    def _gap_windows(self) -> dict[str, list[tuple[int, int]]]:
        plan = self.plan
        shared: list[tuple[int, int]] = []
        begin = plan.depart_ms
        for leg in plan.lane:
            end = begin + round(leg.duration * 1000)
            if not leg.connected:
                shared.append((begin, end))
            begin = end
        days = (self.arrive_ms - plan.depart_ms) / 86_400_000
        for _ in range(int(self._rng.poisson(plan.gaps_per_day * days))):
            start = int(self._rng.integers(plan.depart_ms, max(self.arrive_ms, plan.depart_ms + 1)))
            shared.append((start, min(start + round(plan.gap_duration_s * 1000), self.arrive_ms)))
        gaps = {lg.device: list(shared) for lg in plan.loggers}
        for f in self._faults:
            if f.kind is FaultKind.CONNECTIVITY_GAP:
                gaps[f.device].append((f.start_ms, f.end_ms))
        return gaps

    def _connected(self, device: str, ts_ms: int) -> bool:
        return not any(a <= ts_ms < b for a, b in self._gaps[device])

    def advance(self, chunk_end_ms: int) -> tuple[list[Outbound], list[TruthEvent]]:
        """Simulate every step that ends before `chunk_end_ms`."""
        messages: list[Outbound] = []
        ticks: list[int] = []
        temps: list[float] = []
        while not self._done and self._next_ms < chunk_end_ms and self._next_ms <= self.arrive_ms:
            t = self._next_ms
            since_s = (t - self._dt_ms - self.plan.depart_ms) / 1000
            leg = leg_at(self.plan.lane, since_s)
            ambient = leg.ambient_c if leg is not None else self.plan.lane[-1].ambient_c
            payload = self._shipper.step(ambient, self._dt_ms / 1000, since_s)
            ticks.append(t)
            temps.append(payload)
            arrived = t >= self.arrive_ms
            for state in self._loggers:
                messages += self._log(state, t, payload, arrived)
            self._next_ms += self._dt_ms
            self._done = arrived
        if not ticks:
            return messages, []
        tick_ms = np.array(ticks, dtype=np.int64)
        matrix = np.repeat(np.array(temps)[:, None], len(self.keys), axis=1)
        truth = self._excursions.feed(tick_ms, matrix, self.keys)
        truth += self._windows.feed(tick_ms, {k: matrix[:, 0] for k in self.keys})
        truth += self._gap_truth
        self._gap_truth = []
        return messages, truth

    def _log(self, state: _LoggerState, t: int, payload_c: float, arrived: bool) -> list[Outbound]:
        plan, lg = self.plan, state.plan
        since = t - plan.depart_ms
        if since % (lg.log_interval_s * 1000) == 0:
            state.memory += self._measure(state, t, payload_c)
        connected = arrived or self._connected(lg.device, t)
        out: list[Outbound] = []
        if not connected:
            if state.gap_start_ms is None:
                state.gap_start_ms = t
            return out
        if since % self._status_ms == 0:
            out.append(StatusMessage(t, self._status(lg, t)))
        interval_ms = round((plan.upload_interval_s or lg.log_interval_s) * 1000)
        due = arrived or t - state.last_upload_ms >= interval_ms
        if state.gap_start_ms is not None:
            out += self._burst(state, t)
        elif state.memory and due:
            out.append(ReadingsMessage(t, plan.site, _LOGGER, lg.device, tuple(state.memory)))
            state.memory = []
            state.last_upload_ms = t
        return out

    def _measure(self, state: _LoggerState, t: int, payload_c: float) -> list[Reading]:
        lg = state.plan
        ts, readings = t, []
        for f in self._faults:
            if f.device == lg.device and f.kind is FaultKind.CLOCK_SKEW and f.covers(t):
                ts = t + round(f.skew_s * 1000)
        for p in lg.probes:
            value = payload_c + p.offset_c + p.noise_c * float(self._rng.standard_normal())
            value = round(round(value / p.resolution_c) * p.resolution_c, 4)
            for n, f in enumerate(self._faults):
                if f.device != lg.device or p.sensor not in f.sensors or not f.covers(t):
                    continue
                if f.kind is FaultKind.PROBE_DISCONNECTED:
                    value = f.error_value_c
                elif f.kind is FaultKind.STUCK_SENSOR:
                    value = state.held.setdefault((n, p.sensor), value)
            readings.append(
                Reading(self.plan.site, _LOGGER, lg.device, p.sensor, ts, value, state.seq)
            )
            state.seq += 1
        return readings

    def _status(self, lg: LoggerPlan, t: int) -> DeviceStatus:
        battery = 100.0 - _DRAIN_PCT_PER_DAY * (t - self.plan.depart_ms) / 86_400_000
        for f in self._faults:
            if f.device == lg.device and f.kind is FaultKind.LOW_BATTERY and f.covers(t):
                battery = f.level_pct
        rssi = round(-85.0 + 5.0 * float(self._rng.standard_normal()), 1)
        return DeviceStatus(
            self.plan.site, _LOGGER, lg.device, t, battery_pct=round(battery, 1), rssi_dbm=rssi
        )

    def _burst(self, state: _LoggerState, t: int) -> list[Outbound]:
        """The memory of a gap, in chunks sent in shuffled order, some twice."""
        plan, lg = self.plan, state.plan
        size = plan.burst_size
        chunks = [tuple(state.memory[i : i + size]) for i in range(0, len(state.memory), size)]
        order = self._rng.permutation(len(chunks)).tolist()
        out: list[Outbound] = []
        duplicates = 0
        for n in order:
            out.append(ReadingsMessage(t, plan.site, _LOGGER, lg.device, chunks[n]))
            if self._rng.random() < plan.duplicate_probability:
                out.append(
                    ReadingsMessage(t, plan.site, _LOGGER, lg.device, chunks[n], duplicate=True)
                )
                duplicates += 1
        start = state.gap_start_ms if state.gap_start_ms is not None else t
        lasted_s = (t - start) / 1000
        detail: dict[str, object] = {
            "shipment": plan.shipment,
            "uploaded_ms": t,
            "readings": len(state.memory),
            "messages": len(out),
            "duplicates": duplicates,
        }
        self._gap_truth = [
            *self._gap_truth,
            *(
                TruthEvent(
                    "connectivity_gap",
                    SensorKey(plan.site, "logger", lg.device, p.sensor),
                    start,
                    t,
                    None,
                    lasted_s >= _GAP_ALARM_S,
                    detail,
                )
                for p in lg.probes
            ),
        ]
        state.memory = []
        state.gap_start_ms = None
        state.last_upload_ms = t
        return out
