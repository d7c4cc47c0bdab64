"""`coldchain up` (the README's demo command) starts everything: data flows into InfluxDB,
the page answers, and a demo user can log in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from cli.up_cmd import DEMO_FLEET
from coldchain.fleet import load_fleet
from tests.support.pipeline import wait_until
from tests.support.servers import free_port

pytestmark = pytest.mark.integration

_REPO = Path(__file__).resolve().parents[2]
HISTORY_S = 3 * 3600


def _influx_of(output: str) -> tuple[str, str]:
    """The InfluxDB `up` started (it takes another port if the one asked for is busy)."""
    found = re.search(r"InfluxDB\s+(http://\S+)\s+\(database (\w+)\)", output)
    assert found, output
    return found[1], found[2]


def _stored_counts(influx_url: str, database: str) -> dict[tuple[str, str, str], int]:
    """Readings in InfluxDB per (source, device, sensor)."""
    query = 'SELECT count("temp_c") FROM "reading" GROUP BY "source", "device", "sensor"'
    try:
        response = httpx.post(f"{influx_url}/query", data={"q": query, "db": database}, timeout=10)
    except httpx.HTTPError:
        return {}
    result = response.json()["results"][0]
    return {
        (s["tags"]["source"], s["tags"]["device"], s["tags"]["sensor"]): int(s["values"][0][1])
        for s in result.get("series", [])
    }


def test_up_runs_the_pipeline_serves_the_page_and_stops_cleanly(tmp_path: Path) -> None:
    var = tmp_path / "var"
    api_port = free_port()
    process = subprocess.Popen(
        [
            sys.executable,
            "-m",
            "cli.main",
            "up",
            "--data-dir",
            str(var),
            "--mqtt-port",
            str(free_port()),
            "--influx-port",
            str(free_port()),
            "--api-port",
            str(api_port),
            "--history",
            f"{HISTORY_S // 3600}h",
            "--run-for",
            "35",
        ],
        cwd=_REPO,
        stdout=subprocess.PIPE,
        stderr=subprocess.STDOUT,
        text=True,
    )
    assert process.stdout is not None
    lines: list[str] = []
    try:
        for line in process.stdout:
            lines.append(line)
            if line.startswith("Ctrl-C stops everything"):
                break
        assert any(f"http://127.0.0.1:{api_port}/" in line for line in lines), lines
        page = httpx.get(f"http://127.0.0.1:{api_port}/", timeout=10)
        assert page.status_code == 200
        assert "text/html" in page.headers["content-type"]
        user, role, password = (var / "secrets" / "demo-logins.txt").read_text().split()[:3]
        assert role == "(sponsor_viewer)"
        login = httpx.post(
            f"http://127.0.0.1:{api_port}/v1/auth/token",
            data={"username": user, "password": password},
            timeout=10,
        )
        assert login.status_code == 200, login.text
        assert login.json()["token_type"] == "bearer"
        influx_url, database = _influx_of("".join(lines))
        for line in process.stdout:
            lines.append(line)
            if line.startswith("history filled"):
                break
        # What the real influxd `up` started holds: every unit sensor's readings for the
        # whole history (one per log interval, give or take the window's two ends), and
        # each shipment logger's.
        fleet = load_fleet(DEMO_FLEET)
        wanted = {
            ("unit", unit.id, sensor.id): HISTORY_S // unit.log_interval_s - 2
            for site in fleet.sites
            for unit in site.units
            for sensor in unit.sensors
        } | {
            ("logger", logger.id, sensor.id): 1
            for shipment in fleet.shipments
            for logger in shipment.loggers
            for sensor in logger.sensors
        }
        stored: dict[tuple[str, str, str], int] = {}

        def history_stored() -> bool:
            stored.update(_stored_counts(influx_url, database))
            return all(stored.get(key, 0) >= n for key, n in wanted.items())

        wait_until(history_stored, 20, "the history in InfluxDB")
        assert sum(stored.values()) > 1000, stored
        lines += list(process.stdout)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            # SIGTERM: `up` stops its services and servers (each in a session of its own,
            # so a kill -9 of `up` alone would leave them running).
            process.terminate()
            try:
                process.wait(timeout=90)
            except subprocess.TimeoutExpired:
                process.kill()
                process.wait()
        process.stdout.close()
    output = "".join(lines)
    assert "history filled; simulating live" in output
    assert "points written to InfluxDB so far:" in output
    assert output.rstrip().endswith("coldchain stopped")
    assert password not in output  # the demo passwords stay in their 0600 file
