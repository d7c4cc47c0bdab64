"""Passwords (argon2id) and API tokens (random, stored as SHA-256) of catalog users.

A token carries 256 bits of randomness, so a fast hash is enough to store it and lets a
request be authenticated by one indexed lookup; passwords are chosen by people and need
the slow, salted argon2. Neither is ever stored or logged in the clear.

API tokens expire (`DEFAULT_TOKEN_LIFETIME` unless given at creation): a token copied
into a forgotten script stops working on its own. Login tokens are the API's, signed and
never stored; the catalog keeps only `users.sessions_valid_from`, before which every login
token of the user is void, so logout and a password change end sessions without a table
of live tokens.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import ApiTokenRow, UserRow

__all__ = [
    "DEFAULT_TOKEN_LIFETIME",
    "MIN_PASSWORD_LENGTH",
    "TOKEN_PREFIX",
    "IssuedToken",
    "TokenInfo",
    "authenticate_password",
    "authenticate_token",
    "change_password",
    "create_token",
    "hash_password",
    "list_tokens",
    "login_session_valid",
    "revoke_sessions",
    "revoke_token",
    "set_password",
    "token_digest",
]

TOKEN_PREFIX = "cct_"
DEFAULT_TOKEN_LIFETIME = timedelta(days=90)
MIN_PASSWORD_LENGTH = 8
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: `token` exists only in this value; the catalog keeps its digest."""

    token_id: int
    user_id: str
    token: str
    expires_at: datetime


@dataclass(frozen=True, slots=True)
class TokenInfo:
    """What `coldchain token list` shows of a token: never the token or its digest."""

    token_id: int
    user_id: str
    label: str | None
    created_at: datetime
    expires_at: datetime
    revoked_at: datetime | None


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def set_password(session: Session, *, user_id: str, password: str, actor: str) -> None:
    """Store an argon2 hash of `password` and end the user's login sessions (whoever knew
    the old password may hold one); the audit entry says it changed, not what to."""
    user = session.get(UserRow, user_id)
    if user is None:
        raise CatalogNotFound(f"user {user_id!r} not found")
    had_password = user.password_hash is not None
    user.password_hash = hash_password(password)
    user.sessions_valid_from = datetime.now(UTC)
    append_audit(
        session,
        actor=actor,
        action="set_password",
        entity="user",
        entity_id=user_id,
        old={"password": "<set>" if had_password else None},
        new={"password": "<set>", "sessions_valid_from": user.sessions_valid_from},
    )


def change_password(session: Session, *, user_id: str, current: str, new: str, actor: str) -> bool:
    """The user's own change: False (nothing changed) unless `current` is their password."""
    if not authenticate_password(session, user_id=user_id, password=current):
        return False
    set_password(session, user_id=user_id, password=new, actor=actor)
    return True


def revoke_sessions(session: Session, *, user_id: str, actor: str) -> datetime:
    """Void every login token the user holds now (logout, or an admin ending them)."""
    user = session.get(UserRow, user_id)
    if user is None:
        raise CatalogNotFound(f"user {user_id!r} not found")
    old = user.sessions_valid_from
    user.sessions_valid_from = datetime.now(UTC)
    append_audit(
        session,
        actor=actor,
        action="revoke_sessions",
        entity="user",
        entity_id=user_id,
        old={"sessions_valid_from": old},
        new={"sessions_valid_from": user.sessions_valid_from},
    )
    return user.sessions_valid_from


def login_session_valid(session: Session, *, user_id: str, issued_at: datetime) -> bool:
    """Whether a login token issued at `issued_at` is still the user's (not revoked since)."""
    user = session.get(UserRow, user_id)
    if user is None:
        return False
    return user.sessions_valid_from is None or issued_at > user.sessions_valid_from


def authenticate_password(session: Session, *, user_id: str, password: str) -> bool:
    """True when `password` is the user's; unknown users cost the same time as wrong ones."""
    user = session.get(UserRow, user_id)
    stored = user.password_hash if user is not None else None
    try:
        _HASHER.verify(stored or _dummy_hash(), password)
    except (VerificationError, InvalidHashError):
        return False
    return stored is not None


@functools.cache
def _dummy_hash() -> str:
    return _HASHER.hash("not-a-password")


def create_token(
    session: Session,
    *,
    user_id: str,
    actor: str,
    label: str | None = None,
    lifetime: timedelta = DEFAULT_TOKEN_LIFETIME,
) -> IssuedToken:
    """Issue a token for `user_id`, valid for `lifetime`; show `IssuedToken.token` to the
    user once."""
    if session.get(UserRow, user_id) is None:
        raise CatalogNotFound(f"user {user_id!r} not found")
    if lifetime <= timedelta(0):
        raise ValueError(f"token lifetime must be positive, got {lifetime}")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    now = datetime.now(UTC)
    row = ApiTokenRow(
        user_id=user_id,
        token_sha256=token_digest(token),
        label=label,
        created_at=now,
        revoked_at=None,
        expires_at=now + lifetime,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="create",
        entity="api_token",
        entity_id=str(row.id),
        new={
            "user": user_id,
            "label": label,
            "sha256_prefix": row.token_sha256[:8],
            "expires_at": row.expires_at,
        },
    )
    return IssuedToken(token_id=row.id, user_id=user_id, token=token, expires_at=row.expires_at)


def authenticate_token(session: Session, *, token: str) -> str | None:
    """The id of the user a live (not revoked, not expired) token belongs to, or None."""
    digest = token_digest(token)
    row = session.execute(
        select(ApiTokenRow).where(ApiTokenRow.token_sha256 == digest)
    ).scalar_one_or_none()
    # The lookup is by digest, so compare digests in constant time before trusting it.
    if row is None or row.revoked_at is not None or row.expires_at <= datetime.now(UTC):
        return None
    return row.user_id if hmac.compare_digest(row.token_sha256, digest) else None


def revoke_token(session: Session, *, token_id: int, actor: str) -> None:
    row = session.get(ApiTokenRow, token_id)
    if row is None:
        raise CatalogNotFound(f"api token {token_id} not found")
    if row.revoked_at is None:
        row.revoked_at = datetime.now(UTC)
        append_audit(
            session,
            actor=actor,
            action="revoke",
            entity="api_token",
            entity_id=str(token_id),
            old={"revoked_at": None},
            new={"revoked_at": row.revoked_at},
        )


def list_tokens(session: Session, *, user_id: str | None = None) -> list[TokenInfo]:
    """Every token (of `user_id`, if given), oldest first, revoked and expired ones too."""
    query = select(ApiTokenRow).order_by(ApiTokenRow.id)
    if user_id is not None:
        query = query.where(ApiTokenRow.user_id == user_id)
    return [
        TokenInfo(row.id, row.user_id, row.label, row.created_at, row.expires_at, row.revoked_at)
        for row in session.execute(query).scalars()
    ]
