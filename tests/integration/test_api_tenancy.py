"""No sponsor sees another sponsor's data: every route, called by GLOBEX's viewer with
ACME's ids, answers 404 (or, without ids, nothing of ACME's). Routes are enumerated from
the app, so a new route is covered the day it is added; a path parameter this test cannot
fill fails the test rather than skipping the route."""

from __future__ import annotations

import time
from collections.abc import Callable, Iterator
from contextlib import contextmanager
from datetime import UTC, datetime, timedelta
from typing import Any

import pytest
from fastapi.routing import APIRoute
from sqlalchemy import delete, select
from starlette.routing import BaseRoute, Mount

from coldchain.catalog import catalog_session
from coldchain.catalog.alerts import NewAlert, open_alert, resolve_alert
from coldchain.catalog.schema import BatchRow, PlacementRow, StorageUnitRow
from coldchain.times import to_ms
from tests.support.api_world import World, write_reading

pytestmark = pytest.mark.integration

# ACME's ids, used in GLOBEX's requests; none may come back in any answer to GLOBEX.
ACME_PARAMS = {
    "product": "VAX-1",
    "batch": "LOT-A2",
    "site": "BSL",
    "unit": "FRIDGE-02",
    "shipment": "SHP-A",
    "alert_id": "A-F02-1",
    "deviation_id": "1",  # none in this world: answers as any id GLOBEX may not see
}
ACME_ONLY_IDS = (
    "VAX-1",
    "LOT-A1",
    "LOT-A2",
    "FRIDGE-02",
    "SHP-A",
    "LOG-A",
    "A-F02-1",
    "A-F01-PAST",
    "A-LOG-1",
    "ACME",
    "alice",
)


def api_routes(routes: list[BaseRoute], prefix: str = "") -> Iterator[tuple[str, APIRoute]]:
    """Every APIRoute with its full path, through included routers (any FastAPI layout)."""
    for route in routes:
        if isinstance(route, APIRoute):
            yield prefix + route.path, route
        elif isinstance(route, Mount):
            continue  # static files
        elif hasattr(route, "original_router"):
            context = route.include_context  # type: ignore[attr-defined]
            yield from api_routes(route.original_router.routes, prefix + context.prefix)
        elif hasattr(route, "routes"):
            yield from api_routes(route.routes, prefix)


def _example_body(route: APIRoute) -> dict[str, Any] | None:
    """A minimal valid JSON body from the route's model: required fields filled in (a
    choice with its first value, a list with one string, anything else with a string)."""
    if route.body_field is None:
        return None
    schema = route.body_field.field_info.annotation.model_json_schema()  # type: ignore[union-attr]
    fields = schema.get("properties", {})
    return {name: _example(fields.get(name, {})) for name in schema.get("required", [])}


def _example(field: dict[str, Any]) -> Any:
    if "enum" in field:
        return field["enum"][0]
    if field.get("type") == "array":
        return ["checked by test"]
    if field.get("format") == "date-time":  # e.g. a time out of refrigeration (#22)
        return "2026-01-01T00:00:00Z"
    if field.get("type") == "number":
        return 12.0
    return "checked by test"


def test_route_walk_finds_every_published_path(world: World) -> None:
    walked = {path for path, _ in api_routes(world.app.routes)}
    published = set(world.client.get("/v1/openapi.json").json()["paths"])
    assert published <= walked


