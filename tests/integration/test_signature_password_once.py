"""A signature checks the password once (argon2 is what a signature costs), on the real
path: uvicorn, the catalog, a real influxd, the record judged from its readings.

The password is checked by the catalog's `sign`, in the signing transaction; the route only
holds the login limiter's reservation around it (api/routes/deviations.py `signing`). Every
argon2 verification in the process is counted by wrapping `PasswordHasher.verify`.

ACME's VAX-1 (2-8 °C) had two lots in BSL/FRIDGE-01: LOT-WARM (8 h to 4 h ago, an hour at
12 °C in the middle: open findings) and LOT-CLEAN (3 h to 1 h ago, at 5 °C: no findings).
quinn is QA, alice ACME's sponsor user, tess a second QA person who only meets refusals.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest
from argon2 import PasswordHasher

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
from coldchain.catalog.audit import read_audit
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from coldchain.times import rfc3339
from tests.support.api_world import PASSWORD, World, reading_line, serve_in_thread
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

USERS = ("quinn", "alice", "tess")
HOURS = 9  # readings every minute, until now
WARM = (timedelta(hours=7), timedelta(hours=6))  # hours ago LOT-WARM's fridge was at 12 °C


def _fleet(now: datetime) -> str:
    def ago(hours: float) -> str:
        return rfc3339(now - timedelta(hours=hours))

    return f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
users:
  - {{id: quinn, role: qa}}
  - {{id: tess, role: qa}}
  - {{id: alice, role: sponsor_viewer, sponsor: ACME}}
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
products:
  - {{id: VAX-1, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
batches: [{{id: LOT-WARM, product: VAX-1}}, {{id: LOT-CLEAN, product: VAX-1}}]
placements:
  - {{batch: LOT-WARM, unit: BSL/FRIDGE-01, from: "{ago(8)}", to: "{ago(4)}"}}
  - {{batch: LOT-CLEAN, unit: BSL/FRIDGE-01, from: "{ago(3)}", to: "{ago(1)}"}}
"""


async def _write_readings(settings: Settings, now: datetime) -> None:
    lines = []
    for minute in range(HOURS * 60 + 1):
        at = now - timedelta(minutes=HOURS * 60 - minute)
        warm = now - WARM[0] <= at < now - WARM[1]
        lines.append(reading_line("BSL", "unit", "FRIDGE-01", "p1", at, 12.0 if warm else 5.0))
    async with InfluxClient(settings.influx_url, settings.influx_db) as influx:
        await influx.create_database()
        await influx.write_lines(lines)


def _alert(world: World, alert_id: str, *, resolved: bool = True) -> None:
    """An excursion alert of FRIDGE-01, resolved (QA may close it) unless told."""
    start = world.now - timedelta(hours=6)
    with catalog_session(world.engine) as session:
        new = NewAlert(alert_id, "excursion", "alarm", "BSL", "unit", "FRIDGE-01", "p1", start)
        open_alert(session, new, at=start)
        if resolved:
            resolve_alert(session, alert_id, actor="detector", at=start, end=start)


@pytest.fixture(scope="module")
def world(influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    tmp_path: Path = tmp_path_factory.mktemp("password_once")
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_fleet(now), encoding="utf-8")
    settings = Settings(
        influx_url=influxd.url,
        influx_db=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path / "var",
        catalog_url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
        api_deviation_scan_s=0,
    )
    engine = create_catalog_engine(settings.resolved_catalog_url)
    try:
        upgrade_catalog(engine)
        import_fleet(engine, fleet, actor="test")
        tokens = {}
        with catalog_session(engine) as session:
            for user in USERS:
                set_password(session, user_id=user, password=PASSWORD, actor="test")
                tokens[user] = create_token(session, user_id=user, actor="test").token
        asyncio.run(_write_readings(settings, now))
        app = create_app(settings, engine=engine)
        with (
            serve_in_thread(app) as base_url,
            httpx.Client(base_url=base_url, timeout=60) as client,
        ):
            yield World(client, app, base_url, engine, settings, now, api_tokens=tokens)
    finally:
        engine.dispose()


