"""The simulator's rates as `coldchain simulate` runs them: load mode over MQTT and a
history written to a file.

    python -m benchmarks.bench_simulator [--units 200] [--shipments 20] [--hours 24] [--days 7]

Generates a fleet with `simulators.fleetgen`, starts its own mosquitto with the project's
broker config, and runs the command a user runs, printing it and its own report line:
`coldchain simulate FLEET --load` (as fast as the broker acknowledges, an hour of a unit's
readings per message, QoS 1) and `coldchain simulate FLEET --to-file` (line protocol).
Both reports time the run itself, not the command's start-up. Nothing subscribes to the
broker, so load mode measures the simulator and the broker's PUBACKs, not a consumer.
"""

from __future__ import annotations

import argparse
import os
import subprocess
import sys
import tempfile
from pathlib import Path

import yaml

from simulators.fleetgen import generate_fleet
from tests.support.servers import running_mosquitto

_REPO = Path(__file__).resolve().parents[1]
START = "2026-01-01T00:00:00Z"  # where fleetgen's placements begin


def _simulate(fleet: Path, *options: str) -> None:
    command = ["simulate", fleet.name, "--start", START, *options]
    print(f"$ coldchain {' '.join(command)}", flush=True)
    done = subprocess.run(
        [sys.executable, "-m", "cli.main", *command],
        cwd=fleet.parent,
        env={**os.environ, "PYTHONPATH": str(_REPO)},
        capture_output=True,
        text=True,
        check=True,
    )
    print(done.stdout.strip(), flush=True)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--units", type=int, default=200)
    parser.add_argument("--shipments", type=int, default=20)
    parser.add_argument("--hours", type=int, default=24, help="simulated, load mode")
    parser.add_argument("--days", type=int, default=7, help="simulated, to a file")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-sim-") as tmp:
        fleet = Path(tmp) / f"fleet-{args.units}-units.yaml"
        fleet.write_text(yaml.safe_dump(generate_fleet(units=args.units, shipments=args.shipments)))
        with running_mosquitto(Path(tmp) / "mq") as broker:
            _simulate(fleet, "--load", "--duration", f"{args.hours}h", "--mqtt-url", broker.url)
        _simulate(fleet, "--to-file", "history.lp", "--duration", f"{args.days}d")


if __name__ == "__main__":
    main()
