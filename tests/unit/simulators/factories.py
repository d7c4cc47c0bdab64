"""Small fleets and runs for the simulator tests."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any

from coldchain.fleet import Fleet
from simulators.engine import Simulation
from simulators.outbound import GatewayMessage, Outbound, ReadingsMessage, StatusMessage
from simulators.plan import build_plan
from simulators.truth import TruthEvent

START_MS = 1_767_225_600_000  # 2026-01-01T00:00:00Z
HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS


def unit(
    unit_id: str = "F1",
    kind: str = "refrigerator",
    setpoint_c: float = 5.0,
    sensors: tuple[str, ...] = ("p1", "p2"),
    log_interval_s: int = 60,
    **simulation: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": unit_id,
        "kind": kind,
        "setpoint_c": setpoint_c,
        "log_interval_s": log_interval_s,
        "sensors": [{"id": s} for s in sensors],
    }
    if simulation:
        doc["simulation"] = simulation
    return doc


def shipment(
    shipment_id: str = "SHP-1",
    loggers: tuple[str, ...] = ("LOG-1",),
    log_interval_s: int = 300,
    **simulation: Any,
) -> dict[str, Any]:
    doc: dict[str, Any] = {
        "id": shipment_id,
        "origin": "BSL",
        "destination": "BSL",
        "loggers": [
            {"id": lg, "sensors": [{"id": "p1"}], "log_interval_s": log_interval_s}
            for lg in loggers
        ],
    }
    if simulation:
        doc["simulation"] = simulation
    return doc


def fleet(
    units: list[dict[str, Any]] | None = None,
    shipments: list[dict[str, Any]] | None = None,
    **simulation: Any,
) -> Fleet:
    doc: dict[str, Any] = {
        "sites": [{"id": "BSL", "units": units or []}],
        "shipments": shipments or [],
    }
    if simulation:
        doc["simulation"] = simulation
    return Fleet.model_validate(doc)


@dataclass
class Run:
    messages: list[Outbound] = field(default_factory=list)
    truth: list[TruthEvent] = field(default_factory=list)

    @property
    def batches(self) -> list[ReadingsMessage]:
        return [m for m in self.messages if isinstance(m, ReadingsMessage)]

    @property
    def statuses(self) -> list[StatusMessage]:
        return [m for m in self.messages if isinstance(m, StatusMessage)]

    @property
    def gateway(self) -> list[GatewayMessage]:
        return [m for m in self.messages if isinstance(m, GatewayMessage)]

    def values(self, device: str, sensor: str) -> list[tuple[int, float]]:
        return [
            (r.ts_ms, r.temp_c)
            for m in self.batches
            if not m.duplicate
            for r in m.readings
            if r.device == device and r.sensor == sensor
        ]

    def events(self, kind: str, device: str | None = None) -> list[TruthEvent]:
        return [e for e in self.truth if e.kind == kind and device in (None, e.sensor[2])]


def run(the_fleet: Fleet, duration_ms: int, seed: int = 1, batch_s: float = 0.0) -> Run:
    sim = Simulation(build_plan(the_fleet, START_MS, START_MS + duration_ms, seed), batch_s=batch_s)
    result = Run()
    for chunk in sim.chunks():
        result.messages += chunk.messages
        result.truth += chunk.truth
    result.truth += sim.finish()
    return result


QUIET: dict[str, Any] = {"door": {"openings_per_day": 0}, "ambient_swing_c": 0.0}
