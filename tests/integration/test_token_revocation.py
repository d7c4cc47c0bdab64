"""Token revocation (issue #20, finding 8) through real uvicorn: logout, a password change
and an admin ending a user's sessions void login tokens; API tokens expire. And migration
0006 on SQLite and PostgreSQL: API tokens issued before it get an expiry 90 days after the
migration (the default lifetime), so nothing breaks on upgrade day and nothing lives
forever."""

from __future__ import annotations

import hashlib
import time
from collections.abc import Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import pytest
from sqlalchemy import Engine, text
from typer.testing import CliRunner

from cli.main import app
from coldchain.catalog import catalog_session, create_catalog_engine, upgrade_catalog
from coldchain.catalog.audit import read_audit
from coldchain.catalog.credentials import (
    DEFAULT_TOKEN_LIFETIME,
    authenticate_token,
    create_token,
    list_tokens,
    revoke_sessions,
)
from coldchain.catalog.migrate import catalog_revision, head_revision
from tests.support.api_world import PASSWORD, World
from tests.support.postgres import PostgresServer
from tests.support.secrets_registry import register

pytestmark = pytest.mark.integration

# The viewer of a token is reused this long: revocation shows within it, not at once.
AUTH_CACHE_S = 0.5
API_SETTINGS = {"api_auth_cache_s": AUTH_CACHE_S, "api_login_max_attempts_per_client": 1000}


def _login(world: World, user: str, password: str = PASSWORD) -> httpx.Response:
    return world.client.post("/v1/auth/token", data={"username": user, "password": password})


def _bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def _me(world: World, token: str) -> int:
    return world.client.get("/v1/auth/me", headers=_bearer(token)).status_code


def _me_after_cache(world: World, token: str) -> int:
    time.sleep(AUTH_CACHE_S + 0.2)
    return _me(world, token)


def test_after_logout_the_token_gets_401(world: World) -> None:
    token = _login(world, "alice").json()["access_token"]
    assert _me(world, token) == 200
    answer = world.client.post("/v1/auth/logout", headers=_bearer(token))
    assert answer.status_code == 204
    assert _me_after_cache(world, token) == 401
    fresh = _login(world, "alice").json()["access_token"]
    assert _me(world, fresh) == 200


def test_logout_ends_every_login_session_of_the_user_only(world: World) -> None:
    laptop = _login(world, "bob").json()["access_token"]
    phone = _login(world, "bob").json()["access_token"]
    other = _login(world, "omar").json()["access_token"]
    assert world.client.post("/v1/auth/logout", headers=_bearer(laptop)).status_code == 204
    assert _me_after_cache(world, phone) == 401
    assert _me(world, other) == 200


def test_logout_with_an_api_token_is_refused_and_revokes_nothing(world: World) -> None:
    answer = world.client.post("/v1/auth/logout", headers=world.headers("ada", api_token=True))
    assert answer.status_code == 422
    assert _me(world, world.api_tokens["ada"]) == 200


def test_after_a_password_change_old_tokens_401_and_only_the_new_password_works(
    world: World,
) -> None:
    new_password = "a much longer new passphrase"
    register(new_password)
    old = _login(world, "quinn").json()["access_token"]
    other_session = _login(world, "quinn").json()["access_token"]
    changed = world.client.post(
        "/v1/auth/password",
        headers=_bearer(old),
        json={"current_password": PASSWORD, "new_password": new_password},
    )
    assert changed.status_code == 204
    assert _me_after_cache(world, old) == 401
    assert _me(world, other_session) == 401
    assert _login(world, "quinn").status_code == 401
    fresh = _login(world, "quinn", new_password)
    assert fresh.status_code == 200
    assert _me(world, fresh.json()["access_token"]) == 200
    with catalog_session(world.engine) as session:
        entry = read_audit(session, entity="user")[-1]
    assert (entry.actor, entry.action, entry.entity_id) == ("quinn", "set_password", "quinn")
    assert PASSWORD not in str(entry)
    assert new_password not in str(entry)


def test_a_wrong_current_password_changes_nothing(world: World) -> None:
    token = _login(world, "omar").json()["access_token"]
    answer = world.client.post(
        "/v1/auth/password",
        headers=_bearer(token),
        json={"current_password": "not my password", "new_password": "whatever-whatever"},
    )
    assert answer.status_code == 403
    assert _me_after_cache(world, token) == 200
    assert _login(world, "omar").status_code == 200


def test_a_too_short_new_password_is_refused(world: World) -> None:
    token = _login(world, "omar").json()["access_token"]
    answer = world.client.post(
        "/v1/auth/password",
        headers=_bearer(token),
        json={"current_password": PASSWORD, "new_password": "short"},
    )
    assert answer.status_code == 422
    assert PASSWORD not in answer.text


