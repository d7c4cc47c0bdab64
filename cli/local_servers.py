"""Mosquitto and influxd as child processes with their data in one folder.

Used by `coldchain up` (the demo) and by the test fixtures, so both run the servers with
the project's own configs in deploy/ (persistence and queue bounds for mosquitto, WAL
fsync for influxd), never with a package's defaults.
"""

from __future__ import annotations

import contextlib
import getpass
import shutil
import signal
import socket
import subprocess
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import httpx

__all__ = ["LocalInflux", "LocalMosquitto", "free_port", "port_is_free"]

_DEPLOY = Path(__file__).resolve().parents[1] / "deploy"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def port_is_free(port: int) -> bool:
    with socket.socket() as sock:
        try:
            sock.bind(("127.0.0.1", port))
        except OSError:
            return False
        return True


def _binary(name: str, *fallbacks: str) -> str:
    for candidate in (name, *fallbacks):
        found = shutil.which(candidate)
        if found:
            return found
    raise RuntimeError(
        f"{name} not found: install it with `make deps` (apt-get install mosquitto influxdb)"
    )


def _port_open(port: int) -> bool:
    with contextlib.suppress(OSError), socket.create_connection(("127.0.0.1", port), 0.2):
        return True
    return False


def _wait_ready(
    name: str,
    process: subprocess.Popen[bytes],
    ready: Callable[[], bool],
    log: Path,
    deadline_s: float,
) -> None:
    end = time.monotonic() + deadline_s
    while time.monotonic() < end:
        if process.poll() is not None:
            tail = log.read_text(errors="replace")[-2000:] if log.exists() else ""
            raise RuntimeError(f"{name} exited with {process.returncode}: {tail}")
        if ready():
            return
        time.sleep(0.05)
    raise RuntimeError(f"{name} not ready after {deadline_s}s (log: {log})")


def _stop(process: subprocess.Popen[bytes] | None, sig: int = signal.SIGTERM) -> None:
    if process is None or process.poll() is not None:
        return
    process.send_signal(sig)
    try:
        process.wait(timeout=15)
    except subprocess.TimeoutExpired:
        process.kill()
        process.wait()


@dataclass
class LocalMosquitto:
    """A mosquitto with deploy/mosquitto/mosquitto.conf (persistence, large queues)."""

    directory: Path
    port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # `listeners.conf` from `coldchain broker config` (passwords, ACL, TLS): replaces the
    # anonymous loopback listener and must open `port` itself.
    auth_conf: Path | None = None
    # Appended after the shipped config, whose settings it overrides (e.g. a raised
    # message_size_limit / max_packet_size, for tests of what ingest does past them).
    extra_conf: str = ""

    @property
    def url(self) -> str:
        return f"mqtt://127.0.0.1:{self.port}"

    def _listener_lines(self) -> str:
        if self.auth_conf is not None:
            return "\n# authenticated listeners (coldchain broker config)\n" + (
                self.auth_conf.read_text()
            )
        return (
            "\n# local listener: loopback only, no authentication (demo and tests)\n"
            + f"listener {self.port} 127.0.0.1\nallow_anonymous true\n"
        )

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        log = self.directory / "mosquitto.log"
        conf = self.directory / "mosquitto.conf"
        conf.write_text(
            (_DEPLOY / "mosquitto" / "mosquitto.conf").read_text()
            + self._listener_lines()
            + f"user {getpass.getuser()}\n"
            + f"persistence_location {self.directory}/\nlog_dest file {log}\n"
            + self.extra_conf
        )
        self.process = subprocess.Popen(
            [_binary("mosquitto", "/usr/sbin/mosquitto"), "-c", str(conf)],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.STDOUT,
            start_new_session=True,  # Ctrl-C goes to `up`, which stops servers last
        )
        _wait_ready("mosquitto", self.process, lambda: _port_open(self.port), log, 15)

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _stop(self.process, sig)

    def restart(self) -> None:
        self.stop()
        self.start()


@dataclass
class LocalInflux:
    """An influxd 1.x with deploy/influxdb/influxdb.conf, its data under `directory`."""

    directory: Path
    port: int = field(default_factory=free_port)
    rpc_port: int = field(default_factory=free_port)
    process: subprocess.Popen[bytes] | None = None
    # True: deploy/influxdb/influxdb-auth.conf (users required; `coldchain influx setup-users`)
    auth_enabled: bool = False

    @property
    def url(self) -> str:
        return f"http://127.0.0.1:{self.port}"

    def start(self) -> None:
        self.directory.mkdir(parents=True, exist_ok=True)
        conf = self.directory / "influxdb.conf"
        name = "influxdb-auth.conf" if self.auth_enabled else "influxdb.conf"
        template = (_DEPLOY / "influxdb" / name).read_text()
        conf.write_text(
            template.replace("{directory}", str(self.directory))
            .replace("{port}", str(self.port))
            .replace("{rpc_port}", str(self.rpc_port))
        )
        log = self.directory / "influxd.log"
        with log.open("ab") as sink:
            self.process = subprocess.Popen(
                [_binary("influxd"), "run", "-config", str(conf)],
                stdout=sink,
                stderr=subprocess.STDOUT,
                start_new_session=True,
            )
        _wait_ready("influxd", self.process, self._pings, log, 30)

    def _pings(self) -> bool:
        try:
            return httpx.get(f"{self.url}/ping", timeout=0.5).status_code == 204
        except httpx.HTTPError:
            return False

    def stop(self, sig: int = signal.SIGTERM) -> None:
        _stop(self.process, sig)

    def restart(self) -> None:
        self.stop()
        self.start()
