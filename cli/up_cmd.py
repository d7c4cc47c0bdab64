"""`coldchain up`: the whole pipeline on one machine, for a demo or a first look.

Starts mosquitto and influxd as child processes with their data under the data dir, loads
the fleet into the catalog, starts ingest (and every other service that exists), fills the
past with simulated history as fast as it can, then simulates the fleet live. Services
that die are restarted, as systemd would; Ctrl-C stops everything in reverse order.
"""

from __future__ import annotations

import contextlib
import os
import secrets
import signal
import subprocess
import sys
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Annotated

import typer

from cli.local_servers import LocalInflux, LocalMosquitto, free_port, port_is_free
from cli.options import DataDir, build_settings, catalog_engine, fail
from coldchain.catalog.credentials import set_password
from coldchain.catalog.store import catalog_session
from coldchain.config import Settings
from coldchain.fleet import load_fleet
from coldchain.pipeline_metrics import read_metrics

__all__ = ["up"]

_REPO = Path(__file__).resolve().parents[1]
DEMO_FLEET = _REPO / "deploy" / "demo" / "fleet.yaml"
# Long-running services `up` supervises, in start order, with the log line that says a
# service is ready. The simulators start only then: a message published before ingest has
# its persistent session would have no session to wait in.
SERVICES: tuple[tuple[str, str], ...] = (
    ("ingest", "mqtt: connected"),
    ("detect", "mqtt: connected"),
    ("api", "Uvicorn running"),
)
_READY_TIMEOUT_S = 60.0


@dataclass
class _Child:
    name: str
    argv: list[str]
    log: Path
    env: dict[str, str]
    restart: bool
    process: subprocess.Popen[bytes] | None = None
    restarts: int = 0

    def start(self) -> None:
        with self.log.open("ab") as sink:
            # A session of its own: Ctrl-C in the terminal reaches `up` only, which then
            # stops the services in order instead of all at once.
            self.process = subprocess.Popen(
                self.argv,
                stdout=sink,
                stderr=subprocess.STDOUT,
                env=self.env,
                cwd=_REPO,
                start_new_session=True,
            )

    def wait_for_line(self, text: str, timeout_s: float) -> bool:
        deadline = time.monotonic() + timeout_s
        while time.monotonic() < deadline and self.exited() is None:
            if text in self.log.read_text(errors="replace"):
                return True
            time.sleep(0.1)
        return False

    def exited(self) -> int | None:
        return None if self.process is None else self.process.poll()

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.send_signal(signal.SIGTERM)
            try:
                self.process.wait(timeout=20)
            except subprocess.TimeoutExpired:
                self.process.kill()
                self.process.wait()


def _port(wanted: int, what: str) -> int:
    if port_is_free(wanted):
        return wanted
    port = free_port()
    typer.echo(f"port {wanted} for {what} is taken (a system service?); using {port}")
    return port


def _demo_logins(settings: Settings, fleet: Path) -> str:
    """A random password per fleet user that has none, kept in the data dir (mode 0600), so
    a newcomer can log in to the page; never a fixed default password."""
    path = settings.data_dir / "secrets" / "demo-logins.txt"
    if path.exists():
        return f"the users in {path}"
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    lines = []
    # `catalog import` has just migrated it.
    with catalog_engine(settings, migrate=False) as engine, catalog_session(engine) as session:
        for user in load_fleet(fleet).users:
            password = secrets.token_urlsafe(12)
            set_password(session, user_id=user.id, password=password, actor="cli:up")
            lines.append(f"{user.id} ({user.role.value}) {password}")
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    with os.fdopen(fd, "w") as sink:
        sink.write("\n".join(lines) + "\n")
    return f"the users in {path}"


def _verb(*args: str) -> list[str]:
    return [sys.executable, "-m", "cli.main", *args]


def _points_written(data_dir: Path) -> int:
    total = 0
    for snapshot in read_metrics(data_dir, "ingest").values():
        try:
            total += int(snapshot.values.get("lines_written", 0))
        except ValueError:
            continue
    return total


