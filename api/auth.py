"""Who is calling: bearer tokens (login tokens or catalog API tokens) to a `Viewer`, and
password checks for login. Catalog calls are sync, so these run in a worker thread."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.state import ApiState
from api.tokens import LOGIN_TOKEN_PREFIX, LoginSession
from coldchain.catalog.credentials import (
    TOKEN_PREFIX,
    authenticate_password,
    authenticate_token,
    change_password,
    login_session_valid,
    revoke_sessions,
    token_digest,
)
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import UserRow
from coldchain.catalog.store import catalog_session
from coldchain.catalog.users import Viewer, viewer_for_user

__all__ = ["check_password", "end_sessions", "replace_password", "viewer_for_token"]


def _viewer_of(session: Session, user_id: str | None) -> Viewer | None:
    if user_id is None:
        return None
    try:
        return viewer_for_user(session, user_id=user_id)
    except CatalogNotFound:  # the user was removed after the token was issued
        return None


def _login_viewer(engine: Engine, login: LoginSession) -> Viewer | None:
    with catalog_session(engine) as session:
        valid = login_session_valid(session, user_id=login.user_id, issued_at=login.issued_at)
        return _viewer_of(session, login.user_id if valid else None)


def _api_token_viewer(engine: Engine, token: str) -> Viewer | None:
    with catalog_session(engine) as session:
        return _viewer_of(session, authenticate_token(session, token=token))


async def viewer_for_token(state: ApiState, token: str) -> Viewer | None:
    """The viewer a live token belongs to, else None.

    Role and scope are read from the catalog, and the answer is reused for
    `api_auth_cache_s` (a second): a revoked or expired API token, a logout, a password
    change, a removed user or a changed scope takes effect within that, while a page polling
    every second costs one catalog read, not one per request. A login token's own expiry is
    checked on every request. Login sessions are cached per user and moment of issue.
    """
    if token.startswith(LOGIN_TOKEN_PREFIX):
        login = state.tokens.session_of(token)
        if login is None:
            return None
        return await state.viewers.get(
            f"user:{login.user_id}@{login.issued_ms}",
            lambda: asyncio.to_thread(_login_viewer, state.engine, login),
        )
    if token.startswith(TOKEN_PREFIX) and len(token) <= 200:
        return await state.viewers.get(
            "token:" + token_digest(token),
            lambda: asyncio.to_thread(_api_token_viewer, state.engine, token),
        )
    return None


def _check(engine: Engine, username: str, password: str) -> tuple[bool, bool]:
    with catalog_session(engine) as session:
        known = session.get(UserRow, username) is not None
        return known, authenticate_password(session, user_id=username, password=password)


async def check_password(state: ApiState, username: str, password: str) -> tuple[bool, bool]:
    """(the user exists, the password is theirs); argon2 costs the same either way."""
    return await asyncio.to_thread(_check, state.engine, username, password)


def _end_sessions(engine: Engine, user_id: str) -> None:
    with catalog_session(engine) as session:
        revoke_sessions(session, user_id=user_id, actor=user_id)


async def end_sessions(state: ApiState, user_id: str) -> None:
    """Void every login token the user holds (logout); audited with the user as actor."""
    await asyncio.to_thread(_end_sessions, state.engine, user_id)


def _replace(engine: Engine, user_id: str, current: str, new: str) -> bool:
    with catalog_session(engine) as session:
        return change_password(session, user_id=user_id, current=current, new=new, actor=user_id)


async def replace_password(state: ApiState, user_id: str, current: str, new: str) -> bool:
    """The user's own password change; False (nothing changed) if `current` is wrong."""
    return await asyncio.to_thread(_replace, state.engine, user_id, current, new)
