"""Issue #21 through HTTP: deviations, electronic signatures and release decisions on the
real path (uvicorn, the catalog, a real influxd, the record judged from its readings).

ACME's VAX-1 (2-8 °C, alarm after 30 min) had eight lots, one after the other, in
BSL/FRIDGE-01, each with an hour at 12 °C in the middle of its four hours there and no
detector alert: each record has open findings (the excursion, and the readings and the
detector disagreeing) and nothing else. Each test takes a lot of its own. GLOBEX's LOT-G1
was in FRIDGE-02. Two QA persons (quinn, maria) and each role's user sign with PASSWORD.
"""

from __future__ import annotations

import asyncio
import json
import logging
import time
import uuid
from collections.abc import Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import pytest

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
from coldchain.catalog.signatures import check_signature, signatures_of_subject
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from coldchain.times import rfc3339
from tests.support.api_world import PASSWORD, World, reading_line, serve_in_thread
from tests.support.servers import InfluxServer, free_port

pytestmark = pytest.mark.integration

USERS = ("alice", "bob", "omar", "quinn", "maria", "tess", "ada")
# Lot -> hours ago its placement in FRIDGE-01 started (4 h each, at 12 °C from +1 h to +2 h).
LOTS = {f"LOT-X{n}": 44 - 5 * n for n in range(1, 9)}  # LOT-X1: 39 h ago ... LOT-X8: 4 h
HOURS = 41  # readings of both fridges, every minute, until now


def _fleet(now: datetime, extra_placements: str = "") -> str:
    def ago(hours: float) -> str:
        return rfc3339(now - timedelta(hours=hours))

    lots = "".join(
        f'  - {{batch: {lot}, unit: BSL/FRIDGE-01, from: "{ago(h)}", to: "{ago(h - 4)}"}}\n'
        for lot, h in LOTS.items()
    )
    batches = "".join(f"  - {{id: {lot}, product: VAX-1}}\n" for lot in LOTS)
    return f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}, {{id: GLOBEX, name: Globex Bio}}]
