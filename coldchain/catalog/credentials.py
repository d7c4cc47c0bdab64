"""Passwords (argon2id) and API tokens (random, stored as SHA-256) of catalog users.

A token carries 256 bits of randomness, so a fast hash is enough to store it and lets a
request be authenticated by one indexed lookup; passwords are chosen by people and need
the slow, salted argon2. Neither is ever stored or logged in the clear.
"""

from __future__ import annotations

import functools
import hashlib
import hmac
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime

from argon2 import PasswordHasher
from argon2.exceptions import InvalidHashError, VerificationError
from sqlalchemy import select
from sqlalchemy.orm import Session

from coldchain.catalog.audit import append_audit
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import ApiTokenRow, UserRow

__all__ = [
    "TOKEN_PREFIX",
    "IssuedToken",
    "authenticate_password",
    "authenticate_token",
    "create_token",
    "hash_password",
    "revoke_token",
    "set_password",
    "token_digest",
]

TOKEN_PREFIX = "cct_"
_HASHER = PasswordHasher()  # argon2id with the library's current recommended parameters


@dataclass(frozen=True, slots=True)
class IssuedToken:
    """A new token: `token` exists only in this value; the catalog keeps its digest."""

    token_id: int
    user_id: str
    token: str


def hash_password(password: str) -> str:
    return _HASHER.hash(password)


def token_digest(token: str) -> str:
    return hashlib.sha256(token.encode("utf-8")).hexdigest()


def set_password(session: Session, *, user_id: str, password: str, actor: str) -> None:
    """Store an argon2 hash of `password`; the audit entry says it changed, not what to."""
    user = session.get(UserRow, user_id)
    if user is None:
        raise CatalogNotFound(f"user {user_id!r} not found")
    had_password = user.password_hash is not None
    user.password_hash = hash_password(password)
    append_audit(
        session,
        actor=actor,
        action="set_password",
        entity="user",
        entity_id=user_id,
        old={"password": "<set>" if had_password else None},
        new={"password": "<set>"},
    )


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
    session: Session, *, user_id: str, actor: str, label: str | None = None
) -> IssuedToken:
    """Issue a token for `user_id`; show `IssuedToken.token` to the user once."""
    if session.get(UserRow, user_id) is None:
        raise CatalogNotFound(f"user {user_id!r} not found")
    token = TOKEN_PREFIX + secrets.token_urlsafe(32)
    row = ApiTokenRow(
        user_id=user_id,
        token_sha256=token_digest(token),
        label=label,
        created_at=datetime.now(UTC),
        revoked_at=None,
    )
    session.add(row)
    session.flush()
    append_audit(
        session,
        actor=actor,
        action="create",
        entity="api_token",
        entity_id=str(row.id),
        new={"user": user_id, "label": label, "sha256_prefix": row.token_sha256[:8]},
    )
    return IssuedToken(token_id=row.id, user_id=user_id, token=token)


def authenticate_token(session: Session, *, token: str) -> str | None:
    """The id of the user a live token belongs to, or None."""
    digest = token_digest(token)
    row = session.execute(
        select(ApiTokenRow).where(ApiTokenRow.token_sha256 == digest)
    ).scalar_one_or_none()
    # The lookup is by digest, so compare digests in constant time before trusting it.
    if row is None or row.revoked_at is not None:
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
