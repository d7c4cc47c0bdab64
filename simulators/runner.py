"""Runs a simulation to MQTT (paced at a speed, or as fast as possible, or catching up with
now and then paced) or to a file, writing the ground truth as it goes."""

from __future__ import annotations

import asyncio
import contextlib
import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from coldchain import times
from coldchain.config import MqttEndpoint
from coldchain.mqtt import MqttPublisher
from simulators.engine import Simulation
from simulators.filesink import FileFormat, ReadingsFile
from simulators.outbound import GatewayMessage, ReadingsMessage
from simulators.truth import GroundTruthWriter

__all__ = ["CatchUp", "RunStats", "run_to_file", "run_to_mqtt"]

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


@dataclass(frozen=True, slots=True)
class CatchUp:
    """How far a catching-up run has come: simulated time `done_ms` of `span_ms` (from the
    plan's start to now) published, `caught_up` once the simulation has reached now."""

    done_ms: int
    span_ms: int
    readings: int
    messages: int
    elapsed_s: float
    caught_up: bool


class _Pacer:
    """When each message is due on the wall clock: `speed` simulated seconds per second from
    the plan's start, or, catching up, as fast as possible while a message is due at or
    before now and at `speed` from the moment the simulation reaches now (so a history and
    the live run that continues it are one run: same start, same faults)."""

    def __init__(self, start_ms: int, speed: float, *, catch_up: bool, wall: float) -> None:
        self.speed = speed
        self.catching_up = catch_up
        self._sim_ms, self._wall = start_ms, wall

    def reaches_now(self, due_ms: int, wall: float) -> bool:
        """True once, for the first message due after now; from then on the run is paced."""
        if not self.catching_up or due_ms <= (now_ms := times.now_ms()):
            return False
        self.catching_up = False
        self._sim_ms, self._wall = now_ms, wall
        return True

    def delay_s(self, due_ms: int, wall: float) -> float:
        if self.catching_up or self.speed <= 0:
            return 0.0
        return self._wall + (due_ms - self._sim_ms) / 1000 / self.speed - wall


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
    catch_up: bool = False,
    progress: Callable[[CatchUp], None] | None = None,
) -> RunStats:
    """Publish every message over MQTT, one connection per site gateway.

    Args:
        speed: simulated seconds per wall-clock second (60: an hour a minute); 0 sends
            as fast as the broker acknowledges.
        catch_up: send as fast as possible what is due up to now, then pace at `speed`
            (a plan that starts in the past fills the history first).
        progress: called after each simulated hour while catching up, and once more
            (`caught_up` true) when the run reaches now or ends first.
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
        began = time.perf_counter()
        pacer = _Pacer(sim.plan.start_ms, speed, catch_up=catch_up, wall=loop.time())
        span_ms = max(times.now_ms() - sim.plan.start_ms, 0)

        def report(done_ms: int) -> None:
            if progress is not None:
                elapsed = time.perf_counter() - began
                caught_up = not pacer.catching_up
                progress(CatchUp(done_ms, span_ms, readings, messages, elapsed, caught_up))

        with GroundTruthWriter(ground_truth) as truth:
            for chunk in sim.chunks():
                for m in chunk.messages:
                    if pacer.reaches_now(m.due_ms, loop.time()):
                        for gateway in gateways.values():
                            await gateway.flush()  # the history is at the broker
                        report(span_ms)
                    if (delay := pacer.delay_s(m.due_ms, loop.time())) > 0:
                        await asyncio.sleep(delay)
                    retain = isinstance(m, GatewayMessage)
                    await gateways[m.site].publish(m.topic, m.payload(), retain=retain)
                    messages += 1
                    if isinstance(m, ReadingsMessage):
                        readings += len(m.readings)
                        distinct += 0 if m.duplicate else len(m.readings)
                truth.write(chunk.truth)
                if pacer.catching_up:
                    report(min(chunk.end_ms - sim.plan.start_ms, span_ms))
            truth.write(sim.finish())
            for gateway in gateways.values():
                await gateway.flush()
                gateway.check_delivered()  # a refused reading was never sent, whatever we count
            if pacer.catching_up:  # the plan ended before now
                pacer.catching_up = False
                report(min(sim.plan.end_ms - sim.plan.start_ms, span_ms))
            elapsed = time.perf_counter() - began
            log.info(
                "simulate: done readings=%d messages=%d seconds=%.1f", readings, messages, elapsed
            )
            return RunStats(readings, messages, truth.count, elapsed, distinct)
