"""`coldchain up`: the whole pipeline on one machine, for a demo or a first look.

Starts mosquitto and influxd as child processes with their data under the data dir, loads
the fleet into the catalog, starts ingest (and every other service that exists), then runs
one simulation of the fleet that fills the past as fast as it can and goes on live from
now. A fleet with a story (`simulation.story_start`, the demo's) is first copied to
`{data_dir}/demo-fleet.yaml` with its placements moved to the history's start, so the
story happens in the simulated past; the demo also imports a real USB logger file.
Services that die are restarted, as systemd would; Ctrl-C stops everything in reverse order.
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
from cli.simulate_cmd import HISTORY_LINE
from coldchain import times
from coldchain.catalog.credentials import set_password
from coldchain.catalog.store import catalog_session
from coldchain.config import Settings
from coldchain.errors import ConfigError
from coldchain.fleet import load_fleet
from coldchain.pipeline_metrics import read_metrics
from simulators.durations import parse_duration_s
from simulators.story import rebase_story, story_start_ms

__all__ = ["up"]

_REPO = Path(__file__).resolve().parents[1]
DEMO_FLEET = _REPO / "deploy" / "demo" / "fleet.yaml"
# The demo's batch LOT-0006 travelled on SHP-050 in November 2022 with this Q-tag; its file
# is imported as the receiving warehouse would on arrival (a real, signed device export).
DEMO_LOGGER_FILE = (
    _REPO
    / "tests/data/real-loggers/msupply-berlinger-fridgetag-qtag/data/QTag CLm doc LR"
    / "RCPJ00010_02_202211090128.txt"
)
DEMO_LOGGER_SHIPMENT = "SHP-050"
# The live simulation runs until stopped; its plan needs an end.
_LIVE_SPAN = "3650d"
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
    history: Annotated[
        str,
        typer.Option(
            help="simulated past to fill first, e.g. 1d (a data dir that already holds a "
            "story continues it)"
        ),
    ] = "1d",
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
        demo = fleet.resolve() == DEMO_FLEET
        fleet, start_ms = _story(fleet, var, history)
        logins = _load_catalog(settings, fleet, env)
        _setup_influx(env)
        services = _start_services(running, env, logs)
        if demo:
            _import_logger_file(env, logs)
        simulation, history_lines = _start_simulation(running, env, logs, fleet, start_ms, speed)
        typer.echo(
            "coldchain is up\n"
            f"  web page     http://127.0.0.1:{api_port}/  (API under /v1)\n"
            f"  log in as    {logins}\n"
            f"  MQTT broker  {mosquitto.url}\n"
            f"  InfluxDB     {influx.url}  (database coldchain)\n"
            f"  catalog      {var / 'catalog.sqlite3'}  (fleet {fleet})\n"
            f"  history from {times.rfc3339_ms(start_ms)}, then live\n"
            f"  logs         {logs}/\n"
            f"  try          curl -s {influx.url}/query --data-urlencode db=coldchain "
            "--data-urlencode 'q=SELECT last(temp_c) FROM reading GROUP BY device, sensor'\n"
            "Ctrl-C stops everything; the data stays in the data dir."
        )
        try:
            _supervise([*services, simulation], history_lines, var, run_for)
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


def _setup_influx(env: dict[str, str]) -> None:
    """The downsampled series' retention policies, as an operator's setup creates them (the
    demo's InfluxDB has no users, so no admin is needed); ingest fills them."""
    done = subprocess.run(
        _verb("dashboards", "setup-influx"), env=env, cwd=_REPO, capture_output=True
    )
    if done.returncode != 0:
        fail(done.stderr.decode(errors="replace"), done.returncode)


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


def _story(fleet: Path, var: Path, history: str) -> tuple[Path, int]:
    """The fleet to load and simulate, and the simulation's start: `history` before now,
    or, for a fleet with a story, the start of its copy in the data dir (written on the
    first run, with the placements moved there; later runs continue the same story)."""
    try:
        start_ms = times.now_ms() // 60_000 * 60_000 - round(parse_duration_s(history) * 1000)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--history") from exc
    try:
        if story_start_ms(load_fleet(fleet)) is None:
            return fleet, start_ms
        story = var / "demo-fleet.yaml"
        if not story.exists():
            rebase_story(fleet, story, start_ms)
            return story, start_ms
        kept = story_start_ms(load_fleet(story))
    except ConfigError as exc:
        fail(f"fleet error: {exc}", 2)
    return story, start_ms if kept is None else kept


def _import_logger_file(env: dict[str, str], logs: Path) -> None:
    """The demo's USB logger file, imported as at the shipment's arrival (again on a later
    run: the import is idempotent). A failure is reported, not fatal: the rest of the
    demo stands without it."""
    log = logs / "logger-import.log"
    argv = _verb(
        "logger",
        "import",
        str(DEMO_LOGGER_FILE),
        "--shipment",
        DEMO_LOGGER_SHIPMENT,
    )
    done = subprocess.run(argv, env=env, cwd=_REPO, capture_output=True)
    with log.open("ab") as sink:
        sink.write(done.stdout + done.stderr)
    if done.returncode != 0:
        typer.echo(f"logger import failed with {done.returncode}; see {log}")
        return
    said = [
        line
        for line in done.stdout.decode(errors="replace").splitlines()
        if line.startswith(("imported:", "already imported"))
    ]
    typer.echo(f"logger file {DEMO_LOGGER_FILE.name} on {DEMO_LOGGER_SHIPMENT}: {' '.join(said)}")


def _start_simulation(
    running: contextlib.ExitStack,
    env: dict[str, str],
    logs: Path,
    fleet: Path,
    start_ms: int,
    speed: float,
) -> tuple[_Child, _HistoryRelay]:
    """One simulation from `start_ms`: as fast as it goes until now (the history), then
    live at `speed`, so the past and the present share one plan, faults included."""
    child = _Child(
        "simulate",
        _verb(
            "simulate",
            str(fleet),
            "--start",
            times.rfc3339_ms(start_ms),
            "--catch-up",
            "--speed",
            str(speed),
            "--duration",
            _LIVE_SPAN,
        ),
        logs / "simulate.log",
        env,
        restart=True,
    )
    running.callback(child.stop)
    relay = _HistoryRelay(child.log)
    child.start()
    return child, relay


class _HistoryRelay:
    """Shows the simulation's history lines (progress, then its summary) on the command line
    as they appear in its log."""

    def __init__(self, log: Path) -> None:
        self._log = log
        self._offset = log.stat().st_size if log.exists() else 0

    def relay(self) -> None:
        if not self._log.exists():
            return
        with self._log.open("rb") as source:
            source.seek(self._offset)
            data = source.read()
        complete = data[: data.rfind(b"\n") + 1]  # a line still being written waits
        self._offset += len(complete)
        for line in complete.decode(errors="replace").splitlines():
            if line.startswith(HISTORY_LINE):
                typer.echo(line)


def _supervise(
    children: list[_Child], history: _HistoryRelay, var: Path, run_for: float | None
) -> None:
    """Tend the children and report progress (the history's as it fills, then the points
    written every ten seconds) until SIGTERM, SIGINT or `run_for` seconds."""
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
        history.relay()
        for child in children:
            _tend(child, stopping=stop["now"])
        if time.monotonic() - last_report >= 10:
            last_report = time.monotonic()
            typer.echo(f"points written to InfluxDB so far: {_points_written(var):,}")


def _tend(child: _Child, *, stopping: bool) -> None:
    """If `child` has exited: a service is restarted (as systemd would, backing off), any
    other failure is reported."""
    code = child.exited()
    if code is None or child.process is None:
        return
    if child.restart and not stopping:
        typer.echo(f"{child.name} exited with {code}; restarting (log {child.log})")
        child.restarts += 1
        time.sleep(min(5.0, 0.5 * child.restarts))
        child.start()
    elif code != 0:
        typer.echo(f"{child.name} failed with {code}; see {child.log}")
        child.process = None
