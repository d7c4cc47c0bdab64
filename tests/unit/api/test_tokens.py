"""Bearer tokens: signed login tokens (`api.tokens`) and catalog API tokens as the API
accepts them (`api.auth`, through the real app on a SQLite catalog).

Login tokens are self-contained, so everything that makes one valid (signature, expiry,
shape of the claims) is checked here with an injected clock; API tokens are stored as
SHA-256 and revocable, so their tests go through the app and the catalog."""

from __future__ import annotations

import asyncio
import base64
import hashlib
import hmac
import os
import stat
import time
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine, select

from api.tokens import LOGIN_TOKEN_PREFIX, LoginSession, LoginTokens, load_or_create_key
from coldchain.catalog import catalog_session, create_token
from coldchain.catalog.credentials import revoke_token
from coldchain.catalog.schema import ApiTokenRow
from coldchain.catalog.users import upsert_user
from coldchain.errors import ConfigError
from tests.support.secrets_registry import register
from tests.unit.api.conftest import PASSWORD

KEY = bytes(range(32))


class FakeClock:
    def __init__(self, now: float = 1_800_000_000.0) -> None:
        self.now = now

    def __call__(self) -> float:
        return self.now


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _signed(body: bytes, key: bytes = KEY) -> str:
    """A token over any payload, signed with `key` the documented way (HMAC-SHA256 of
    the base64url body): how a holder of the key, or a forger without it, builds one."""
    encoded = _b64(body)
    signature = _b64(hmac.new(key, encoded.encode("ascii"), hashlib.sha256).digest())
    return f"{LOGIN_TOKEN_PREFIX}{encoded}.{signature}"


def _user_of(tokens: LoginTokens, token: str) -> str | None:
    session = tokens.session_of(token)
    return None if session is None else session.user_id


# ---- login tokens --------------------------------------------------------------------


def test_issued_token_names_its_user() -> None:
    tokens = LoginTokens(KEY, ttl_s=3600)
    token = tokens.issue("alice")
    assert token.startswith(LOGIN_TOKEN_PREFIX)
    assert _user_of(tokens, token) == "alice"
    assert tokens.expires_in_s() == 3600


def test_two_logins_get_different_tokens() -> None:
    """A nonce in each token: two logins in the same second are told apart."""
    tokens = LoginTokens(KEY, ttl_s=3600, clock=FakeClock())
    assert tokens.issue("alice") != tokens.issue("alice")


def test_token_is_valid_until_its_expiry_and_not_after() -> None:
    clock = FakeClock()
    tokens = LoginTokens(KEY, ttl_s=60, clock=clock)
    token = tokens.issue("alice")
    clock.now += 59.9
    assert _user_of(tokens, token) == "alice"
    clock.now += 0.1
    assert tokens.session_of(token) is None
    clock.now += 3600
    assert tokens.session_of(token) is None


def test_token_never_outlives_its_ttl() -> None:
    """The expiry is whole seconds, rounded down: a token may end up to a second early,
    never late."""
    clock = FakeClock(1_800_000_000.9)
    tokens = LoginTokens(KEY, ttl_s=60, clock=clock)
    token = tokens.issue("alice")
    clock.now += 60
    assert tokens.session_of(token) is None


def test_another_keys_token_is_refused() -> None:
    mine = LoginTokens(KEY, ttl_s=60)
    theirs = LoginTokens(bytes(32), ttl_s=60)
    assert mine.session_of(theirs.issue("alice")) is None


def test_changing_any_character_of_the_token_is_refused() -> None:
    tokens = LoginTokens(KEY, ttl_s=3600)
    token = tokens.issue("alice")
    for at in range(len(LOGIN_TOKEN_PREFIX), len(token)):
        flipped = "B" if token[at] == "A" else "A"
        tampered = token[:at] + flipped + token[at + 1 :]
        # Refused even where base64's spare bits would decode to the same bytes: the
        # signature covers the text of the body, not what it decodes to.
        assert tokens.session_of(tampered) is None, at