def up(
    data_dir: DataDir = None,
    fleet: Annotated[Path, typer.Option(help="fleet file to load and simulate")] = DEMO_FLEET,
    mqtt_port: Annotated[int, typer.Option(help="broker port (another if taken)")] = 1883,
    influx_port: Annotated[int, typer.Option(help="InfluxDB port (another if taken)")] = 8086,
    api_port: Annotated[int, typer.Option(help="API and web page port (another if taken)")] = 8000,
    history: Annotated[str, typer.Option(help="simulated past to fill first, e.g. 1d")] = "1d",
    speed: Annotated[float, typer.Option(help="live simulation speed")] = 1.0,
    run_for: Annotated[
        float | None, typer.Option(help="stop after this many seconds (for smoke tests)")
    ] = None,
) -> None:
    """Run broker, database, catalog, ingest and a simulated fleet until Ctrl-C."""
    var = (data_dir or Path("var")).resolve()
    settings = build_settings(data_dir=var)
    logs = var / "logs"
    logs.mkdir(parents=True, exist_ok=True)
    # Everything started is stopped in reverse order: after Ctrl-C, or as soon as a step
    # fails, so a failed start leaves no server behind.
    with contextlib.ExitStack() as running:
        mosquitto, influx = _start_servers(running, var, mqtt_port, influx_port)
        api_port = _port(api_port, "the API")
        env = {
            **os.environ,
            "COLDCHAIN_API_PORT": str(api_port),
            "COLDCHAIN_MQTT_URL": mosquitto.url,
            "COLDCHAIN_INFLUX_URL": influx.url,
            "COLDCHAIN_DATA_DIR": str(var),
            "PYTHONPATH": str(_REPO),
        }
        logins = _load_catalog(settings, fleet, env)
        services = _start_services(running, env, logs)
        past, live = _start_simulators(running, env, logs, fleet, history, speed)
        typer.echo(
            "coldchain is up\n"
            f"  web page     http://127.0.0.1:{api_port}/  (API under /v1)\n"
            f"  log in as    {logins}\n"
            f"  MQTT broker  {mosquitto.url}\n"
            f"  InfluxDB     {influx.url}  (database coldchain)\n"
            f"  catalog      {var / 'catalog.sqlite3'}  (fleet {fleet})\n"
            f"  logs         {logs}/\n"
            f"  try          curl -s {influx.url}/query --data-urlencode db=coldchain "
            "--data-urlencode 'q=SELECT last(temp_c) FROM reading GROUP BY device, sensor'\n"
            "Ctrl-C stops everything; the data stays in the data dir."
        )
        try:
            _supervise([*services, past], live, var, run_for)
        finally:
            running.close()
            typer.echo("coldchain stopped")


def _start_servers(
    running: contextlib.ExitStack, var: Path, mqtt_port: int, influx_port: int
) -> tuple[LocalMosquitto, LocalInflux]:
    """mosquitto and influxd, their data under `var`, on the ports asked for if free."""
    mosquitto = LocalMosquitto(var / "mosquitto", _port(mqtt_port, "MQTT"))
    influx = LocalInflux(var / "influxdb", _port(influx_port, "InfluxDB"))
    for server in (mosquitto, influx):
        # Registered first: a server that started but never became ready is stopped too.
        running.callback(server.stop)
        server.start()
    return mosquitto, influx


def _load_catalog(settings: Settings, fleet: Path, env: dict[str, str]) -> str:
    """Import the fleet as `coldchain catalog import` would, then give its users demo
    passwords; returns where a newcomer finds them."""
    imported = subprocess.run(
        _verb("catalog", "import", str(fleet)), env=env, cwd=_REPO, capture_output=True
    )
    if imported.returncode != 0:
        fail(imported.stderr.decode(errors="replace"), imported.returncode)
    return _demo_logins(settings, fleet)


def _start_services(running: contextlib.ExitStack, env: dict[str, str], logs: Path) -> list[_Child]:
    """Each of `SERVICES` in turn, waiting until it says it is ready."""
    services = []
    for name, ready_line in SERVICES:
        child = _Child(name, _verb(name), logs / f"{name}.log", env, restart=True)
        running.callback(child.stop)
        child.start()
        if not child.wait_for_line(ready_line, _READY_TIMEOUT_S):
            fail(f"{name} did not become ready; see {child.log}", 1)
        services.append(child)
    return services


def _start_simulators(
    running: contextlib.ExitStack,
    env: dict[str, str],
    logs: Path,
    fleet: Path,
    history: str,
    speed: float,
) -> tuple[_Child, _Child]:
    """The history simulation, started now as fast as it goes, and the live one, which
    `_supervise` starts once the history is filled."""
    past = _Child(
        "history",
        _verb("simulate", str(fleet), "--speed", "0", "--duration", history),
        logs / "simulate-history.log",
        env,
        restart=False,
    )
    live = _Child(
        "simulate",
        _verb("simulate", str(fleet), "--speed", str(speed), "--duration", "3650d"),
        logs / "simulate-live.log",
        env,
        restart=True,
    )
    running.callback(past.stop)
    running.callback(live.stop)
    past.start()
    return past, live


def _supervise(children: list[_Child], live: _Child, var: Path, run_for: float | None) -> None:
    """Tend the children and report progress every ten seconds until SIGTERM, SIGINT or
    `run_for` seconds."""
    stop = {"now": False}

    def request_stop(signum: int, frame: object) -> None:
        stop["now"] = True

    signal.signal(signal.SIGTERM, request_stop)
    signal.signal(signal.SIGINT, request_stop)
    started = time.monotonic()
    last_report = 0.0
    while not stop["now"]:
        if run_for is not None and time.monotonic() - started >= run_for:
            break
        time.sleep(0.5)
        for child in [*children, live]:
            _tend(child, live, stopping=stop["now"])
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            typer.echo(f"points written to InfluxDB so far: {_points_written(var):,}")


def _tend(child: _Child, live: _Child, *, stopping: bool) -> None:
    """If `child` has exited: a filled history hands over to the live simulation, a
    service is restarted (as systemd would, backing off), any other failure is reported."""
    code = child.exited()
    if code is None or child.process is None:
        return
    if child.name == "history" and code == 0 and live.process is None:
        typer.echo("history filled; simulating live")
        live.start()
        child.process = None
    elif child.restart and not stopping:
        typer.echo(f"{child.name} exited with {code}; restarting (log {child.log})")
        child.restarts += 1
        time.sleep(min(5.0, 0.5 * child.restarts))
        child.start()
    elif code != 0:
        typer.echo(f"{child.name} failed with {code}; see {child.log}")
        child.process = None
