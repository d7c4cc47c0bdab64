"""Through the API (uvicorn, the catalog, a real influxd): QA and admin review the audit
trail at `GET /v1/audit`, every other role gets 403; the person who acknowledged an alert
cannot also close it (409 with a sentence; someone else can); an export after the signing
key was lost is refused rather than signed with a new key."""

from __future__ import annotations

from datetime import timedelta

import pytest

from api.export.signing import PRIVATE_KEY_NAME
from coldchain.catalog import append_audit, catalog_session, set_password, upsert_user
from coldchain.catalog.alerts import get_alert, resolve_alert
from tests.support.api_world import PASSWORD, World

pytestmark = pytest.mark.integration


def _span(world: World) -> dict[str, str]:
    return {
        "from": (world.now - timedelta(days=30)).isoformat(),
        "to": (world.now + timedelta(hours=1)).isoformat(),
    }


@pytest.mark.parametrize("user", ["quinn", "ada"])
def test_qa_and_admin_review_the_entries_about_a_batch(world: World, user: str) -> None:
    answer = world.client.get(
        "/v1/audit", params=_span(world) | {"batch": "LOT-B1"}, headers=world.headers(user)
    )
    assert answer.status_code == 200, answer.text
    review = answer.json()
    assert review["truncated"] is False
    entries = [(e["actor"], e["action"], e["entity"]) for e in review["entries"]]
    assert entries == [
        ("test", "create", "batch"),
        ("test", "create", "placement"),
        ("test", "create", "placement"),
    ]
    first = review["entries"][0]
    assert (first["entity_id"], first["reason"], first["changed"]) == (
        "LOT-B1",
        None,
        "product_id=BIO-7",
    )


def test_an_actor_filter_and_a_limit_cut_the_review(world: World) -> None:
    answer = world.client.get(
        "/v1/audit",
        params=_span(world) | {"actor": "detector", "limit": "2"},
        headers=world.headers("quinn"),
    )
    assert answer.status_code == 200, answer.text
    review = answer.json()
    assert [e["actor"] for e in review["entries"]] == ["detector", "detector"]
    assert review["truncated"] is True


@pytest.mark.parametrize("user", ["alice", "bob", "omar"])
def test_other_roles_may_not_review_the_trail(world: World, user: str) -> None:
    for token in (world.headers(user), world.headers(user, api_token=True)):
        answer = world.client.get("/v1/audit", params=_span(world), headers=token)
        assert answer.status_code == 403
        assert answer.json() == {"detail": "needs one of the roles qa, admin"}


def test_a_review_span_that_ends_before_it_starts_is_refused(world: World) -> None:
    span = _span(world)
    answer = world.client.get(
        "/v1/audit",
        params={"from": span["to"], "to": span["from"]},
        headers=world.headers("quinn"),
    )
    assert answer.status_code == 422
    assert "must be after from" in answer.json()["detail"]


def _log_in(world: World, user: str) -> dict[str, str]:
    answer = world.client.post("/v1/auth/token", data={"username": user, "password": PASSWORD})
    assert answer.status_code == 200, answer.text
    return {"Authorization": f"Bearer {answer.json()['access_token']}"}


def test_whoever_acknowledged_an_alert_may_not_close_it(world: World) -> None:
    """No role both acknowledges and closes; a person whose role changes may hold both
    in turn: olga acknowledges as an operator, is made QA, and still may not close it."""
    with catalog_session(world.engine) as session:
        upsert_user(session, user_id="olga", role="warehouse_operator", sites=["BSL"], actor="ada")
        set_password(session, user_id="olga", password=PASSWORD, actor="ada")
    ack = world.client.post(
        "/v1/alerts/A-F02-1/acknowledge",
        json={"comment": "LOT-A1 moved to FRIDGE-03"},
        headers=_log_in(world, "olga"),
    )
    assert ack.status_code == 200, ack.text
    with catalog_session(world.engine) as session:
        resolve_alert(session, "A-F02-1", actor="detector", at=world.now, end=world.now)
        upsert_user(session, user_id="olga", role="qa", actor="ada", reason="joined QA")
    close = {"root_cause": "door left open", "password": PASSWORD}
    refused = world.client.post(
        "/v1/alerts/A-F02-1/close", json=close, headers=_log_in(world, "olga")
    )
    assert refused.status_code == 409
    assert refused.json() == {
        "detail": "alert A-F02-1: olga acknowledged it, so someone else must close it "
        "(acknowledging and closing need two persons)"
    }
    with catalog_session(world.engine) as session:
        assert get_alert(session, "A-F02-1").state == "resolved"  # nothing written
    closed = world.client.post(
        "/v1/alerts/A-F02-1/close", json=close, headers=world.headers("quinn")
    )
    assert closed.status_code == 200, closed.text
    assert closed.json()["state"] == "closed"


def test_an_export_after_the_signing_key_was_lost_is_refused_and_makes_no_key(
    world: World,
) -> None:
    key = world.settings.data_dir / "keys" / PRIVATE_KEY_NAME
    assert not key.exists()  # this world never exported: as if the key files were lost
    with catalog_session(world.engine) as session:
        append_audit(
            session,
            actor="quinn",
            action="export",
            entity="batch",
            entity_id="LOT-A1",
            new={"format": "csv", "key_id": "0123456789abcdef"},
        )
    answer = world.client.get(
        "/v1/batches/LOT-A1/export", params={"format": "csv"}, headers=world.headers("quinn")
    )
    assert answer.status_code == 503
    assert answer.json() == {
        "detail": "the export signing key is unusable; the server log says why"
    }
    assert not key.exists()
