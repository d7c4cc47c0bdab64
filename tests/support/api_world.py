"""A small two-sponsor world for the API tests (no tests here; imported by test_api_*.py
and tests/e2e/test_web_page.py).

ACME (alice) and GLOBEX (bob) share BSL/FRIDGE-01 one after the other: ACME's LOT-A2 from
10 days to 2 days ago, GLOBEX's LOT-B1 from 1 day ago on. During ACME's period the fridge
had a 30 °C spike (5 days ago) that GLOBEX must never see. ACME also has FRIDGE-02 (LOT-A1,
now) and shipment SHP-A (LOT-A2, now); GLOBEX had FRIDGE-03 before. omar operates BSL,
quinn is QA, ada is admin. Alerts: one per place and period.
"""

from __future__ import annotations

import asyncio
import threading
import time
import uuid
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
import uvicorn
from fastapi import FastAPI
from sqlalchemy import Engine

from api.app import create_app
from coldchain.catalog import (
    catalog_session,
    create_catalog_engine,
    create_token,
    import_fleet,
    set_password,
    upgrade_catalog,
)
from coldchain.catalog.alerts import NewAlert, open_alert, resolve_alert
from coldchain.config import Settings
from coldchain.downsampling import downsample_range, ensure_downsampling
from coldchain.influx import InfluxClient
from coldchain.influx_users import InfluxAccount
from coldchain.times import rfc3339, to_ms
from tests.support.servers import InfluxServer

__all__ = ["PASSWORD", "World", "api_world", "serve_in_thread", "write_reading"]

PASSWORD = "correct horse battery staple"
USERS = ("alice", "bob", "omar", "quinn", "ada")
STEP_MIN = 10


def fleet_yaml(now: datetime) -> str:
    def ago(days: float) -> str:
        return rfc3339(now - timedelta(days=days))

    return f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}, {{id: GLOBEX, name: Globex Bio}}]
