"""The simulation: a plan, a seed and a clock in; chunks of messages and ground truth out.

Pure (no I/O): transports pace and send what it yields. Chunks are one simulated hour
whatever the speed, and every random stream has its own generator seeded from the run's
seed, so the same seed and fleet give the same readings at 1×, 60× or as fast as possible.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np

from simulators.loggers import ShipmentRun
from simulators.outbound import Outbound
from simulators.plan import SimPlan
from simulators.truth import ExcursionTracker, TruthEvent, WindowPeaks
from simulators.units import UnitBank

__all__ = ["CHUNK_MS", "Chunk", "Simulation"]

CHUNK_MS = 3_600_000


@dataclass(frozen=True, slots=True)
class Chunk:
    """One simulated hour: messages sorted by the simulated time they are due."""

    start_ms: int
    end_ms: int
    messages: list[Outbound]
    truth: list[TruthEvent]


class Simulation:
    """Usage:
        sim = Simulation(build_plan(fleet, start_ms, end_ms, seed=7))
        for chunk in sim.chunks(): ...
        remaining_truth = sim.finish()

    Args:
        batch_s: group a unit's readings over this much simulated time per message
            (0: one message per logging instant, as a live gateway sends them).
    """

    def __init__(self, plan: SimPlan, *, batch_s: float = 0.0) -> None:
        if CHUNK_MS % (plan.step_s * 1000):
            from coldchain.errors import ConfigError

            raise ConfigError(f"simulation.step_s: {plan.step_s} must divide 3600")
        self.plan = plan
        self._excursions = ExcursionTracker()
        self._windows = WindowPeaks()

        def rng(stream: int) -> np.random.Generator:
            return np.random.default_rng([plan.seed, stream])

        self.units = UnitBank(plan, rng(1), rng(2), self._excursions, self._windows, batch_s)
        self.shipments = [
            ShipmentRun(
                s,
                list(plan.faults),
                rng(100 + i),
                self._excursions,
                self._windows,
                plan.status_interval_s,
            )
            for i, s in enumerate(plan.shipments)
        ]

    def chunks(self) -> Iterator[Chunk]:
        plan = self.plan
        step_ms = plan.step_s * 1000
        start = plan.start_ms
        while start < plan.end_ms:
            end = min(start + CHUNK_MS, plan.end_ms)
            tick_ms = np.arange(start + step_ms, end + 1, step_ms, dtype=np.int64)
            messages: list[Outbound] = []
            truth: list[TruthEvent] = []
            if len(tick_ms):
                messages, truth = self.units.advance(start, tick_ms)
            for shipment in self.shipments:
                more, events = shipment.advance(end + 1)
                messages += more
                truth += events
            messages.sort(key=lambda m: m.due_ms)
            yield Chunk(start, end, messages, truth)
            start = end

    def finish(self) -> list[TruthEvent]:
        """Events still open at the run's end (`end` null)."""
        return self._excursions.finish(self.plan.end_ms) + self._windows.finish(self.plan.end_ms)