def test_every_route_hides_acme_from_globex(world: World) -> None:
    # bob's API token: a login token would be revoked by the sweep's own POST /auth/logout
    # (an API token cannot log out: 422), and bob's later requests would all be 401.
    headers = world.headers("bob", api_token=True)
    checked = 0
    for path, route in api_routes(world.app.routes):
        names = [p.name for p in route.dependant.path_params]
        missing = [n for n in names if n not in ACME_PARAMS]
        assert not missing, f"{path}: the tenancy test cannot fill {missing}; add ACME ids"
        url = path.format(**{n: ACME_PARAMS[n] for n in names})
        for method in sorted(route.methods or ()):
            if method == "HEAD":
                continue
            if route.path.endswith("/auth/token"):
                answer = world.client.post(url, data={"username": "alice", "password": "x"})
            else:
                answer = world.client.request(
                    method,
                    url,
                    headers=headers,
                    params={"max_events": 1},
                    json=_example_body(route),
                )
            checked += 1
            if names:
                assert answer.status_code == 404, (
                    f"{method} {url}: {answer.status_code} {answer.text[:200]}"
                )
                assert answer.json() == {"detail": "not found"}
                continue
            assert answer.status_code in (200, 401, 403, 422), (
                f"{method} {url}: {answer.status_code}"
            )
            leaked = [i for i in ACME_ONLY_IDS if i in answer.text]
            assert not leaked, f"{method} {url} leaks {leaked}: {answer.text[:300]}"
    assert checked >= 20


def test_unknown_ids_answer_like_foreign_ones(world: World) -> None:
    foreign = world.client.get("/v1/products/VAX-1", headers=world.headers("bob"))
    unknown = world.client.get("/v1/products/NOPE-9", headers=world.headers("bob"))
    assert (foreign.status_code, foreign.text) == (unknown.status_code, unknown.text)


def test_shared_fridge_history_shows_globex_only_its_own_period(world: World) -> None:
    params = {
        "from": (world.now.replace(microsecond=0) - _days(12)).isoformat(),
        "to": world.now.isoformat(),
        "buckets": 200,
    }
    bob = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-01/history", params=params, headers=world.headers("bob")
    ).json()
    arrived_ms = to_ms(world.now - _days(1))
    points = [p for s in bob["series"] for p in s["points"]]
    assert points
    assert min(p[0] for p in points) >= arrived_ms - bob["bucket_ms"]
    assert max(p[2] for p in points) < 10  # ACME's 30 °C spike stays ACME's
    assert [seg["windows"][0]["start"][:16] for seg in bob["segments"]] == [
        (world.now - _days(1)).isoformat()[:16]
    ]
    assert {lim["min_c"] for seg in bob["segments"] for lim in seg["limits"]} == {3.0}


def test_acme_sees_its_spike_in_the_shared_fridge(world: World) -> None:
    params = {
        "from": (world.now - _days(12)).isoformat(),
        "to": world.now.isoformat(),
        "buckets": 200,
    }
    alice = world.client.get(
        "/v1/batches/LOT-A2/history", params=params, headers=world.headers("alice")
    ).json()
    peaks = [p[2] for s in alice["series"] if s["location"] == "BSL/FRIDGE-01" for p in s["points"]]
    assert max(peaks) == 30.0  # min/max buckets keep the peak at any zoom
    assert all(
        p[0] < to_ms(world.now - _days(2))
        for s in alice["series"]
        if s["location"] == "BSL/FRIDGE-01"
        for p in s["points"]
    )


def test_globex_live_view_of_shared_fridge_judges_by_its_own_limits(world: World) -> None:
    live = world.client.get("/v1/live", headers=world.headers("bob")).json()
    assert [p["location"]["id"] for p in live["places"]] == ["BSL/FRIDGE-01"]
    assert live["places"][0]["limits"]["products"] == ["BIO-7"]


def test_sponsor_alert_detail_drops_limits_and_comments(world: World) -> None:
    alert = world.client.get("/v1/alerts/B-F01-NOW", headers=world.headers("bob")).json()
    assert alert["detail"] == {"value_c": 9.1}
    assert all(
        set(h) <= {"state", "at", "actor", "comment", "root_cause"} for h in alert["history"]
    )
    assert all(h["comment"] is None and h["actor"] is None for h in alert["history"])
    staff = world.client.get("/v1/alerts/B-F01-NOW", headers=world.headers("quinn")).json()
    assert staff["detail"]["condition"] == "secret label"


def test_acme_does_not_see_globex_alert_in_the_fridge_it_left(world: World) -> None:
    ids = {
        a["alert_id"] for a in world.client.get("/v1/alerts", headers=world.headers("alice")).json()
    }
    assert ids == {"A-F02-1", "A-F01-PAST", "A-LOG-1"}


