"""API latency under load: a sponsor's live view and a one-year history, on this machine.

Fills a fresh influxd and catalog, starts `coldchain api` as a process, and drives it with
50 concurrent httpx clients on loopback; prints p50/p95/p99 per scenario. Asserts nothing.

What is filled:
- catalog: 2,000 storage units (20 sites × 100, two sensors each), 20 sponsors with one
  product each, one open batch placement per unit (a year ago), so each sponsor's product
  is in 100 units; users `s0` (sponsor S0) with an API token.
- InfluxDB, live: the last 2 h of 1-minute readings of all 4,000 sensors (480,000 points).
- InfluxDB, history: a year of 1-minute readings of the queried unit's two sensors
  (1.05 M raw points), and its ds_1m / ds_15m / ds_1h series written directly (what the
  continuous queries would have made, min/max/mean per bucket; ds_1m only its 90 days).
  Forty more units get a year of ds_1h and ds_15m so those series are not trivially small.

Scenarios (each with 50 clients):
- closed loop: every client sends its next request as soon as the last one answered, the
  worst case (latency = queueing behind 49 others);
- paced: every client asks once per second (50 people with the page open; the page itself
  gets live values by SSE and asks for history on a click).
Closed loop is saturation: its latency is 50 / throughput (Little's law), so it also
prints requests/s. The history is asked as one chart 50 people look at (same range: one
shared answer per second) and as 50 charts opened at different moments (each `to` its
own: the downsampled part comes from the statement cache, the raw edges from InfluxDB).

    python -m benchmarks.bench_api [--requests 1000] [--clients 50]
"""

from __future__ import annotations

import argparse
import asyncio
import math
import os
import random
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx

from coldchain.catalog import catalog_session, create_catalog_engine, create_token, upgrade_catalog
from coldchain.catalog.schema import (
    BatchRow,
    PlacementRow,
    ProductRow,
    SensorRow,
    SiteRow,
    SponsorRow,
    StorageUnitRow,
    UserRow,
)
from coldchain.downsampling import ensure_downsampling
from coldchain.influx import InfluxClient
from tests.support.servers import free_port, running_influxd

SITES, UNITS_PER_SITE, SPONSORS = 20, 100, 20
MINUTE_MS = 60_000
QUERIED = ("S00", "U0000")  # site, unit of the one-year history


def _fill_catalog(url: str, now: datetime) -> str:
    engine = create_catalog_engine(url)
    upgrade_catalog(engine)
    since = now - timedelta(days=366)
    with catalog_session(engine) as session:
        for s in range(SPONSORS):
            session.add(SponsorRow(id=f"SP{s}", name=f"Sponsor {s}"))
        session.flush()
        for s in range(SPONSORS):
            session.add(
                ProductRow(
                    id=f"P{s}",
                    sponsor_id=f"SP{s}",
                    name=None,
                    min_c=2.0,
                    max_c=8.0,
                    alarm_delay_min=30,
                    budget_max_c=25.0,
                    budget_min_c=None,
                    budget_hours=24,
                    label="2–8 °C",
                    mkt_delta_h_kj_per_mol=83.144,
                )
            )
        session.flush()
        n = 0
        for site in range(SITES):
            session.add(SiteRow(id=f"S{site:02d}", name=None, timezone="UTC"))
            session.flush()
            for _u in range(UNITS_PER_SITE):
                unit = StorageUnitRow(
                    site_id=f"S{site:02d}",
                    code=f"U{n:04d}",
                    name=None,
                    kind="refrigerator",
                    setpoint_c=5.0,
                    log_interval_s=60,
                )
                session.add(unit)
                session.flush()
                session.add_all(
                    [SensorRow(unit_id=unit.id, code="p1"), SensorRow(unit_id=unit.id, code="p2")]
                )
                sponsor = n % SPONSORS
                session.add(BatchRow(id=f"L{n:04d}", product_id=f"P{sponsor}"))
                session.flush()
                session.add(
                    PlacementRow(
                        batch_id=f"L{n:04d}",
                        unit_id=unit.id,
                        start_at=since,
                        end_at=None,
                        recorded_at=since,
                    )
                )
                n += 1
        session.add(
            UserRow(id="s0", name=None, role="sponsor_viewer", sponsor_id="SP0", password_hash=None)
        )
        session.flush()
        token = create_token(session, user_id="s0", actor="bench").token
    engine.dispose()
    return token


