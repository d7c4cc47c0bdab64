"""Who is calling: bearer tokens (login tokens or catalog API tokens) to a `Viewer`, and
password checks for login. Catalog calls are sync, so these run in a worker thread."""

from __future__ import annotations

import asyncio

from sqlalchemy import Engine

from api.state import ApiState
from api.tokens import LOGIN_TOKEN_PREFIX
from coldchain.catalog.credentials import (
    TOKEN_PREFIX,
    authenticate_password,
    authenticate_token,
    token_digest,
)
from coldchain.catalog.errors import CatalogNotFound
from coldchain.catalog.schema import UserRow
from coldchain.catalog.store import catalog_session
from coldchain.catalog.users import Viewer, viewer_for_user

__all__ = ["check_password", "viewer_for_token"]


def _viewer(engine: Engine, user_id: str | None, api_token: str | None) -> Viewer | None:
    with catalog_session(engine) as session:
        if api_token is not None:
            user_id = authenticate_token(session, token=api_token)
        if user_id is None:
            return None
        try:
            return viewer_for_user(session, user_id=user_id)
        except CatalogNotFound:  # the user was removed after the token was issued
            return None


async def viewer_for_token(state: ApiState, token: str) -> Viewer | None:
    """The viewer a live token belongs to, else None.

    Role and scope are read from the catalog, and the answer is reused for
    `api_auth_cache_s` (a second): a revoked token, a removed user or a changed scope takes
    effect within that, while a page polling every second costs one catalog read, not one
    per request. A login token's own expiry is checked on every request.
    """
    if token.startswith(LOGIN_TOKEN_PREFIX):
        user_id = state.tokens.user_of(token)
        if user_id is None:
            return None
        return await state.viewers.get(
            "user:" + user_id, lambda: asyncio.to_thread(_viewer, state.engine, user_id, None)
        )
    if token.startswith(TOKEN_PREFIX) and len(token) <= 200:
        return await state.viewers.get(
            "token:" + token_digest(token),
            lambda: asyncio.to_thread(_viewer, state.engine, None, token),
        )
    return None


def _check(engine: Engine, username: str, password: str) -> tuple[bool, bool]:
    with catalog_session(engine) as session:
        known = session.get(UserRow, username) is not None
        return known, authenticate_password(session, user_id=username, password=password)


async def check_password(state: ApiState, username: str, password: str) -> tuple[bool, bool]:
    """(the user exists, the password is theirs); argon2 costs the same either way."""
    return await asyncio.to_thread(_check, state.engine, username, password)
