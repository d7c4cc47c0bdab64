"""Real mosquitto and influxd processes on free loopback ports, for tests and benchmarks.

Each server runs in its own temporary directory, is waited on with a deadline until it
answers, and is stopped (SIGTERM, then SIGKILL) when the context exits.
"""

from __future__ import annotations

import contextlib
import getpass
import os
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Iterator
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["InfluxServer", "MosquittoServer", "free_port", "running_influxd", "running_mosquitto"]

_REPO = Path(__file__).resolve().parents[1]
_MOSQUITTO_BASE = _REPO / "deploy" / "mosquitto" / "mosquitto.conf"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def _binary(name: str, *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError(f"{name} not found: run `make deps` (apt-get install mosquitto influxdb)")


def _wait(deadline_s: float, ready: object, process: subprocess.Popen[bytes], log: Path) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            raise RuntimeError(
                f"server exited with {process.returncode}: {log.read_text()[-2000:]}"
            )
        if callable(ready) and ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"server not ready after {deadline_s}s: {log.read_text()[-2000:]}")


def _stop(process: subprocess.Popen[bytes], sig: int = signal.SIGTERM) -> None:
    if process.poll() is None:
        process.send_signal(sig)
        try:
            process.wait(timeout=15)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


@dataclass
class MosquittoServer:
    """A mosquitto with the project's broker config (persistence, large queues)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            _MOSQUITTO_BASE.read_text()
            + f"\nlistener {self.port} 127.0.0.1\nallow_anonymous true\nuser {getpass.getuser()}\n"
            + f"persistence_location {self.directory}/\n"
            + f"log_dest file {self.directory}/mosquitto.log\n"
        )
        log = self.directory / "mosquitto.log"
        log.touch()
        self.process = subprocess.Popen(
            [_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
        )
        _wait(15, lambda: _port_open(self.port), self.process, log)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            _stop(self.process, sig)

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class InfluxServer:
    """An influxd 1.x with its meta, data and WAL under `directory`."""

    directory: Path
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "influxdb.conf"
        conf.write_text(
            f"""reporting-disabled = true
bind-address = "127.0.0.1:{self.rpc_port}"
[meta]
  dir = "{self.directory}/meta"
[data]
  dir = "{self.directory}/data"
  wal-dir = "{self.directory}/wal"
  query-log-enabled = false
[monitor]
  store-enabled = false
[http]
  bind-address = "127.0.0.1:{self.port}"
  log-enabled = false
  max-body-size = 0
[logging]
  level = "warn"
"""
        )
        log = self.directory / "influxd.log"
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [_binary("influxd"), "run", "-config", str(conf)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                env={**os.environ, "INFLUXDB_DATA_QUERY_LOG_ENABLED": "false"},
            )
        _wait(30, self._pings, self.process, log)

    def _pings(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        if self.process is not None:
            _stop(self.process, sig)

    def restart(self) -> None:
        self.stop()
        self.start()


@contextlib.contextmanager
def running_mosquitto(directory: Path) -> Iterator[MosquittoServer]:
    server = MosquittoServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()


@contextlib.contextmanager
def running_influxd(directory: Path) -> Iterator[InfluxServer]:
    server = InfluxServer(directory)
    server.start()
    try:
        yield server
    finally:
        server.stop()