def _line(rp_fields: str, device: str, site: str, sensor: str, t: int) -> str:
    return f"reading,device={device},sensor={sensor},site={site},source=unit {rp_fields} {t}"


async def _write(influx: InfluxClient, lines: list[str], rp: str | None = None) -> None:
    params = "" if rp is None else rp
    for i in range(0, len(lines), 20_000):
        chunk = "\n".join(lines[i : i + 20_000]).encode()
        if rp is None:
            await influx.write_body(chunk)
        else:
            await influx._http.post(  # the client has no rp argument; benchmarks only
                "/write",
                params={"db": influx.database, "precision": "ms", "rp": params},
                content=chunk,
            )


def _temp(t: int) -> float:
    return 5.0 + 1.5 * math.sin(t / 3_600_000) + random.uniform(-0.2, 0.2)


async def _fill_influx(url: str, db: str, now_ms: int) -> None:
    async with InfluxClient(url, db, timeout_s=120) as influx:
        await ensure_downsampling(influx)
        # live: 2 h of every sensor
        lines = []
        for n in range(SITES * UNITS_PER_SITE):
            site = f"S{n // UNITS_PER_SITE:02d}"
            for sensor in ("p1", "p2"):
                for k in range(120):
                    t = now_ms - k * MINUTE_MS
                    lines.append(_line(f"temp_c={_temp(t):.2f}", f"U{n:04d}", site, sensor, t))
        await _write(influx, lines)
        site, unit = QUERIED
        year = 365 * 24 * 60
        start = now_ms - year * MINUTE_MS
        start -= start % MINUTE_MS
        raw = {s: [_temp(start + k * MINUTE_MS) for k in range(year)] for s in ("p1", "p2")}
        for sensor, values in raw.items():
            await _write(
                influx,
                [
                    _line(f"temp_c={v:.2f}", unit, site, sensor, start + k * MINUTE_MS)
                    for k, v in enumerate(values)
                ],
            )
            for rp, width, keep in (
                ("ds_1m", 1, 90 * 24 * 60),
                ("ds_15m", 15, year),
                ("ds_1h", 60, year),
            ):
                out = []
                first = max(0, year - keep)
                first -= first % width
                for k in range(first, year, width):
                    chunk = values[k : k + width]
                    fields = (
                        f"temp_c_min={min(chunk):.2f},temp_c_max={max(chunk):.2f},"
                        f"temp_c_mean={sum(chunk) / len(chunk):.3f}"
                    )
                    out.append(_line(fields, unit, site, sensor, start + k * MINUTE_MS))
                await _write(influx, out, rp)
        for n in range(1, 41):  # other units' hourly and 15-minute history
            other, other_site = f"U{n:04d}", f"S{n // UNITS_PER_SITE:02d}"
            for rp, width in (("ds_1h", 60), ("ds_15m", 15)):
                out = [
                    _line(
                        "temp_c_min=4.1,temp_c_max=5.9,temp_c_mean=5.0",
                        other,
                        other_site,
                        "p1",
                        start + k * MINUTE_MS,
                    )
                    for k in range(0, year, width)
                ]
                await _write(influx, out, rp)


def _percentiles(samples: list[float]) -> str:
    ordered = sorted(samples)
    if not ordered:
        return "no successful requests"

    def pick(q: float) -> float:
        return ordered[min(len(ordered) - 1, int(q * len(ordered)))]

    return (
        f"n={len(ordered)} p50={pick(0.5):.1f} ms p95={pick(0.95):.1f} ms "
        f"p99={pick(0.99):.1f} ms max={ordered[-1]:.1f} ms"
    )


