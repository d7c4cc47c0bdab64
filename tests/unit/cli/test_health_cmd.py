"""`coldchain health`: what container health checks and monitors rely on."""

from __future__ import annotations

import asyncio
import socket
import subprocess
import sys
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import orjson
from typer.testing import CliRunner

from cli.health_cmd import Service, check_metrics_file, metrics_path
from cli.main import app
from coldchain.influx import InfluxClient
from coldchain.times import now_ms
from ingest.metrics import IngestMetrics, report_metrics

runner = CliRunner()


def _write_snapshot(data_dir: Path, name: str, time_ms: int) -> Path:
    path = data_dir / "metrics" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(orjson.dumps({"worker": "w", "messages_received": 3, "time_ms": time_ms}))
    return path


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def test_a_freshly_written_ingest_metrics_file_is_healthy(tmp_path: Path) -> None:
    _write_snapshot(tmp_path, "ingest-coldchain-ingest-2", now_ms() - 1_000)
    result = runner.invoke(
        app,
        ["health", "ingest", "--data-dir", str(tmp_path), "--worker", "coldchain-ingest-2"],
    )
    assert result.exit_code == 0, result.output
    assert result.stdout.startswith("ok: ingest-coldchain-ingest-2.json")


def test_a_stale_metrics_file_is_unhealthy_and_says_how_old(tmp_path: Path) -> None:
    _write_snapshot(tmp_path, "ingest-w1", now_ms() - 120_000)
    result = runner.invoke(
        app,
        ["health", "ingest", "--data-dir", str(tmp_path), "--worker", "w1", "--max-age", "30"],
    )
    assert result.exit_code == 1
    assert "stale: ingest-w1.json last written 120 s ago" in result.stderr


def test_a_missing_metrics_file_is_unhealthy(tmp_path: Path) -> None:
    result = runner.invoke(app, ["health", "detect", "--data-dir", str(tmp_path), "--worker", "p"])
    assert result.exit_code == 1
    assert "no metrics file" in result.stderr
    assert "detector-p.json" in result.stderr


def test_worker_and_max_age_default_to_the_services_own_settings(tmp_path: Path) -> None:
    """The container runs the check with the service's environment: no options needed."""
    env = {
        "COLDCHAIN_DATA_DIR": str(tmp_path),
        "COLDCHAIN_DETECT_CLIENT_ID": "coldchain-detector",
        "COLDCHAIN_METRICS_INTERVAL_S": "2",
    }
    path = _write_snapshot(tmp_path, "detector-coldchain-detector", now_ms() - 4_000)
    assert runner.invoke(app, ["health", "detect"], env=env).exit_code == 0
    # 3 intervals of 2 s: a snapshot 7 s old is stale.
    path.write_bytes(orjson.dumps({"time_ms": now_ms() - 7_000}))
    assert runner.invoke(app, ["health", "detect"], env=env).exit_code == 1


def test_a_snapshot_without_time_or_not_json_is_unhealthy(tmp_path: Path) -> None:
    path = tmp_path / "x.json"
    path.write_bytes(b'{"messages_received": 1}')
    assert check_metrics_file(path, max_age_s=60).reason.endswith("no time_ms in the snapshot")
    path.write_bytes(b"{half")
    assert not check_metrics_file(path, max_age_s=60).ok


async def test_health_looks_where_ingest_really_writes_its_metrics(tmp_path: Path) -> None:
    """The real publisher (InfluxDB unreachable: best effort) against the check's path."""
    influx = InfluxClient(f"http://127.0.0.1:{_free_port()}", "coldchain", timeout_s=0.5)
    task = asyncio.create_task(
        report_metrics(IngestMetrics(worker="coldchain-ingest"), tmp_path, influx, 0.01)
    )
    path = metrics_path(tmp_path, Service.ingest, "coldchain-ingest")
    try:
        for _ in range(500):  # the file is a polled side effect: nothing to await on
            if path.exists():
                break
            await asyncio.sleep(0.01)
    finally:
        task.cancel()
        await asyncio.gather(task, return_exceptions=True)
        await influx.aclose()
    assert check_metrics_file(path, max_age_s=5).ok


@contextmanager
def _health_server(status: int, body: bytes) -> Iterator[int]:
    """A real HTTP server answering `GET /v1/health` like the API; yields its port."""

    class Handler(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            code = status if self.path == "/v1/health" else 404
            self.send_response(code)
            self.send_header("Content-Type", "application/json")
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, format: str, *args: object) -> None:  # quiet
            pass

    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    thread = threading.Thread(target=server.serve_forever, args=(0.05,), daemon=True)
    thread.start()
    try:
        yield int(server.server_address[1])
    finally:
        server.shutdown()
        server.server_close()
        thread.join()


def test_an_api_answering_200_is_healthy() -> None:
    with _health_server(200, b'{"status": "ok", "influx": true, "catalog": true}') as port:
        result = runner.invoke(app, ["health", "api", "--port", str(port)])
    assert result.exit_code == 0, result.output
    assert f"http://127.0.0.1:{port}/v1/health answered 200" in result.stdout


def test_a_degraded_api_is_unhealthy_and_names_what_is_down() -> None:
    body = b'{"status": "degraded", "influx": false, "catalog": true}'
    with _health_server(503, body) as port:
        result = runner.invoke(app, ["health", "api", "--port", str(port)])
    assert result.exit_code == 1
    assert "api degraded (influx down)" in result.stderr


def test_an_api_that_is_down_is_unhealthy() -> None:
    port = _free_port()
    result = runner.invoke(app, ["health", "api", "--port", str(port), "--timeout", "2"])
    assert result.exit_code == 1
    assert f"api unreachable at http://127.0.0.1:{port}/v1/health: ConnectError" in result.stderr


def test_the_module_entry_point_runs_the_same_check(tmp_path: Path) -> None:
    """`python -m cli.health_cmd`, what the containers' health checks run."""
    _write_snapshot(tmp_path, "ingest-w", now_ms())
    args = [sys.executable, "-m", "cli.health_cmd", "ingest", "--data-dir", str(tmp_path)]
    fresh = subprocess.run([*args, "--worker", "w"], capture_output=True, text=True, check=False)
    assert fresh.returncode == 0, fresh.stderr
    missing = subprocess.run([*args, "--worker", "x"], capture_output=True, text=True, check=False)
    assert missing.returncode == 1
    assert "no metrics file" in missing.stderr