users:
  - {{id: alice, role: sponsor_viewer, sponsor: ACME}}
  - {{id: bob, role: sponsor_viewer, sponsor: GLOBEX}}
  - {{id: omar, role: warehouse_operator, sites: [BSL]}}
  - {{id: quinn, role: qa, name: Quinn Novak}}
  - {{id: ada, role: admin}}
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}, {{id: p2}}]}}
      - {{id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
      - {{id: FRIDGE-03, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
  - id: LYS
    units:
      - {{id: ROOM-01, kind: cold_room, setpoint_c: 5.0, sensors: [{{id: p1}}]}}
products:
  - {{id: VAX-1, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {{max_c: 25.0, hours: 24}}}}}}
  - {{id: BIO-7, sponsor: GLOBEX, storage: {{min_c: 3.0, max_c: 7.0, alarm_delay_min: 15}}}}
batches: [{{id: LOT-A1, product: VAX-1}}, {{id: LOT-A2, product: VAX-1}}, {{id: LOT-B1, product: BIO-7}}]
shipments:
  - id: SHP-A
    origin: BSL
    destination: LYS
    loggers: [{{id: LOG-A, sensors: [{{id: p1}}], log_interval_s: 600}}]
placements:
  - {{batch: LOT-A1, unit: BSL/FRIDGE-02, from: "{ago(3)}"}}
  - {{batch: LOT-A2, unit: BSL/FRIDGE-01, from: "{ago(10)}", to: "{ago(2)}"}}
  - {{batch: LOT-A2, shipment: SHP-A, from: "{ago(2)}"}}
  - {{batch: LOT-B1, unit: BSL/FRIDGE-03, from: "{ago(10)}", to: "{ago(1)}"}}
  - {{batch: LOT-B1, unit: BSL/FRIDGE-01, from: "{ago(1)}"}}
"""


@dataclass
class World:
    """What a test needs: the app's client, tokens by user, the catalog and InfluxDB."""

    client: httpx.Client
    app: FastAPI
    base_url: str
    engine: Engine
    settings: Settings
    now: datetime
    api_tokens: dict[str, str] = field(default_factory=dict)
    login_tokens: dict[str, str] = field(default_factory=dict)
    alerts: dict[str, str] = field(default_factory=dict)

    def headers(self, user: str, *, api_token: bool = False) -> dict[str, str]:
        token = (self.api_tokens if api_token else self.login_tokens)[user]
        return {"Authorization": f"Bearer {token}"}


def _temperature(site: str, device: str, sensor: str, at: datetime, now: datetime) -> float:
    base = 5.0 if sensor == "p1" else 5.5
    if device == "FRIDGE-01" and now - timedelta(days=10) <= at < now - timedelta(days=2):
        base = 4.0  # ACME's period
        if abs((at - (now - timedelta(days=5))).total_seconds()) < 1800:
            base = 30.0  # the spike GLOBEX must never see
    return base


def reading_line(
    site: str, source: str, device: str, sensor: str, at: datetime, temp_c: float
) -> str:
    ms = to_ms(at)
    return (
        f"reading,device={device},sensor={sensor},site={site},source={source} temp_c={temp_c} {ms}"
    )


async def _fill_influx(settings: Settings, now: datetime, fill_as: InfluxAccount | None) -> None:
    """Twelve days of readings and their buckets, written as `fill_as` (ingest's account on
    a server with authentication; there the setup created the retention policies)."""
    async with InfluxClient(
        settings.influx_url,
        settings.influx_db,
        username=fill_as.username if fill_as else None,
        password=fill_as.password if fill_as else None,
    ) as influx:
        if fill_as is None:
            await ensure_downsampling(influx)
        lines = []
        start = now - timedelta(days=12)
        places = [
            ("BSL", "unit", "FRIDGE-01", ("p1", "p2")),
            ("BSL", "unit", "FRIDGE-02", ("p1",)),
            ("BSL", "unit", "FRIDGE-03", ("p1",)),
            ("LYS", "unit", "ROOM-01", ("p1",)),
            ("BSL", "logger", "LOG-A", ("p1",)),
        ]
        at = start
        while at <= now:
            for site, source, device, sensors in places:
                for sensor in sensors:
                    temp = _temperature(site, device, sensor, at, now)
                    lines.append(reading_line(site, source, device, sensor, at, temp))
            at += timedelta(minutes=STEP_MIN)
        # The newest readings, one minute old, so nothing is "no data".
        for site, source, device, sensors in places:
            for sensor in sensors:
                lines.append(
                    reading_line(
                        site,
                        source,
                        device,
                        sensor,
                        now - timedelta(minutes=1),
                        _temperature(site, device, sensor, now, now),
                    )
                )
        await influx.write_lines(lines)
        await downsample_range(influx, to_ms(start), to_ms(now))


def write_reading(
    settings: Settings,
    device: str,
    sensor: str,
    temp_c: float,
    *,
    site: str = "BSL",
    source: str = "unit",
    at: datetime | None = None,
) -> None:
    """Write one reading now (or at `at`), as the ingest would."""

    async def write() -> None:
        async with InfluxClient(settings.influx_url, settings.influx_db) as influx:
            when = at or datetime.now(UTC)
            await influx.write_lines([reading_line(site, source, device, sensor, when, temp_c)])

    asyncio.run(write())


def _alert(
    alert_id: str,
    device: str,
    start: datetime,
    *,
    severity: str = "alarm",
    kind: str = "excursion",
    source: str = "unit",
    sensor: str = "p1",
) -> NewAlert:
    return NewAlert(
        alert_id=alert_id,
        kind=kind,
        severity=severity,
        site="BSL",
        source=source,
        device=device,
        sensor=sensor,
        start=start,
        peak_c=9.1,
        detail={"limit_c": 7.0, "condition": "secret label", "value_c": 9.1},
    )


def _seed_catalog(
    engine: Engine, fleet: Path, now: datetime
) -> tuple[dict[str, str], dict[str, str]]:
    upgrade_catalog(engine)
    import_fleet(engine, fleet, actor="test")
    tokens: dict[str, str] = {}
    alerts: dict[str, str] = {}
    with catalog_session(engine) as session:
        for user in USERS:
            set_password(session, user_id=user, password=PASSWORD, actor="test")
            tokens[user] = create_token(session, user_id=user, actor="test").token
        plan = {
            "a_fridge02": _alert("A-F02-1", "FRIDGE-02", now - timedelta(hours=3)),
            "a_shared_past": _alert("A-F01-PAST", "FRIDGE-01", now - timedelta(days=5)),
            "b_shared_now": _alert(
                "B-F01-NOW", "FRIDGE-01", now - timedelta(hours=2), severity="warning"
            ),
            "b_fridge03": _alert("B-F03-1", "FRIDGE-03", now - timedelta(days=4)),
            "a_logger": _alert("A-LOG-1", "LOG-A", now - timedelta(hours=5), source="logger"),
        }
        for name, alert in plan.items():
            open_alert(session, alert, at=alert.start)
            alerts[name] = alert.alert_id
        resolve_alert(
            session,
            "A-F01-PAST",
            actor="detector",
            at=now - timedelta(days=5) + timedelta(hours=1),
            end=now - timedelta(days=5) + timedelta(hours=1),
        )
        resolve_alert(
            session,
            "B-F03-1",
            actor="detector",
            at=now - timedelta(days=4) + timedelta(hours=1),
            end=now - timedelta(days=4) + timedelta(hours=1),
        )
    return tokens, alerts


@contextmanager
def serve_in_thread(app: FastAPI) -> Iterator[str]:
    """Run `app` under uvicorn on a free loopback port in a thread (as httpx's own
    tests do); yields its base URL and stops it, lifespan and all, on exit."""
    from tests.support.servers import free_port

    port = free_port()
    config = uvicorn.Config(
        app, host="127.0.0.1", port=port, log_level="warning", lifespan="on", access_log=False
    )
    server = uvicorn.Server(config)
    thread = threading.Thread(target=server.run, name=f"uvicorn-{port}", daemon=True)
    thread.start()
    deadline = time.monotonic() + 20
    while not server.started:
        if not thread.is_alive() or time.monotonic() > deadline:
            raise RuntimeError("the API did not start")
        time.sleep(0.02)
    try:
        yield f"http://127.0.0.1:{port}"
    finally:
        server.should_exit = True
        thread.join(timeout=20)


@contextmanager
def api_world(
    tmp_path: Path,
    influx_url: str,
    influx_db: str,
    *,
    settings_overrides: Mapping[str, object] | None = None,
    fill_as: InfluxAccount | None = None,
    influx_transport: httpx.AsyncBaseTransport | None = None,
) -> Iterator[World]:
    now = datetime.now(UTC).replace(microsecond=0)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(fleet_yaml(now), encoding="utf-8")
    data_dir = tmp_path / "var"
    settings = Settings(
        influx_url=influx_url,
        influx_db=influx_db,
        data_dir=data_dir,
        catalog_url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
        # No deviations open by themselves (a writer in the background) unless a test asks.
        **{"api_deviation_scan_s": 0, **(settings_overrides or {})},  # type: ignore[arg-type]
    )
    engine = create_catalog_engine(settings.resolved_catalog_url)
    try:
        tokens, alerts = _seed_catalog(engine, fleet, now)
        asyncio.run(_fill_influx(settings, now, fill_as))
        app = create_app(settings, engine=engine, influx_transport=influx_transport)
        with (
            serve_in_thread(app) as base_url,
            httpx.Client(base_url=base_url, timeout=30) as client,
        ):
            world = World(
                client, app, base_url, engine, settings, now, api_tokens=tokens, alerts=alerts
            )
            for user in USERS:
                answer = client.post(
                    "/v1/auth/token", data={"username": user, "password": PASSWORD}
                )
                assert answer.status_code == 200, answer.text
                world.login_tokens[user] = answer.json()["access_token"]
            yield world
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(
    request: pytest.FixtureRequest, influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory
) -> Iterator[World]:
    """The API world of one test module, with that module's `API_SETTINGS` (a dict of
    `Settings` fields, e.g. a faster SSE interval) over the defaults."""
    overrides: dict[str, object] = getattr(request.module, "API_SETTINGS", {})
    name = request.module.__name__.rsplit(".", 1)[-1]
    with api_world(
        tmp_path_factory.mktemp(name),
        influxd.url,
        f"test_{uuid.uuid4().hex[:12]}",
        settings_overrides=overrides,
    ) as built:
        yield built