@pytest.fixture
def verifications(monkeypatch: pytest.MonkeyPatch) -> Callable[[], int]:
    """How many argon2 password verifications the process has made since the last call."""
    count = 0
    verify = PasswordHasher.verify

    def counted(self: PasswordHasher, hash: str | bytes, password: str | bytes) -> bool:
        nonlocal count
        count += 1
        return verify(self, hash, password)

    monkeypatch.setattr(PasswordHasher, "verify", counted)

    def since_last() -> int:
        nonlocal count
        made, count = count, 0
        return made

    return since_last


def _post(world: World, user: str, path: str, body: Mapping[str, object]) -> httpx.Response:
    return world.client.post(path, json=body, headers=world.headers(user, api_token=True))


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def test_every_signing_route_checks_the_password_once(
    world: World, verifications: Callable[[], int]
) -> None:
    _alert(world, "AL-ONCE-1")
    quinn = world.headers("quinn", api_token=True)
    findings = _ok(world.client.get("/v1/batches/LOT-WARM/findings", headers=quinn))
    ids = [f["id"] for f in findings["findings"] if f["state"] == "open"]
    assert ids
    opened = _ok(
        _post(
            world,
            "quinn",
            "/v1/deviations",
            {"batch": "LOT-WARM", "finding_ids": ids, "title": "an hour at 12 °C"},
        ),
        201,
    )
    deviation = f"/v1/deviations/{opened['id']}"
    assessment = {"reason": "within stability data", "impact": "none", "password": PASSWORD}
    verifications()

    made: dict[str, int] = {}
    steps: list[tuple[str, str, str, Mapping[str, object], str]] = [
        (
            "close alert",
            "quinn",
            "/v1/alerts/AL-ONCE-1/close",
            {"root_cause": "door", "password": PASSWORD},
            "closed",
        ),
        ("assess", "quinn", f"{deviation}/assess", assessment, "assessed"),
        (
            "dispute",
            "alice",
            f"{deviation}/dispute",
            {"comment": "14 °C", "password": PASSWORD},
            "disputed",
        ),
        ("assess again", "quinn", f"{deviation}/assess", assessment, "assessed"),
        ("agree", "alice", f"{deviation}/agree", {"comment": None, "password": PASSWORD}, "closed"),
    ]
    for name, user, path, body, state in steps:
        assert _ok(_post(world, user, path, body))["state"] == state
        made[name] = verifications()
    released = _post(
        world,
        "quinn",
        "/v1/batches/LOT-CLEAN/release",
        {"decision": "released", "comment": None, "password": PASSWORD},
    )
    assert _ok(released)["decision"] == "released"
    made["release"] = verifications()

    assert made == dict.fromkeys([*[s[0] for s in steps], "release"], 1)


def test_a_wrong_password_is_checked_once_refused_and_audited(
    world: World, verifications: Callable[[], int]
) -> None:
    _alert(world, "AL-ONCE-2")
    verifications()
    body = {"root_cause": "door", "password": "not my password"}
    refused = _post(world, "quinn", "/v1/alerts/AL-ONCE-2/close", body)
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"] == "signature refused: the password is not the signer's"
    assert verifications() == 1
    with catalog_session(world.engine) as session:
        audited = [(e.entity_id, e.action) for e in read_audit(session) if e.actor == "quinn"]
    assert ("AL-ONCE-2", "signature_refused") in audited


def test_a_signing_refused_before_its_password_is_checked_neither_counts_nor_forgives(
    world: World, verifications: Callable[[], int]
) -> None:
    # tess: four wrong passwords, then five closings of an alert that is not resolved (409
    # before the password is checked), then a fifth wrong password, which is still free:
    # the 409s did not count. The next attempt meets the back-off: they forgave nothing.
    _alert(world, "AL-ONCE-3")
    _alert(world, "AL-ONCE-4", resolved=False)
    verifications()

    def close(alert_id: str, password: str) -> int:
        body = {"root_cause": "door", "password": password}
        return _post(world, "tess", f"/v1/alerts/{alert_id}/close", body).status_code

    statuses = [close("AL-ONCE-3", f"guess {n}") for n in range(4)]
    statuses += [close("AL-ONCE-4", PASSWORD) for _ in range(5)]
    statuses.append(close("AL-ONCE-3", "guess 4"))
    assert statuses == [403] * 4 + [409] * 5 + [403]
    assert verifications() == 5
    assert close("AL-ONCE-3", PASSWORD) == 429
