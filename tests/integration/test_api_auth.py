"""Login, tokens, rate limits and the security headers of the API and the page."""

from __future__ import annotations

import logging

import pytest

from tests.support.api_world import PASSWORD, World

pytestmark = pytest.mark.integration


API_SETTINGS = {
    "api_login_max_failures_per_user": 3,
    "api_login_max_attempts_per_client": 1000,
    "api_login_token_ttl_s": 2.0,
}


def test_login_answers_a_bearer_token(world: World) -> None:
    answer = world.client.post("/v1/auth/token", data={"username": "alice", "password": PASSWORD})
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    me = world.client.get(
        "/v1/auth/me", headers={"Authorization": f"Bearer {body['access_token']}"}
    )
    assert me.json()["user_id"] == "alice"


def test_catalog_api_token_works_too(world: World) -> None:
    me = world.client.get("/v1/auth/me", headers=world.headers("quinn", api_token=True))
    assert me.json()["role"] == "qa"


def test_me_gives_the_printed_name_the_signing_dialog_shows(world: World) -> None:
    # Catalog API tokens: this module's login tokens live 2 s, less than a loaded machine
    # may take to reach this test.
    quinn = world.client.get("/v1/auth/me", headers=world.headers("quinn", api_token=True)).json()
    alice = world.client.get("/v1/auth/me", headers=world.headers("alice", api_token=True)).json()
    assert (quinn["name"], alice["name"]) == ("Quinn Novak", None)


def test_no_token_is_401_with_bearer_challenge(world: World) -> None:
    answer = world.client.get("/v1/products")
    assert answer.status_code == 401
    assert answer.headers["www-authenticate"] == "Bearer"


def test_forged_or_garbage_token_is_401(world: World) -> None:
    real = world.login_tokens["alice"]
    forged = real[:-4] + ("AAAA" if not real.endswith("AAAA") else "BBBB")
    for token in (forged, "cct_nope", "ccs_x.y", "ccs_\xe9.\xe9"):
        header = f"Bearer {token}".encode("latin-1")
        answer = world.client.get("/v1/products", headers={b"Authorization": header})
        assert answer.status_code == 401


def test_login_token_expires(world: World) -> None:
    import time

    token = world.client.post("/v1/auth/token", data={"username": "bob", "password": PASSWORD})
    headers = {"Authorization": f"Bearer {token.json()['access_token']}"}
    assert world.client.get("/v1/auth/me", headers=headers).status_code == 200
    time.sleep(2.1)
    assert world.client.get("/v1/auth/me", headers=headers).status_code == 401


def test_wrong_passwords_are_rate_limited_per_user(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    for _ in range(3):
        wrong = world.client.post(
            "/v1/auth/token", data={"username": "omar", "password": "hunter2"}
        )
        assert wrong.status_code == 401
    locked = world.client.post("/v1/auth/token", data={"username": "omar", "password": PASSWORD})
    assert locked.status_code == 429
    assert int(locked.headers["retry-after"]) > 0
    assert "hunter2" not in caplog.text
    assert PASSWORD not in caplog.text


def test_unknown_user_is_not_named_in_the_log(
    world: World, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.INFO)
    world.client.post("/v1/auth/token", data={"username": "my-secret-pw", "password": "x"})
    assert "my-secret-pw" not in caplog.text


def test_validation_errors_do_not_echo_input(world: World) -> None:
    answer = world.client.post("/v1/auth/token", data={"username": "alice"})
    assert answer.status_code == 422
    assert "alice" not in answer.text


def test_page_has_security_headers(world: World) -> None:
    page = world.client.get("/")
    assert page.status_code == 200
    csp = page.headers["content-security-policy"]
    assert "script-src 'self'" in csp
    assert "unsafe-inline" not in csp
    assert "frame-ancestors 'none'" in csp
    assert page.headers["x-content-type-options"] == "nosniff"
    assert page.headers["referrer-policy"] == "no-referrer"
    assert "<script>" not in page.text
    assert " style=" not in page.text


def test_api_answers_are_not_cached(world: World) -> None:
    answer = world.client.get("/v1/products", headers=world.headers("alice", api_token=True))
    assert answer.headers["cache-control"] == "no-store"


def test_cors_is_closed_by_default(world: World) -> None:
    answer = world.client.options(
        "/v1/products",
        headers={"Origin": "https://evil.example", "Access-Control-Request-Method": "GET"},
    )
    assert "access-control-allow-origin" not in answer.headers


def test_openapi_is_published(world: World) -> None:
    spec = world.client.get("/v1/openapi.json").json()
    assert "/v1/auth/token" in spec["paths"]
    assert "/v1/alerts" in spec["paths"]
