"""Login (password → short-lived bearer token, OAuth2 password form), `me`, logout and the
user's own password change."""

from __future__ import annotations

import asyncio
import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request, Response
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import check_password, end_sessions, replace_password
from api.deps import StateDep, TokenDep, ViewerDep
from api.errors import BadRequest, Forbidden, NotAuthenticated, RateLimited
from api.ratelimit import LoginAttempt
from api.schemas import MePublic, PasswordChange, TokenPublic
from api.state import ApiState
from api.tokens import LOGIN_TOKEN_PREFIX

__all__ = ["admit_password_check", "router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["auth"])

_MAX_FIELD = 256


async def admit_password_check(state: ApiState, request: Request, username: str) -> LoginAttempt:
    """Reserve a password check with the limiter (429 when it refuses), waiting first while
    the user is under attack. The client is the peer, or the address a trusted proxy names."""
    peer = request.client.host if request.client else None
    client = state.limiter.proxies.client_of(peer, request.headers.get("x-forwarded-for"))
    attempt = state.limiter.begin(user=username, client=client)
    if attempt.retry_after_s:
        log.warning(
            "api: login rate-limited client=%s retry_after_s=%d", client, attempt.retry_after_s
        )
        raise RateLimited(
            "too many login attempts; try again later", retry_after_s=attempt.retry_after_s
        )
    if attempt.slowed:
        await asyncio.sleep(state.settings.api_login_slow_s)
    return attempt


@router.post("/token", response_model=TokenPublic)
async def login(
    state: StateDep,
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    """Exchange a user's password for a bearer token that expires (default 1 h).

    Rate-limited per user and client address (back-off) and per client address
    (attempts): 429 with Retry-After. The answer never says whether the user exists.
    """
    username = form.username[:_MAX_FIELD]
    attempt = await admit_password_check(state, request, username)
    if len(form.username) > _MAX_FIELD or len(form.password) > 1024:
        known, ok = False, False
    else:
        known, ok = await check_password(state, username, form.password)
    if not ok:
        state.limiter.failed(attempt)
        # Name the user only when it exists: people type passwords into the user field.
        log.warning(
            "api: login refused user=%s client=%s",
            username if known else "<unknown>",
            attempt.client,
        )
        raise NotAuthenticated("incorrect username or password")
    state.limiter.succeeded(attempt)
    log.info("api: login user=%s client=%s", username, attempt.client)
    return TokenPublic(
        access_token=state.tokens.issue(username), expires_in=state.tokens.expires_in_s()
    )


@router.get("/me", response_model=MePublic)
async def me(viewer: ViewerDep) -> MePublic:
    """Who the token belongs to, their role and scope."""
    return MePublic(
        user_id=viewer.user_id,
        role=viewer.role,
        sponsor=viewer.sponsor,
        sites=sorted(viewer.sites),
        name=viewer.name,
    )


@router.post("/logout", status_code=204)
async def logout(state: StateDep, viewer: ViewerDep, token: TokenDep) -> Response:
    """End the caller's login sessions: this token and every other login token of theirs
    issued before now stop working (within `api_auth_cache_s`). An API token is not a
    session: 422 (an admin revokes it with `coldchain token revoke`)."""
    if not token or not token.startswith(LOGIN_TOKEN_PREFIX):
        raise BadRequest("an API token is not a login session; revoke it instead")
    await end_sessions(state, viewer.user_id)
    log.info("api: logout user=%s", viewer.user_id)
    return Response(status_code=204)


@router.post("/password", status_code=204)
async def change_password(
    state: StateDep, request: Request, viewer: ViewerDep, body: PasswordChange
) -> Response:
    """Change the caller's own password (the current one is asked again, through the same
    limits as a login): 403 when it is wrong. Every login token issued before stops
    working, this one included: log in again with the new password."""
    attempt = await admit_password_check(state, request, viewer.user_id)
    if not await replace_password(state, viewer.user_id, body.current_password, body.new_password):
        state.limiter.failed(attempt)
        log.warning(
            "api: password change refused user=%s client=%s", viewer.user_id, attempt.client
        )
        # 403, not 401: the token is good, and a 401 would end the page's session.
        raise Forbidden("incorrect current password")
    state.limiter.succeeded(attempt)
    log.info("api: password changed user=%s client=%s", viewer.user_id, attempt.client)
    return Response(status_code=204)