def test_a_forged_body_under_the_old_signature_is_refused() -> None:
    tokens = LoginTokens(KEY, ttl_s=3600)
    body, _, signature = tokens.issue("alice")[len(LOGIN_TOKEN_PREFIX) :].partition(".")
    claims = orjson.loads(base64.urlsafe_b64decode(body + "=" * (-len(body) % 4)))
    claims["u"] = "ada"
    forged = f"{LOGIN_TOKEN_PREFIX}{_b64(orjson.dumps(claims))}.{signature}"
    assert tokens.session_of(forged) is None
    claims["u"], claims["exp"] = "alice", claims["exp"] + 86_400
    extended = f"{LOGIN_TOKEN_PREFIX}{_b64(orjson.dumps(claims))}.{signature}"
    assert tokens.session_of(extended) is None


@pytest.mark.parametrize(
    "token",
    [
        "",
        "ccs_",
        "ccs_.",
        "ccs_abc",
        "cct_abc.def",
        "Bearer ccs_abc.def",
        "ccs_" + "A" * 1100 + ".sig",
        "ccs_é.é",
    ],
)
def test_malformed_tokens_are_refused(token: str) -> None:
    assert LoginTokens(KEY, ttl_s=60).session_of(token) is None


@pytest.mark.parametrize(
    "claims",
    [
        b"not json",
        b"[1, 2]",
        b'"alice"',
        b'{"exp": 4000000000}',
        b'{"u": 7, "exp": 4000000000}',
        b'{"u": "alice"}',
        b'{"u": "alice", "exp": "4000000000"}',
        b'{"u": "alice", "exp": 4000000000.5}',
        b'{"u": "alice", "exp": null}',
        b'{"u": "alice", "exp": 4000000000, "n": "x"}',
        b'{"u": "alice", "exp": 4000000000, "iat": "1800000000000"}',
    ],
)
def test_correctly_signed_but_malformed_claims_are_refused(claims: bytes) -> None:
    """Even with the key (a bug elsewhere, an old format), only the documented claims
    make a token valid."""
    assert LoginTokens(KEY, ttl_s=60).session_of(_signed(claims)) is None


def test_correctly_signed_well_formed_claims_are_accepted() -> None:
    """The counterpart of the test above: its refusals are about the claims, not about how
    the test signs."""
    token = _signed(b'{"u": "alice", "exp": 4000000000, "iat": 1800000000123, "n": "x"}')
    assert LoginTokens(KEY, ttl_s=60).session_of(token) == LoginSession("alice", 1800000000123)


# ---- the signing key -----------------------------------------------------------------


def test_key_is_created_private_and_then_reused(tmp_path: Path) -> None:
    path = tmp_path / "keys" / "api-session.key"
    key = load_or_create_key(path)
    assert len(key) >= 32
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
    assert load_or_create_key(path) == key
    assert sorted(p.name for p in path.parent.iterdir()) == ["api-session.key"]  # no temp file


def test_tokens_survive_a_restart_because_the_key_is_kept(tmp_path: Path) -> None:
    path = tmp_path / "api-session.key"
    before = LoginTokens(load_or_create_key(path), ttl_s=60)
    after = LoginTokens(load_or_create_key(path), ttl_s=60)
    assert _user_of(after, before.issue("alice")) == "alice"


def test_a_key_others_may_read_is_refused_naming_the_path_and_the_fix(tmp_path: Path) -> None:
    path = tmp_path / "api-session.key"
    load_or_create_key(path)
    path.chmod(0o644)
    with pytest.raises(ConfigError, match=r"api-session\.key: mode 0644 .* chmod 600 it"):
        load_or_create_key(path)


def test_a_short_key_file_is_refused(tmp_path: Path) -> None:
    path = tmp_path / "api-session.key"
    fd = os.open(path, os.O_WRONLY | os.O_CREAT, 0o600)
    os.write(fd, b"short")
    os.close(fd)
    with pytest.raises(ValueError, match="shorter than 32 bytes"):
        load_or_create_key(path)


