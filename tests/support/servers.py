"""Real mosquitto and influxd processes on free loopback ports, for tests and benchmarks.

The servers themselves live in cli/local_servers.py (shared with `coldchain up`); this
module gives tests context managers that always stop them.
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator
from pathlib import Path

from cli.local_servers import LocalInflux, LocalMosquitto, free_port

__all__ = [
    "InfluxServer",
    "MosquittoServer",
    "free_port",
    "running_influxd",
    "running_mosquitto",
]

MosquittoServer = LocalMosquitto
InfluxServer = LocalInflux


@contextlib.contextmanager
def running_mosquitto(directory: Path) -> Iterator[MosquittoServer]:
    server = MosquittoServer(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_influxd(directory: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(directory)
    try:
        server.start()
        yield server
    finally:
        server.stop()