users:
  - {{id: alice, role: sponsor_viewer, sponsor: ACME}}
  - {{id: bob, role: sponsor_viewer, sponsor: GLOBEX}}
  - {{id: omar, role: warehouse_operator, sites: [BSL]}}
  - {{id: quinn, role: qa}}
  - {{id: maria, role: qa}}
  - {{id: tess, role: qa}}
  - {{id: ada, role: admin}}
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
      - {{id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
products:
  - {{id: VAX-1, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
  - {{id: BIO-7, sponsor: GLOBEX, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
batches:
{batches}  - {{id: LOT-G1, product: BIO-7}}
  - {{id: LOT-W1, product: VAX-1}}
placements:
{lots}  - {{batch: LOT-G1, unit: BSL/FRIDGE-02, from: "{ago(24)}", to: "{ago(20)}"}}
{extra_placements}"""


def _readings(now: datetime, *, gap: tuple[datetime, datetime] | None = None) -> list[str]:
    """Every minute of both fridges; FRIDGE-01 at 12 °C in each lot's second hour; none in
    FRIDGE-02 during `gap`."""
    warm = [now - timedelta(hours=h - 1) for h in LOTS.values()]
    lines = []
    for minute in range(HOURS * 60 + 1):
        at = now - timedelta(minutes=HOURS * 60 - minute)
        hot = any(start <= at < start + timedelta(hours=1) for start in warm)
        lines.append(reading_line("BSL", "unit", "FRIDGE-01", "p1", at, 12.0 if hot else 5.0))
        if gap is None or not gap[0] <= at < gap[1]:
            lines.append(reading_line("BSL", "unit", "FRIDGE-02", "p1", at, 5.0))
    return lines


async def _write(settings: Settings, lines: list[str]) -> None:
    async with InfluxClient(settings.influx_url, settings.influx_db) as influx:
        await influx.create_database()
        await influx.write_lines(lines)


@contextmanager
def _deviation_world(
    tmp_path: Path,
    influx_url: str,
    *,
    extra_placements: str = "",
    gap: tuple[timedelta, timedelta] | None = None,
    **settings_overrides: object,
) -> Iterator[World]:
    """The world above (`gap`: hours ago FRIDGE-02 has no readings), served by the app;
    users authenticate with API tokens."""
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_fleet(now, extra_placements), encoding="utf-8")
    settings = Settings(
        influx_url=influx_url,
        influx_db=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path / "var",
        catalog_url=f"sqlite:///{tmp_path / 'catalog.sqlite3'}",
        **settings_overrides,  # type: ignore[arg-type]
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
        hole = None if gap is None else (now - gap[0], now - gap[1])
        asyncio.run(_write(settings, _readings(now, gap=hole)))
        app = create_app(settings, engine=engine)
        with (
            serve_in_thread(app) as base_url,
            httpx.Client(base_url=base_url, timeout=60) as client,
        ):
            yield World(client, app, base_url, engine, settings, now, api_tokens=tokens)
    finally:
        engine.dispose()


@pytest.fixture(scope="module")
def world(influxd: InfluxServer, tmp_path_factory: pytest.TempPathFactory) -> Iterator[World]:
    # Many signatures from one address within the limiter's window: only `tess` meets it.
    with _deviation_world(
        tmp_path_factory.mktemp("deviations"),
        influxd.url,
        api_deviation_scan_s=0,  # the watch's own test starts a world of its own
        api_login_max_attempts_per_client=10_000,
    ) as built:
        yield built


def _as(world: World, user: str) -> dict[str, str]:
    return world.headers(user, api_token=True)


def _ok(answer: httpx.Response, status: int = 200) -> Any:
    assert answer.status_code == status, answer.text
    return answer.json()


def _findings(world: World, batch: str, user: str = "quinn") -> Any:
    return _ok(world.client.get(f"/v1/batches/{batch}/findings", headers=_as(world, user)))


def _open(world: World, batch: str) -> Any:
    """QA opens a deviation on every open finding of the batch's record."""
    ids = [f["id"] for f in _findings(world, batch)["findings"] if f["state"] == "open"]
    assert ids
    body = {"batch": batch, "finding_ids": ids, "title": "an hour at 12 °C in FRIDGE-01"}
    return _ok(world.client.post("/v1/deviations", json=body, headers=_as(world, "quinn")), 201)


def _deviations(world: World, batch: str) -> Any:
    return _ok(
        world.client.get("/v1/deviations", params={"batch": batch}, headers=_as(world, "quinn"))
    )


def _assess(world: World, number: int, user: str = "maria", **change: str) -> httpx.Response:
    body = {
        "reason": "one hour at 12 °C is within VAX-1's stability data",
        "stability_reference": "STAB-VAX1-2026-07",
        "impact": "none",
        "password": PASSWORD,
        "timezone": "Europe/Zurich",
        **change,
    }
    return world.client.post(f"/v1/deviations/{number}/assess", json=body, headers=_as(world, user))


def _decide(
    world: World, number: int, verb: str, user: str = "alice", **body: Any
) -> httpx.Response:
    return world.client.post(
        f"/v1/deviations/{number}/{verb}",
        json={"password": PASSWORD, "comment": None, **body},
        headers=_as(world, user),
    )


def _release(world: World, batch: str, user: str, password: str = PASSWORD) -> httpx.Response:
    body = {"decision": "released", "comment": "record reviewed", "password": password}
    return world.client.post(f"/v1/batches/{batch}/release", json=body, headers=_as(world, user))


def _refusals(world: World, user: str) -> list[tuple[str, str | None, str]]:
    with catalog_session(world.engine) as session:
        return [
            (e.entity, e.entity_id, e.action)
            for e in read_audit(session)
            if e.actor == user and e.action == "signature_refused"
        ]


def test_a_deviation_goes_from_open_to_released_through_http(world: World) -> None:
    before = _findings(world, "LOT-X1")
    assert before["verdict"] == "open findings"
    opened = _open(world, "LOT-X1")
    assert (opened["state"], opened["opened_by"]) == ("open", "quinn")
    assert {f["id"] for f in opened["findings"]} == {
        f["id"] for f in before["findings"] if f["state"] == "open"
    }
    number = opened["id"]

    assessed = _ok(_assess(world, number))
    assert assessed["state"] == "assessed"
    [authored] = assessed["signatures"]
    assert (authored["meaning"], authored["user_id"], authored["valid"]) == (
        "authored",
        "maria",
        True,
    )
    assert authored["local_time"].endswith(("+01:00", "+02:00"))  # Europe/Zurich
    assert "password" not in str(assessed)

    closed = _ok(_decide(world, number, "agree", comment="agreed, LOT-X1 unaffected"))
    assert closed["state"] == "closed"
    assert closed["sponsor_comment"] == "agreed, LOT-X1 unaffected"
    assert [h["state"] for h in closed["history"]] == ["open", "assessed", "agreed", "closed"]
    assert [s["meaning"] for s in closed["signatures"]] == ["authored", "approved"]

    after = _findings(world, "LOT-X1")
    assert after["verdict"] == "no open findings"
    assert {(f["state"], f["deviation"]) for f in after["findings"]} == {
        ("cleared", opened["number"])
    }

    released = _ok(_release(world, "LOT-X1", "quinn"))
    assert (released["decision"], released["decided_by"]) == ("released", "quinn")
    assert (released["signature"]["meaning"], released["signature"]["valid"]) == ("approved", True)

    alice = _findings(world, "LOT-X1", user="alice")
    assert alice["release"] == released
    assert alice["verdict"] == "no open findings"
    deviations = _ok(world.client.get("/v1/deviations", headers=_as(world, "alice")))
    assert opened["number"] in {d["number"] for d in deviations}
    assert (
        world.client.get(f"/v1/deviations/{number}", headers=_as(world, "bob")).status_code == 404
    )
    assert _ok(world.client.get("/v1/deviations", headers=_as(world, "bob"))) == []


def test_a_deviation_covers_only_open_findings_not_yet_covered_over_their_span(
    world: World,
) -> None:
    quinn = _as(world, "quinn")
    body = {"batch": "LOT-X8", "finding_ids": ["excursion-000000000000"], "title": "t"}
    unknown = world.client.post("/v1/deviations", json=body, headers=quinn)
    assert unknown.status_code == 409, unknown.text
    assert "not an open finding" in unknown.json()["detail"]
    opened = _open(world, "LOT-X8")
    again = world.client.post(
        "/v1/deviations",
        json={**body, "finding_ids": [f["id"] for f in opened["findings"]]},
        headers=quinn,
    )
    assert again.status_code == 409, again.text
    assert "already covered over that span" in again.json()["detail"]
    assert [d["id"] for d in _deviations(world, "LOT-X8")] == [opened["id"]]


def test_a_wrong_password_is_refused_changes_nothing_and_is_audited(world: World) -> None:
    opened = _open(world, "LOT-X2")
    refused = _assess(world, opened["id"], password="not my password")
    assert refused.status_code == 403, refused.text
    assert refused.json()["detail"].startswith("signature refused: ")
    assert "not my password" not in refused.text
    unchanged = _ok(world.client.get(f"/v1/deviations/{opened['id']}", headers=_as(world, "quinn")))
    assert unchanged == opened
    assert ("deviation_assessment", opened["number"], "signature_refused") in _refusals(
        world, "maria"
    )


def test_the_assessor_may_not_sign_the_release(world: World) -> None:
    opened = _open(world, "LOT-X3")
    _ok(_assess(world, opened["id"], user="maria"))
    _ok(_decide(world, opened["id"], "agree"))
    assert _findings(world, "LOT-X3")["verdict"] == "no open findings"

    refused = _release(world, "LOT-X3", "maria")
    assert refused.status_code == 403, refused.text
    assert "two-person rule" in refused.json()["detail"]
    assert _findings(world, "LOT-X3")["release"] is None
    assert ("release", "LOT-X3", "signature_refused") in _refusals(world, "maria")


def test_an_admin_signs_nothing(world: World) -> None:
    opened = _open(world, "LOT-X4")
    for answer, subject, subject_id in (
        (_assess(world, opened["id"], user="ada"), "deviation_assessment", opened["number"]),
        (_release(world, "LOT-X4", "ada"), "release", "LOT-X4"),
        (
            _decide(world, opened["id"], "agree", user="ada"),
            "deviation_agreement",
            opened["number"],
        ),
    ):
        assert answer.status_code == 403, answer.text
        assert answer.json()["detail"].startswith("signature refused: a admin may not sign")
        assert (subject, subject_id, "signature_refused") in _refusals(world, "ada")
    state = _ok(world.client.get(f"/v1/deviations/{opened['id']}", headers=_as(world, "ada")))
    assert (state["state"], state["signatures"]) == ("open", [])


def test_a_dispute_needs_a_comment_and_goes_back_to_qa(world: World) -> None:
    opened = _open(world, "LOT-X5")
    _ok(_assess(world, opened["id"]))
    blank = _decide(world, opened["id"], "dispute", comment="  ")
    assert blank.status_code == 409, blank.text
    assert "comment" in blank.json()["detail"]

    disputed = _ok(
        _decide(world, opened["id"], "dispute", comment="our own logger read 14 °C, not 12")
    )
    assert disputed["state"] == "disputed"
    assert disputed["history"][-1]["comment"] == "our own logger read 14 °C, not 12"
    assert disputed["signatures"][-1]["meaning"] == "rejected"
    again = _ok(_assess(world, opened["id"], reason="14 °C for one hour is within STAB-VAX1 too"))
    assert again["state"] == "assessed"


def test_an_operator_is_refused_every_deviation_and_release_route(world: World) -> None:
    omar = _as(world, "omar")
    first = _open(world, "LOT-X7")
    body = {"password": PASSWORD, "comment": "x"}
    for method, path, payload in (
        ("GET", "/v1/deviations", None),
        ("GET", f"/v1/deviations/{first['id']}", None),
        ("GET", "/v1/batches/LOT-X1/findings", None),
        ("POST", "/v1/deviations", {"batch": "LOT-X1", "finding_ids": ["x"], "title": "t"}),
        ("POST", f"/v1/deviations/{first['id']}/dispute", body),
        ("POST", "/v1/batches/LOT-X1/release", {**body, "decision": "released"}),
    ):
        answer = world.client.request(method, path, json=payload, headers=omar)
        assert answer.status_code == 403, f"{method} {path}: {answer.text}"


def test_signing_attempts_count_in_the_login_limiter(world: World) -> None:
    # tess's fifth wrong password is free, the sixth attempt (even with the right one)
    # meets the back-off: a stolen session is no password oracle.
    opened = _open(world, "LOT-X6")
    statuses = [
        _assess(world, opened["id"], user="tess", password=f"guess {n}").status_code
        for n in range(5)
    ]
    assert statuses == [403] * 5
    limited = _assess(world, opened["id"], user="tess")
    assert limited.status_code == 429, limited.text
    assert int(limited.headers["Retry-After"]) > 0


def test_a_signature_time_zone_must_be_an_iana_zone(world: World) -> None:
    answer = _assess(world, 999_999, timezone="Mars/Olympus_Mons")
    assert answer.status_code == 422, answer.text
    assert answer.json()["detail"][0]["loc"] == ["body", "timezone"]


def test_the_watch_opens_one_deviation_per_new_gap_finding_once(
    influxd: InfluxServer, tmp_path: Path
) -> None:
    # LOT-W1 was in FRIDGE-02 from 4 h to 1 h ago; the fridge lost 30 min of readings 3 h ago.
    period_s = 1.0
    now = datetime.now(UTC).replace(second=0, microsecond=0)
    placement = (
        f'  - {{batch: LOT-W1, unit: BSL/FRIDGE-02, from: "{rfc3339(now - timedelta(hours=4))}", '
        f'to: "{rfc3339(now - timedelta(hours=1))}"}}\n'
    )
    with _deviation_world(
        tmp_path,
        influxd.url,
        extra_placements=placement,
        gap=(timedelta(hours=3), timedelta(hours=2, minutes=30)),
        api_deviation_scan_s=period_s,
    ) as w:
        started = time.monotonic()
        opened = _wait_for_deviation(w, "LOT-W1", timeout_s=period_s + 20)
        assert time.monotonic() - started < period_s + 20
        [deviation] = opened
        assert (deviation["opened_by"], deviation["state"]) == ("system", "open")
        [gap] = deviation["findings"]
        assert gap["kind"] == "gap"
        assert deviation["title"].startswith("gap, BSL/FRIDGE-02 (p1), ")
        time.sleep(4 * period_s)  # more scans
        assert [d["id"] for d in _deviations(w, "LOT-W1")] == [deviation["id"]]


def _wait_for_deviation(world: World, batch: str, *, timeout_s: float) -> Any:
    deadline = time.monotonic() + timeout_s
    while time.monotonic() < deadline:
        found = _deviations(world, batch)
        if found:
            return found
        time.sleep(0.2)
    raise AssertionError(f"no deviation opened on {batch} within {timeout_s} s")


def test_closing_an_alert_is_qas_signature_with_the_password(world: World) -> None:
    start = world.now - timedelta(hours=30)
    with catalog_session(world.engine) as session:
        new = NewAlert("AL-SIGN-1", "excursion", "alarm", "BSL", "unit", "FRIDGE-01", "p1", start)
        open_alert(session, new, at=start)
        resolve_alert(session, "AL-SIGN-1", actor="detector", at=start, end=start)
    body = {"root_cause": "door left open", "comment": "retrained", "password": PASSWORD}

    def close(user: str, **change: str) -> httpx.Response:
        return world.client.post(
            "/v1/alerts/AL-SIGN-1/close", json={**body, **change}, headers=_as(world, user)
        )

    admin = close("ada")
    assert admin.status_code == 403, admin.text
    wrong = close("quinn", password="not it")
    assert wrong.status_code == 403, wrong.text
    assert ("alert_closure", "AL-SIGN-1", "signature_refused") in _refusals(world, "quinn")
    alert = _ok(world.client.get("/v1/alerts/AL-SIGN-1", headers=_as(world, "quinn")))
    assert alert["state"] == "resolved"

    assert _ok(close("quinn", timezone="Europe/Zurich"))["state"] == "closed"
    with catalog_session(world.engine) as session:
        [signed] = signatures_of_subject(session, subject="alert_closure", subject_id="AL-SIGN-1")
    assert (signed.meaning, signed.user_id, signed.timezone) == (
        "approved",
        "quinn",
        "Europe/Zurich",
    )
    assert check_signature(signed) == []
    content = json.loads(signed.content)
    assert (content["root_cause"], content["comment"]) == ("door left open", "retrained")
    assert (content["alert"]["alert_id"], content["alert"]["state"]) == ("AL-SIGN-1", "closed")


def test_the_watch_logs_an_influxdb_outage_and_tries_again_next_period(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    # The same catalog (open findings on every lot) served by an API whose InfluxDB is down.
    dead = world.settings.model_copy(
        update={
            "influx_url": f"http://127.0.0.1:{free_port()}",
            "influx_timeout_s": 1.0,
            "api_deviation_scan_s": 0.5,
        }
    )
    before = _deviations(world, "LOT-X1")
    with (
        caplog.at_level(logging.WARNING, logger="api.deviation_watch"),
        serve_in_thread(create_app(dead, engine=world.engine)) as base_url,
    ):
        deadline = time.monotonic() + 20
        while time.monotonic() < deadline and len(_scan_warnings(caplog)) < 2:
            time.sleep(0.2)
        me = httpx.get(f"{base_url}/v1/auth/me", headers=_as(world, "quinn"), timeout=10)
        assert me.status_code == 200, me.text  # the API goes on
    assert len(_scan_warnings(caplog)) >= 2  # tried again the next period
    assert _deviations(world, "LOT-X1") == before


def _scan_warnings(caplog: pytest.LogCaptureFixture) -> list[str]:
    return [r.getMessage() for r in caplog.records if "deviation scan stopped" in r.getMessage()]
