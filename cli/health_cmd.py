"""`coldchain health ingest|detect|api`: is one service alive? For container health checks
and monitors, which is why it needs nothing but the `coldchain` command (the slim image
has no curl).

A running process can still be stuck, so the check looks for the sign of work each
service leaves behind. Ingest and the detector rewrite `{data_dir}/metrics/{service}-{worker}
.json` every `metrics_interval_s` from their event loop (`coldchain/pipeline_metrics.py`,
field `time_ms`): a file older than a few intervals means a dead or wedged loop. The API
answers `GET /v1/health` (200 once InfluxDB and the catalog answer, 503 naming which does
not; `api/routes/system.py`).

Exit status 0 when healthy, 1 when not (Docker's HEALTHCHECK reserves 2), with one line
saying why, which `docker inspect` and systemd keep.
"""

from __future__ import annotations

from dataclasses import dataclass
from enum import StrEnum
from pathlib import Path
from typing import Annotated

import httpx
import typer

from cli.options import ConfigFile, DataDir, fail
from coldchain import times
from coldchain.config import Settings
from coldchain.errors import ConfigError
from coldchain.pipeline_metrics import STALE_INTERVALS, metrics_file, read_snapshot

__all__ = [
    "HealthResult",
    "Service",
    "check_api",
    "check_metrics_file",
    "health",
    "main",
    "metrics_path",
]


class Service(StrEnum):
    """The services `coldchain health` knows, named by their `coldchain` verbs."""

    ingest = "ingest"
    detect = "detect"
    api = "api"


#: Verb -> the `service` name its metrics file carries. The detector's verb is `detect` but
#: it publishes as `detector` (alerting/service.py), ingest as `ingest` (ingest/metrics.py).
_METRICS_NAME = {Service.ingest: "ingest", Service.detect: "detector"}


@dataclass(frozen=True, slots=True)
class HealthResult:
    """The outcome of one check.

    Attributes:
        ok: healthy or not.
        reason: one line for a person reading `docker inspect` or a monitor's alert.
    """

    ok: bool
    reason: str


def metrics_path(data_dir: Path, service: Service, worker: str) -> Path:
    """Where `publish_metrics` writes `service`'s counters for `worker` (its client id)."""
    return metrics_file(data_dir, _METRICS_NAME[service], worker)


def check_metrics_file(path: Path, *, max_age_s: float, now_ms: int | None = None) -> HealthResult:
    """Healthy when `path` holds a snapshot whose `time_ms` is at most `max_age_s` old."""
    try:
        snapshot = read_snapshot(path)
    except FileNotFoundError:
        return HealthResult(False, f"no metrics file {path}: service not started or not writing")
    except OSError as exc:
        return HealthResult(False, f"cannot read {path}: {exc.strerror}")
    except ValueError:
        return HealthResult(False, f"{path}: not a JSON metrics snapshot")
    age_s = snapshot.age_s(times.now_ms() if now_ms is None else now_ms)
    if age_s is None:
        return HealthResult(False, f"{path}: no time_ms in the snapshot")
    if age_s > max_age_s:
        return HealthResult(False, f"stale: {path.name} last written {age_s:.0f} s ago")
    return HealthResult(True, f"ok: {path.name} written {age_s:.1f} s ago")


def check_api(
    url: str, *, timeout_s: float, transport: httpx.BaseTransport | None = None
) -> HealthResult:
    """Healthy when `GET url` answers 200; a 503 names what the API cannot reach.

    Args:
        url: the health endpoint, e.g. `http://127.0.0.1:8000/v1/health`.
        timeout_s: for connecting and for the answer.
        transport: replaces the network (tests).
    """
    try:
        with httpx.Client(timeout=timeout_s, transport=transport) as client:
            response = client.get(url)
    except httpx.HTTPError as exc:
        # Connection refused, timeout, ...: the class name says which, the URL where.
        return HealthResult(False, f"api unreachable at {url}: {type(exc).__name__}")
    if response.status_code == 200:
        return HealthResult(True, f"ok: {url} answered 200")
    if response.status_code == 503:
        try:
            body = response.json()
        except ValueError:
            body = {}
        down = [name for name in ("influx", "catalog") if body.get(name) is False]
        detail = f" ({', '.join(down)} down)" if down else ""
        return HealthResult(False, f"api degraded{detail}: {url} answered 503")
    return HealthResult(False, f"api answered HTTP {response.status_code} at {url}")


def health(
    service: Annotated[Service, typer.Argument(help="ingest | detect | api")],
    max_age: Annotated[
        float | None,
        typer.Option(
            "--max-age",
            min=0,
            help="ingest, detect: seconds the metrics file may be old "
            f"(default {STALE_INTERVALS} x metrics_interval_s)",
        ),
    ] = None,
    worker: Annotated[
        str | None,
        typer.Option(
            "--worker",
            help="ingest, detect: whose metrics (default ingest_client_id, detect_client_id)",
        ),
    ] = None,
    port: Annotated[
        int | None, typer.Option("--port", help="api: its port (default api_port)")
    ] = None,
    host: Annotated[str, typer.Option("--host", help="api: the address to ask")] = "127.0.0.1",
    timeout: Annotated[float, typer.Option("--timeout", min=0.1, help="api: seconds")] = 5.0,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Exit 0 if SERVICE is alive, else 1, printing one line that says why."""
    try:
        # The service's own settings (same environment), so the check looks where it writes.
        settings = Settings.load(config, data_dir=data_dir)
    except ConfigError as exc:
        fail(f"configuration error: {exc}", 1)
    if service is Service.api:
        url = f"http://{_url_host(host)}:{port or settings.api_port}/v1/health"
        result = check_api(url, timeout_s=timeout)
    else:
        if worker is None:
            is_ingest = service is Service.ingest
            worker = settings.ingest_client_id if is_ingest else settings.detect_client_id
        limit = STALE_INTERVALS * settings.metrics_interval_s if max_age is None else max_age
        result = check_metrics_file(
            metrics_path(settings.data_dir, service, worker), max_age_s=limit
        )
    if not result.ok:
        fail(result.reason, 1)
    typer.echo(result.reason)


def _url_host(host: str) -> str:
    """An IPv6 literal needs brackets in a URL."""
    return f"[{host}]" if ":" in host and not host.startswith("[") else host


def main() -> None:
    """`python -m cli.health_cmd SERVICE [OPTIONS]`: the same check, without loading every
    other verb as `coldchain` does (about a quarter of the CPU time). Container health
    checks run every few seconds for the life of the service, so that matters there."""
    typer.run(health)


if __name__ == "__main__":
    main()
