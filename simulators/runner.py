"""Runs a simulation to MQTT (paced at a speed, or as fast as possible) or to a file,
writing the ground truth as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from dataclasses import dataclass
from pathlib import Path

from coldchain.config import MqttEndpoint
from coldchain.mqtt import MqttPublisher
from simulators.engine import Simulation
from simulators.filesink import FileFormat, ReadingsFile
from simulators.outbound import GatewayMessage, ReadingsMessage
from simulators.truth import GroundTruthWriter

__all__ = ["RunStats", "run_to_file", "run_to_mqtt"]

log = logging.getLogger(__name__)


@dataclass(frozen=True, slots=True)
class RunStats:
    """What a run sent; `readings` counts duplicate uploads, as the broker saw them, and
    `distinct_readings` does not (what the store must end up holding)."""

    readings: int
    messages: int
    truth_events: int
    elapsed_s: float
    distinct_readings: int

    @property
    def readings_per_s(self) -> float:
        return self.readings / self.elapsed_s if self.elapsed_s > 0 else 0.0


def run_to_file(
    sim: Simulation, path: Path, file_format: FileFormat, ground_truth: Path | None = None
) -> RunStats:
    """As fast as possible into a line-protocol or CSV file (a history to import)."""
    began = time.perf_counter()
    messages = 0
    with ReadingsFile(path, file_format) as sink, GroundTruthWriter(ground_truth) as truth:
        for chunk in sim.chunks():
            sink.write(chunk.messages)
            truth.write(chunk.truth)
            messages += len(chunk.messages)
        truth.write(sim.finish())
    elapsed = time.perf_counter() - began
    return RunStats(sink.readings, messages, truth.count, elapsed, sink.readings)


async def run_to_mqtt(
    sim: Simulation,
    endpoint: MqttEndpoint,
    *,
    speed: float,
    ground_truth: Path | None = None,
    max_inflight: int = 1000,
    client_prefix: str = "coldchain-sim",
) -> RunStats:
    """Publish every message over MQTT, one connection per site gateway.

    Args:
        speed: simulated seconds per wall-clock second (60: an hour a minute); 0 sends
            as fast as the broker acknowledges.
    """
    loop = asyncio.get_running_loop()
    readings = distinct = messages = 0
    async with contextlib.AsyncExitStack() as connections:
        gateways = {
            s.site: await connections.enter_async_context(
                MqttPublisher(
                    endpoint,
                    s.site,
                    s.gateway,
                    max_inflight=max_inflight,
                    client_id=f"{client_prefix}-{s.site}-{s.gateway}",
                )
            )
            for s in sim.plan.sites
        }
        began_wall, began = loop.time(), time.perf_counter()
        with GroundTruthWriter(ground_truth) as truth:
            for chunk in sim.chunks():
                for m in chunk.messages:
                    if speed > 0:
                        due = began_wall + (m.due_ms - sim.plan.start_ms) / 1000 / speed
                        if (delay := due - loop.time()) > 0:
                            await asyncio.sleep(delay)
                    retain = isinstance(m, GatewayMessage)
                    await gateways[m.site].publish(m.topic, m.payload(), retain=retain)
                    messages += 1
                    if isinstance(m, ReadingsMessage):
                        readings += len(m.readings)
                        distinct += 0 if m.duplicate else len(m.readings)
                truth.write(chunk.truth)
            truth.write(sim.finish())
            for gateway in gateways.values():
                await gateway.flush()
            elapsed = time.perf_counter() - began
            log.info(
                "simulate: done readings=%d messages=%d seconds=%.1f", readings, messages, elapsed
            )
            return RunStats(readings, messages, truth.count, elapsed, distinct)