def test_operator_sees_only_their_sites(world: World) -> None:
    answer = world.client.get("/v1/sites/LYS/units/ROOM-01", headers=world.headers("omar"))
    assert answer.status_code == 404


def test_sponsor_may_not_acknowledge_even_its_own_alert(world: World) -> None:
    answer = world.client.post(
        "/v1/alerts/A-F02-1/acknowledge", json={"comment": "seen"}, headers=world.headers("alice")
    )
    assert answer.status_code == 403


def _days(n: float) -> Any:
    return timedelta(days=n)


# GLOBEX's BIO-7 (3-7 °C) is in FRIDGE-01 now; for the next test ACME's VAX-1 (2-8 °C) is
# there too, and the detector has raised an alarm under the unit's strictest limits (BIO-7's
# 7 °C) at 7.4 °C, which is well inside VAX-1's own range.
SHARED_BATCH = "LOT-A9"
SHARED_ALERT = "X-F01-SHARED"


@contextmanager
def _acme_also_in_fridge_01(world: World) -> Iterator[None]:
    """ACME's LOT-A9 placed in FRIDGE-01 three hours ago, and the alarm; both removed again
    (rows, not a move: a closed placement would still give ACME the last three hours)."""
    now = datetime.now(UTC)
    with catalog_session(world.engine) as session:
        unit_id = session.execute(
            select(StorageUnitRow.id).where(
                StorageUnitRow.site_id == "BSL", StorageUnitRow.code == "FRIDGE-01"
            )
        ).scalar_one()
        session.add(BatchRow(id=SHARED_BATCH, product_id="VAX-1"))
        session.flush()
        session.add(
            PlacementRow(
                batch_id=SHARED_BATCH,
                unit_id=unit_id,
                shipment_id=None,
                start_at=now - timedelta(hours=3),
                end_at=None,
                recorded_at=now,
            )
        )
        alert = NewAlert(
            alert_id=SHARED_ALERT,
            kind="excursion",
            severity="alarm",
            site="BSL",
            source="unit",
            device="FRIDGE-01",
            sensor="p2",
            start=now - timedelta(hours=1),
            peak_c=7.4,
            detail={"limit_c": 7.0, "condition": "BIO-7 3-7 °C", "value_c": 7.4},
        )
        open_alert(session, alert, at=alert.start)
    try:
        yield
    finally:
        with catalog_session(world.engine) as session:
            resolve_alert(session, SHARED_ALERT, actor="detector", at=now, end=now)
            session.execute(delete(PlacementRow).where(PlacementRow.batch_id == SHARED_BATCH))
            session.execute(delete(BatchRow).where(BatchRow.id == SHARED_BATCH))


def _unit_live(world: World, user: str, ready: Callable[[dict[str, Any]], bool]) -> Any:
    """FRIDGE-01's live answer for `user` once `ready` (answers are shared for a second)."""
    deadline = time.monotonic() + 10
    while True:
        answer = world.client.get("/v1/sites/BSL/units/FRIDGE-01/live", headers=world.headers(user))
        assert answer.status_code == 200, answer.text
        place = answer.json()["places"][0]
        if ready(place) or time.monotonic() > deadline:
            return answer
        time.sleep(0.2)