def test_an_admin_ending_a_users_sessions_voids_their_login_tokens(world: World) -> None:
    token = _login(world, "omar").json()["access_token"]
    with catalog_session(world.engine) as session:
        revoke_sessions(session, user_id="omar", actor="admin")
    assert _me_after_cache(world, token) == 401
    assert _me(world, world.api_tokens["omar"]) == 200  # API tokens are not sessions


def test_an_expired_api_token_gets_401(world: World) -> None:
    with catalog_session(world.engine) as session:
        issued = create_token(session, user_id="alice", actor="test", lifetime=timedelta(seconds=1))
    register(issued.token)
    assert _me(world, issued.token) == 200
    time.sleep(1.1 + AUTH_CACHE_S)
    assert _me(world, issued.token) == 401


def test_a_new_api_token_expires_after_the_default_lifetime_and_is_listed_so(
    world: World,
) -> None:
    before = datetime.now(UTC)
    with catalog_session(world.engine) as session:
        issued = create_token(session, user_id="bob", actor="test", label="ci")
        (listed,) = [t for t in list_tokens(session, user_id="bob") if t.label == "ci"]
    register(issued.token)
    assert before + DEFAULT_TOKEN_LIFETIME <= issued.expires_at
    assert issued.expires_at <= datetime.now(UTC) + DEFAULT_TOKEN_LIFETIME
    assert listed.expires_at == issued.expires_at


# ---- migration 0006 --------------------------------------------------------------------


@pytest.fixture(params=["sqlite", "postgresql"])
def empty_engine(request: pytest.FixtureRequest, tmp_path: Path) -> Iterator[Engine]:
    if request.param == "sqlite":
        url = f"sqlite:///{tmp_path / 'old.sqlite3'}"
    else:
        server: PostgresServer = request.getfixturevalue("postgres_server")
        url = server.create_database()
    engine = create_catalog_engine(url)
    yield engine
    engine.dispose()


def test_an_api_token_from_before_0006_expires_90_days_after_the_migration(
    empty_engine: Engine,
) -> None:
    upgrade_catalog(empty_engine, "0005")
    created = datetime(2026, 1, 5, 8, tzinfo=UTC)
    bound = created if empty_engine.dialect.name == "postgresql" else created.replace(tzinfo=None)
    token = "cct_from-before-the-migration"
    register(token)
    with empty_engine.begin() as connection:
        connection.execute(
            text("INSERT INTO users (id, role, password_hash) VALUES ('quinn', 'qa', NULL)")
        )
        connection.execute(
            text(
                "INSERT INTO api_tokens (user_id, token_sha256, label, created_at, revoked_at) "
                "VALUES ('quinn', :digest, 'old', :created, NULL)"
            ),
            {"digest": hashlib.sha256(token.encode()).hexdigest(), "created": bound},
        )

    migrated_at = datetime.now(UTC)
    upgrade_catalog(empty_engine)

    assert catalog_revision(empty_engine) == head_revision()
    with catalog_session(empty_engine) as session:
        (listed,) = list_tokens(session)
        assert migrated_at + timedelta(days=90) <= listed.expires_at
        assert listed.expires_at <= datetime.now(UTC) + timedelta(days=90)
        assert authenticate_token(session, token=token) == "quinn"


# ---- the CLI ---------------------------------------------------------------------------


def _cli(*args: str, data_dir: Path) -> tuple[int, str, str]:
    result = CliRunner().invoke(app, [*args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


def test_cli_creates_lists_and_revokes_expiring_tokens_and_ends_sessions(
    data_dir: Path, fleet_file: Path
) -> None:
    assert _cli("catalog", "import", str(fleet_file), data_dir=data_dir)[0] == 0
    code, out, err = _cli(
        "token", "create", "omar", "--label", "scanner", "--expires-in-days", "7", data_dir=data_dir
    )
    assert code == 0, err
    register(out.strip())
    assert "expires" in err
    code, out, _ = _cli("token", "list", "omar", data_dir=data_dir)
    (line,) = out.splitlines()
    expires = datetime.fromisoformat(line.split("expires=")[1].split()[0])
    assert timedelta(days=7) - timedelta(minutes=1) < expires - datetime.now(UTC)
    assert expires - datetime.now(UTC) <= timedelta(days=7)
    assert "revoked=-" in line
    token_id = line.split()[0]
    assert _cli("token", "revoke", token_id, data_dir=data_dir)[0] == 0
    assert "revoked=-" not in _cli("token", "list", data_dir=data_dir)[1]
    code, out, _ = _cli("user", "end-sessions", "omar", data_dir=data_dir)
    assert code == 0
    assert out.startswith("user omar: login tokens issued before ")
    engine = create_catalog_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    try:
        with catalog_session(engine) as session:
            actions = [entry.action for entry in read_audit(session, entity="user")]
    finally:
        engine.dispose()
    assert actions[-1] == "revoke_sessions"