# ---- through the app: login tokens and catalog API tokens -----------------------------


async def _me(client: httpx.AsyncClient, token: str) -> tuple[int, str | None]:
    answer = await client.get("/v1/auth/me", headers={"Authorization": f"Bearer {token}"})
    return answer.status_code, answer.json().get("role") if answer.status_code == 200 else None


def _api_token(engine: Engine, user: str) -> tuple[int, str]:
    with catalog_session(engine) as session:
        issued = create_token(session, user_id=user, actor="test", label="unit")
    register(issued.token)
    return issued.token_id, issued.token


async def _me_eventually(
    client: httpx.AsyncClient, token: str, expected: tuple[int, str | None]
) -> tuple[int, str | None]:
    """The API reuses a token's viewer for `api_auth_cache_s` (about a second), so a
    change in the catalog shows within that, not at once."""
    deadline = time.monotonic() + 5.0
    while True:
        answer = await _me(client, token)
        if answer == expected or time.monotonic() > deadline:
            return answer
        await asyncio.sleep(0.1)


async def test_password_login_answers_a_login_token_the_api_accepts(
    app_client: httpx.AsyncClient,
) -> None:
    answer = await app_client.post(
        "/v1/auth/token", data={"username": "quinn", "password": PASSWORD}
    )
    assert answer.status_code == 200
    body = answer.json()
    assert body["token_type"] == "bearer"
    assert body["access_token"].startswith(LOGIN_TOKEN_PREFIX)
    assert body["expires_in"] == 3600
    assert await _me(app_client, body["access_token"]) == (200, "qa")


async def test_api_token_is_stored_only_as_its_sha256(
    app_client: httpx.AsyncClient, catalog_engine: Engine
) -> None:
    _, token = _api_token(catalog_engine, "omar")
    with catalog_session(catalog_engine) as session:
        stored = session.execute(select(ApiTokenRow.token_sha256)).scalars().all()
    assert stored == [hashlib.sha256(token.encode()).hexdigest()]
    assert await _me(app_client, token) == (200, "warehouse_operator")


async def test_unknown_or_overlong_api_tokens_are_refused(
    app_client: httpx.AsyncClient, catalog_engine: Engine
) -> None:
    _, token = _api_token(catalog_engine, "omar")
    assert await _me(app_client, token + "x") == (401, None)
    assert await _me(app_client, "cct_" + "A" * 43) == (401, None)
    assert await _me(app_client, token + "A" * 200) == (401, None)  # not even looked up


async def test_a_revoked_api_token_stops_working(
    app_client: httpx.AsyncClient, catalog_engine: Engine
) -> None:
    token_id, token = _api_token(catalog_engine, "alice")
    assert await _me(app_client, token) == (200, "sponsor_viewer")
    with catalog_session(catalog_engine) as session:
        revoke_token(session, token_id=token_id, actor="test")
    assert await _me_eventually(app_client, token, (401, None)) == (401, None)


async def test_a_changed_role_applies_to_tokens_already_issued(
    app_client: httpx.AsyncClient, catalog_engine: Engine
) -> None:
    """Tokens carry no role: it is read from the catalog, so a demotion needs no new token."""
    _, api_token = _api_token(catalog_engine, "quinn")
    login = await app_client.post(
        "/v1/auth/token", data={"username": "quinn", "password": PASSWORD}
    )
    login_token = login.json()["access_token"]
    assert await _me(app_client, api_token) == (200, "qa")
    with catalog_session(catalog_engine) as session:
        upsert_user(
            session,
            user_id="quinn",
            role="warehouse_operator",
            sites=["BSL"],
            actor="test",
            reason="moved to the warehouse team",
        )
    demoted = (200, "warehouse_operator")
    assert await _me_eventually(app_client, api_token, demoted) == demoted
    assert await _me_eventually(app_client, login_token, demoted) == demoted
