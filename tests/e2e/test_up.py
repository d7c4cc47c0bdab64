"""`coldchain up` (the README's demo command) starts everything: data flows into InfluxDB,
the page answers, and a demo user can log in."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import httpx
import pytest

from tests.servers import free_port

pytestmark = pytest.mark.integration

_REPO = Path(__file__).resolve().parents[2]


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
            "3h",
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
        lines += list(process.stdout)
        assert process.wait(timeout=120) == 0
    finally:
        if process.poll() is None:
            process.kill()
            process.wait()
        process.stdout.close()
    output = "".join(lines)
    assert "history filled; simulating live" in output
    written = [
        int(n.replace(",", ""))
        for n in re.findall(r"points written to InfluxDB so far: ([\d,]+)", output)
    ]
    assert written, output
    assert written[-1] > 1000, output
    assert output.rstrip().endswith("coldchain stopped")
    assert password not in output  # the demo passwords stay in their 0600 file
