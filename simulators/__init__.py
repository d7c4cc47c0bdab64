"""Storage units and shipment loggers that publish over MQTT (see README.md)."""

from simulators.engine import Chunk, Simulation
from simulators.fleetgen import generate_fleet
from simulators.plan import SimPlan, build_plan
from simulators.runner import RunStats, run_to_file, run_to_mqtt
from simulators.truth import TruthEvent

__all__ = [
    "Chunk",
    "RunStats",
    "SimPlan",
    "Simulation",
    "TruthEvent",
    "build_plan",
    "generate_fleet",
    "run_to_file",
    "run_to_mqtt",
]