def test_shared_unit_tile_judges_a_sponsor_by_their_own_product(world: World) -> None:
    write_reading(world.settings, "FRIDGE-01", "p2", 7.2)  # beyond 7, inside 2.5-7.5
    with _acme_also_in_fridge_01(world):
        alice = _unit_live(world, "alice", lambda p: p["products"] == ["VAX-1"])
        staff = _unit_live(world, "quinn", lambda p: len(p["limits"]["products"]) == 2)
        bob = _unit_live(
            world, "bob", lambda p: SHARED_ALERT in {a["alert_id"] for a in p["alerts"]}
        )
    [mine] = alice.json()["places"]
    assert (mine["limits"]["min_c"], mine["limits"]["max_c"]) == (2.0, 8.0)
    assert mine["limits"]["products"] == ["VAX-1"]
    p2 = next(s for s in mine["sensors"] if s["sensor"] == "p2")
    assert (p2["temp_c"], p2["status"]) == (7.2, "ok")
    assert mine["status"] != "alarm"  # the alarm is BIO-7's, raised under its 7 °C
    assert SHARED_ALERT not in {a["alert_id"] for a in mine["alerts"]}
    for foreign in ("BIO-7", "GLOBEX", "LOT-B1", "3–7 °C", "limit_c", SHARED_ALERT):
        assert foreign not in alice.text, foreign

    # Warehouse staff and QA see the unit's strictest limits, which drive its alarm.
    [unit] = staff.json()["places"]
    assert (unit["limits"]["min_c"], unit["limits"]["max_c"]) == (3.0, 7.0)
    assert unit["limits"]["products"] == ["BIO-7", "VAX-1"]
    assert unit["status"] == "alarm"
    assert SHARED_ALERT in {a["alert_id"] for a in unit["alerts"]}

    # GLOBEX's own product is the one out of range: its tile is red, without ACME's ids.
    [theirs] = bob.json()["places"]
    assert (theirs["limits"]["min_c"], theirs["limits"]["max_c"]) == (3.0, 7.0)
    assert theirs["limits"]["products"] == ["BIO-7"]
    assert theirs["status"] == "alarm"
    leaked = [i for i in (*ACME_ONLY_IDS, SHARED_BATCH) if i in bob.text]
    assert not leaked, leaked


def test_a_sponsor_never_lists_an_alarm_raised_only_under_another_products_limits(
    world: World,
) -> None:
    # Listing it (or answering for its id) would tell ACME that a product with a stricter
    # range shares the fridge: the alert's peak, 7.4 °C, never left VAX-1's own 2-8 °C.
    with _acme_also_in_fridge_01(world):
        alice = world.client.get("/v1/alerts", headers=world.headers("alice"))
        one = world.client.get(f"/v1/alerts/{SHARED_ALERT}", headers=world.headers("alice"))
        bob = world.client.get("/v1/alerts", headers=world.headers("bob"))
    assert alice.status_code == 200, alice.text
    assert SHARED_ALERT not in {a["alert_id"] for a in alice.json()}
    assert one.status_code == 404
    assert SHARED_ALERT in {a["alert_id"] for a in bob.json()}


def test_a_sponsor_sees_a_forecast_heading_for_their_own_limit_in_a_shared_unit(
    world: World,
) -> None:
    # Raised at VAX-1's own 8 °C (the detector names the limit): a forecast's peak is in range
    # by nature, so judging it by its peak would hide from ACME what the staff see.
    forecast = NewAlert(
        alert_id="X-F01-FORECAST",
        kind="forecast",
        severity="warning",
        site="BSL",
        source="unit",
        device="FRIDGE-01",
        sensor="p1",
        start=datetime.now(UTC) - timedelta(minutes=30),
        peak_c=7.4,
        detail={"eta_min": 12.0, "limit_c": 8.0, "condition": "VAX-1 2-8 °C"},
    )
    with _acme_also_in_fridge_01(world):
        with catalog_session(world.engine) as session:
            open_alert(session, forecast, at=forecast.start)
        try:
            alerts = world.client.get("/v1/alerts", headers=world.headers("alice"))
            tile = _unit_live(
                world,
                "alice",
                lambda p: forecast.alert_id in {a["alert_id"] for a in p["alerts"]},
            )
        finally:
            with catalog_session(world.engine) as session:
                now = datetime.now(UTC)
                resolve_alert(session, forecast.alert_id, actor="detector", at=now, end=now)
    assert alerts.status_code == 200, alerts.text
    listed = {a["alert_id"] for a in alerts.json()}
    assert forecast.alert_id in listed
    assert SHARED_ALERT not in listed  # BIO-7's alarm under 7 °C stays out of ACME's sight
    [mine] = tile.json()["places"]
    assert mine["status"] == "warning"
    assert "limit_c" not in tile.text
    assert "limit_c" not in alerts.text
