"""Login (password → short-lived bearer token, OAuth2 password form) and `me`."""

from __future__ import annotations

import logging
from typing import Annotated

from fastapi import APIRouter, Depends, Request
from fastapi.security import OAuth2PasswordRequestForm

from api.auth import check_password
from api.deps import StateDep, ViewerDep
from api.errors import NotAuthenticated, RateLimited
from api.schemas import MePublic, TokenPublic

__all__ = ["router"]

log = logging.getLogger(__name__)

router = APIRouter(prefix="/auth", tags=["auth"])

_MAX_FIELD = 256


@router.post("/token", response_model=TokenPublic)
async def login(
    state: StateDep,
    request: Request,
    form: Annotated[OAuth2PasswordRequestForm, Depends()],
) -> TokenPublic:
    """Exchange a user's password for a bearer token that expires (default 1 h).

    Rate-limited per user (failures) and per client address (attempts): 429 with
    Retry-After. The answer never says whether the user exists.
    """
    client = request.client.host if request.client else "unknown"
    username = form.username[:_MAX_FIELD]
    wait = state.limiter.retry_after(user=username, client=client)
    if wait:
        log.warning("api: login rate-limited client=%s retry_after_s=%d", client, wait)
        raise RateLimited("too many login attempts; try again later", retry_after_s=wait)
    state.limiter.record_attempt(client=client)
    if len(form.username) > _MAX_FIELD or len(form.password) > 1024:
        known, ok = False, False
    else:
        known, ok = await check_password(state, username, form.password)
    if not ok:
        state.limiter.record_failure(user=username)
        # Name the user only when it exists: people type passwords into the user field.
        log.warning(
            "api: login refused user=%s client=%s", username if known else "<unknown>", client
        )
        raise NotAuthenticated("incorrect username or password")
    state.limiter.record_success(user=username)
    log.info("api: login user=%s client=%s", username, client)
    return TokenPublic(
        access_token=state.tokens.issue(username), expires_in=state.tokens.expires_in_s()
    )


@router.get("/me", response_model=MePublic)
async def me(viewer: ViewerDep) -> MePublic:
    """Who the token belongs to, their role and scope."""
    return MePublic(
        user_id=viewer.user_id, role=viewer.role, sponsor=viewer.sponsor, sites=sorted(viewer.sites)
    )
