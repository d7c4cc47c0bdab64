"""Dependencies of the routes as `Annotated` aliases (FastAPI full-stack template style):
`StateDep` (settings and clients), `ViewerDep` (who is calling), `AccessDep` (the scoped
data-access layer bound to that viewer), and `require_role`."""

from __future__ import annotations

from collections.abc import Callable, Coroutine
from typing import Annotated, Any

from fastapi import Depends, Request
from fastapi.security import OAuth2PasswordBearer

from api.access import Access
from api.auth import viewer_for_token
from api.errors import Forbidden, NotAuthenticated
from api.state import ApiState
from coldchain.catalog.users import Viewer

__all__ = ["AccessDep", "StateDep", "TokenDep", "ViewerDep", "get_state", "require_role"]

# Login tokens and catalog API tokens are both bearer tokens; this also publishes the
# password flow in the OpenAPI document.
oauth2_scheme = OAuth2PasswordBearer(tokenUrl="/v1/auth/token", auto_error=False)


# Async although they do no I/O: FastAPI runs a plain `def` dependency in a worker thread,
# a hop that costs more than the function itself on every request.
async def get_state(request: Request) -> ApiState:
    state: ApiState = request.app.state.api
    return state


StateDep = Annotated[ApiState, Depends(get_state)]
TokenDep = Annotated[str | None, Depends(oauth2_scheme)]


async def current_viewer(state: StateDep, token: TokenDep) -> Viewer:
    if not token:
        raise NotAuthenticated("not authenticated")
    viewer = await viewer_for_token(state, token)
    if viewer is None:
        raise NotAuthenticated("invalid or expired token")
    return viewer


ViewerDep = Annotated[Viewer, Depends(current_viewer)]


async def get_access(state: StateDep, viewer: ViewerDep) -> Access:
    return Access(
        state.engine,
        viewer,
        clock=state.clock,
        warning_margin_c=state.settings.detect_warning_margin_c,
    )


AccessDep = Annotated[Access, Depends(get_access)]


def require_role(*roles: str) -> Callable[..., Coroutine[Any, Any, Viewer]]:
    """A dependency admitting only these roles (403 otherwise); for resources that are not
    a tenant's (metrics), where a 403 reveals nothing."""

    async def dependency(viewer: ViewerDep) -> Viewer:
        if viewer.role not in roles:
            raise Forbidden(f"needs one of the roles {', '.join(roles)}")
        return viewer

    return dependency
