"""Load mode: how many readings per second the simulator alone publishes (batched, QoS 1).

Usage:
    .venv/bin/python -m benchmarks.bench_simulator [--units 200] [--shipments 20] [--hours 6]

Starts its own mosquitto (tests.servers.running_mosquitto) with the project's broker
config, generates a large fleet with `simulators.fleetgen`, runs it as fast as possible
with an hour of a unit's readings per message, and prints readings/s. Nothing subscribes,
so this measures the simulator and the broker's PUBACKs, not a consumer.
"""

from __future__ import annotations

import argparse
import asyncio
import tempfile
from pathlib import Path

from coldchain.config import MqttEndpoint
from coldchain.fleet import Fleet
from simulators.engine import Simulation
from simulators.fleetgen import generate_fleet
from simulators.plan import build_plan
from simulators.runner import run_to_mqtt
from tests.servers import running_mosquitto

START_MS = 1_767_225_600_000


def main() -> None:
    parser = argparse.ArgumentParser()
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--shipments", type=int, default=20)
    parser.add_argument("--hours", type=int, default=6)
    parser.add_argument("--batch-s", type=float, default=3600.0)
    args = parser.parse_args()
    fleet = Fleet.model_validate(generate_fleet(units=args.units, shipments=args.shipments))
    plan = build_plan(fleet, START_MS, START_MS + args.hours * 3_600_000, seed=1)
    with tempfile.TemporaryDirectory() as tmp, running_mosquitto(Path(tmp)) as broker:
        stats = asyncio.run(
            run_to_mqtt(Simulation(plan, batch_s=args.batch_s), MqttEndpoint(broker.url), speed=0.0)
        )
    print(
        f"units={args.units} shipments={args.shipments} simulated_hours={args.hours} "
        f"readings={stats.readings} messages={stats.messages} seconds={stats.elapsed_s:.2f} "
        f"readings_per_s={stats.readings_per_s:,.0f}"
    )


if __name__ == "__main__":
    main()
