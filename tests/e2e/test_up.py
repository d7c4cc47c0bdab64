"""`coldchain up` (the README's demo command) starts everything and fills InfluxDB."""

from __future__ import annotations

import re
import subprocess
import sys
from pathlib import Path

import pytest

from tests.servers import free_port

pytestmark = pytest.mark.integration

_REPO = Path(__file__).resolve().parents[2]


def test_up_runs_the_pipeline_and_stops_cleanly(tmp_path: Path) -> None:
    result = subprocess.run(
        [
            sys.executable,
            "-m",
            "cli.main",
            "up",
            "--data-dir",
            str(tmp_path / "var"),
            "--mqtt-port",
            str(free_port()),
            "--influx-port",
            str(free_port()),
            "--history",
            "3h",
            "--run-for",
            "25",
        ],
        cwd=_REPO,
        capture_output=True,
        text=True,
        timeout=120,
    )
    assert result.returncode == 0, result.stdout + result.stderr
    assert "coldchain is up" in result.stdout
    assert "history filled; simulating live" in result.stdout
    written = [
        int(n.replace(",", ""))
        for n in re.findall(r"points written to InfluxDB so far: ([\d,]+)", result.stdout)
    ]
    assert written, result.stdout
    assert written[-1] > 1000, result.stdout
    assert result.stdout.rstrip().endswith("coldchain stopped")
    assert (tmp_path / "var" / "catalog.sqlite3").exists()