async def _load(
    base: str,
    token: str,
    path: str,
    params: Callable[[], dict[str, str]],
    *,
    clients: int,
    requests: int,
    pace_s: float | None,
) -> tuple[list[float], float]:
    """(latencies in ms, requests/s overall)."""
    latencies: list[float] = []
    errors: list[int] = []
    per_client = max(1, requests // clients)
    limits = httpx.Limits(max_connections=clients, max_keepalive_connections=clients)
    async with httpx.AsyncClient(
        base_url=base, limits=limits, timeout=60, headers={"Authorization": f"Bearer {token}"}
    ) as http:

        async def client(i: int) -> None:
            if pace_s:
                await asyncio.sleep(random.uniform(0, pace_s))
            for _ in range(per_client):
                began = time.perf_counter()
                answer = await http.get(path, params=params())
                if answer.status_code != 200:
                    errors.append(answer.status_code)
                else:
                    latencies.append((time.perf_counter() - began) * 1000)
                if pace_s:
                    await asyncio.sleep(max(0.0, pace_s - (time.perf_counter() - began)))

        began_all = time.perf_counter()
        await asyncio.gather(*(client(i) for i in range(clients)))
        rate = clients * per_client / (time.perf_counter() - began_all)
    if errors:
        print(f"  {len(errors)} failed requests: statuses {sorted(set(errors))}")
    return latencies, rate


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=1000, help="per scenario")
    parser.add_argument("--clients", type=int, default=50)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory(prefix="bench-api-") as tmp:
        work = Path(tmp)
        now = datetime.now(UTC)
        catalog = f"sqlite:///{work / 'catalog.sqlite3'}"
        began = time.perf_counter()
        token = _fill_catalog(catalog, now)
        with running_influxd(work / "influxd") as influxd:
            asyncio.run(_fill_influx(influxd.url, "bench", int(now.timestamp() * 1000)))
            print(f"filled in {time.perf_counter() - began:.0f} s")
            port = free_port()
            env = dict(os.environ, COLDCHAIN_LOG_LEVEL="WARNING")
            server = subprocess.Popen(
                [
                    sys.executable,
                    "-m",
                    "cli.main",
                    "api",
                    "--port",
                    str(port),
                    "--influx-url",
                    influxd.url,
                    "--influx-db",
                    "bench",
                    "--catalog-url",
                    catalog,
                    "--data-dir",
                    str(work / "var"),
                ],
                env=env,
            )
            try:
                base = f"http://127.0.0.1:{port}"
                deadline = time.monotonic() + 30
                while True:
                    try:
                        if httpx.get(f"{base}/v1/health", timeout=1).status_code == 200:
                            break
                    except httpx.HTTPError:
                        pass
                    if time.monotonic() > deadline:
                        raise SystemExit("the API did not start")
                    time.sleep(0.2)
                history = f"/v1/sites/{QUERIED[0]}/units/{QUERIED[1]}/history"

                def one_year(shift_s: float = 0.0) -> dict[str, str]:
                    end = now - timedelta(seconds=shift_s)
                    start = end - timedelta(days=365)
                    return {"from": start.isoformat(), "to": end.isoformat(), "buckets": "1000"}

                scenarios: list[tuple[str, str, Callable[[], dict[str, str]]]] = [
                    (
                        "live view of product P0 (100 units, 200 sensors)",
                        "/v1/products/P0/live",
                        dict,
                    ),
                    ("history 1 year, 1000 buckets, the same chart", history, one_year),
                    (
                        # every viewer opened the chart at another moment: no shared answer,
                        # InfluxDB is asked for the raw edges each time
                        "history 1 year, 1000 buckets, each request its own `to`",
                        history,
                        lambda: one_year(random.uniform(0, 3600)),
                    ),
                ]
                for label, path, params in scenarios:
                    asyncio.run(
                        _load(base, token, path, params, clients=5, requests=50, pace_s=None)
                    )
                    for mode, clients, pace in (
                        ("one client, back to back (service time)", 1, None),
                        (f"{args.clients} clients closed loop", args.clients, None),
                        (f"{args.clients} clients paced 1/s", args.clients, 1.0),
                    ):
                        count = args.requests if pace is None else clients * 10
                        samples, rate = asyncio.run(
                            _load(
                                base,
                                token,
                                path,
                                params,
                                clients=clients,
                                requests=count if clients > 1 else 100,
                                pace_s=pace,
                            )
                        )
                        print(f"{label} | {mode}: {_percentiles(samples)}, {rate:.0f} requests/s")
            finally:
                server.terminate()
                server.wait(timeout=30)


if __name__ == "__main__":
    main()
