"""`create_app(settings)`: the FastAPI app under /v1, its lifespan, error mapping and page.

Nothing is built at import time (no module-level settings, engine or app); the lifespan
opens the InfluxDB client and the catalog engine and closes them at shutdown. Errors are
mapped to answers here, in one place: an id the viewer may not see is a 404 with the same
body as an unknown one; store and catalog outages are 503 without internals.
"""

from __future__ import annotations

import asyncio
import contextlib
import gc
import logging
from collections.abc import AsyncIterator, Callable
from contextlib import asynccontextmanager
from datetime import UTC, datetime
from pathlib import Path

import httpx
from fastapi import FastAPI, Request
from fastapi.exceptions import RequestValidationError
from fastapi.middleware.cors import CORSMiddleware
from fastapi.responses import JSONResponse
from fastapi.staticfiles import StaticFiles
from sqlalchemy import Engine

from api.bodylimit import BodyLimit
from api.concurrency import ConcurrencyLimit
from api.deviation_watch import watch_deviations
from api.errors import ApiError, NotAuthenticated, RateLimited
from api.headers import SecurityHeaders
from api.livecache import live_cache
from api.querycache import StatementCache
from api.ratelimit import LoginLimiter
from api.routes import ROUTERS, docs, page
from api.state import ApiState
from api.tokens import LoginTokens, load_or_create_key
from api.ttlcache import TtlCache
from coldchain.catalog.errors import (
    CatalogConflict,
    CatalogError,
    CatalogNotFound,
    SignatureRefused,
)
from coldchain.catalog.store import create_catalog_engine
from coldchain.config import Settings
from coldchain.downsampling import downsampling_present
from coldchain.errors import StoreError, StoreRejected
from coldchain.influx import InfluxClient
from coldchain.judgement.validity import ReadingValidity

__all__ = ["STATIC_DIR", "create_app"]

log = logging.getLogger(__name__)

STATIC_DIR = Path(__file__).parent / "static"


def _utc_now() -> datetime:
    return datetime.now(UTC)


def create_app(
    settings: Settings,
    *,
    engine: Engine | None = None,
    clock: Callable[[], datetime] = _utc_now,
    influx_transport: httpx.AsyncBaseTransport | None = None,
) -> FastAPI:
    """The API and the web page; `engine` (a catalog engine) and `influx_transport` (to
    count what reaches InfluxDB) may be passed by tests."""

    @asynccontextmanager
    async def lifespan(app: FastAPI) -> AsyncIterator[None]:
        own_engine = engine is None
        catalog = engine or create_catalog_engine(settings.resolved_catalog_url)
        key_file = settings.api_session_key_file or settings.data_dir / "keys" / "api-session.key"
        influx = InfluxClient.for_settings(settings, transport=influx_transport)
        state = ApiState(
            settings=settings,
            validity=ReadingValidity.from_settings(settings),
            engine=catalog,
            influx=influx,
            tokens=LoginTokens(load_or_create_key(key_file), settings.api_login_token_ttl_s),
            limiter=LoginLimiter(
                max_failures_per_user=settings.api_login_max_failures_per_user,
                max_attempts_per_client=settings.api_login_max_attempts_per_client,
                window_s=settings.api_login_window_s,
                max_backoff_s=settings.api_login_max_backoff_s,
                trusted_proxies=settings.api_trusted_proxies,
            ),
            clock=clock,
            live_cache=live_cache(settings.api_live_cache_s),
            history_cache=StatementCache(settings.api_history_cache_s),
            viewers=TtlCache(settings.api_auth_cache_s),
            history_answers=TtlCache(settings.api_live_cache_s),
            streams=ConcurrencyLimit(
                "live stream",
                per_user=settings.api_max_streams_per_user,
                total=settings.api_max_streams,
            ),
            exports=ConcurrencyLimit(
                "export", per_user=settings.api_max_exports_per_user, retry_after_s=30
            ),
        )
        # The API's user only reads: the retention policies are the setup's to create.
        try:
            state.downsampling_ready = await downsampling_present(influx)
        except StoreError as exc:
            log.warning("api: cannot ask InfluxDB for the downsampled series: %s", exc)
        if not state.downsampling_ready:
            log.warning(
                "api: no downsampled series in InfluxDB, history reads raw readings; run "
                "`coldchain influx setup-users` or `coldchain dashboards setup-influx`"
            )
        app.state.api = state
        # Everything loaded so far (FastAPI, pydantic, SQLAlchemy: hundreds of thousands of
        # objects) lives as long as the process; out of the collector's sight, a full
        # collection no longer walks it, which took tens of ms out of the live view's p99.
        gc.freeze()
        watch = (
            asyncio.create_task(watch_deviations(state), name="deviation-watch")
            if settings.api_deviation_scan_s > 0
            else None
        )
        try:
            yield
        finally:
            if watch is not None:
                watch.cancel()
                with contextlib.suppress(asyncio.CancelledError):
                    await watch
            await influx.aclose()
            if own_engine:
                catalog.dispose()

    app = FastAPI(
        title="coldchain",
        version="1",
        summary="Cold-chain telemetry: live temperatures, history and alerts, per tenant.",
        openapi_url="/v1/openapi.json",
        # FastAPI's Swagger UI needs inline script and a CDN: neither passes the page's CSP.
        # `api.routes.docs` serves it at /v1/docs from local files instead.
        docs_url=None,
        redoc_url=None,
        lifespan=lifespan,
    )
    _add_error_handlers(app)
    for router in ROUTERS:
        app.include_router(router, prefix="/v1")
    app.include_router(page.router)
    app.include_router(docs.router)
    app.mount("/static", StaticFiles(directory=STATIC_DIR), name="static")
    if settings.api_cors_origins:  # closed unless origins are named
        app.add_middleware(
            CORSMiddleware,
            allow_origins=settings.api_cors_origins,
            allow_methods=["GET", "POST"],
            allow_headers=["Authorization", "Content-Type"],
            allow_credentials=False,
        )
    # Outside every route and dependency (a body is bounded before anything reads it),
    # inside the security headers (its 413 and 408 carry them too).
    app.add_middleware(
        BodyLimit, max_bytes=settings.api_max_body_bytes, timeout_s=settings.api_body_timeout_s
    )
    app.add_middleware(SecurityHeaders)
    return app


def _add_error_handlers(app: FastAPI) -> None:
    async def api_error(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, ApiError)
        headers: dict[str, str] = {}
        if isinstance(exc, RateLimited):
            headers["Retry-After"] = str(exc.retry_after_s)
        if isinstance(exc, NotAuthenticated):
            headers["WWW-Authenticate"] = "Bearer"
        return JSONResponse({"detail": exc.detail}, status_code=exc.status_code, headers=headers)

    async def not_found(request: Request, exc: Exception) -> JSONResponse:
        # One body for "does not exist" and "not yours": nothing to tell them apart.
        return JSONResponse({"detail": "not found"}, status_code=404)

    async def conflict(request: Request, exc: Exception) -> JSONResponse:
        return JSONResponse({"detail": str(exc)}, status_code=409)

    async def refused(request: Request, exc: Exception) -> JSONResponse:
        # A signature refused (wrong password, a role that does not sign it, the same
        # person twice): the catalog's sentence, which never holds the password.
        return JSONResponse({"detail": str(exc)}, status_code=403)

    async def catalog_down(request: Request, exc: Exception) -> JSONResponse:
        log.warning("api: catalog error path=%s: %s", request.url.path, exc)
        return JSONResponse({"detail": "catalog unavailable"}, status_code=503)

    async def store_down(request: Request, exc: Exception) -> JSONResponse:
        if isinstance(exc, StoreRejected):
            log.warning("api: InfluxDB refused a query path=%s: %s", request.url.path, exc)
            return JSONResponse({"detail": "InfluxDB refused the query"}, status_code=502)
        log.warning("api: InfluxDB unavailable path=%s: %s", request.url.path, exc)
        return JSONResponse({"detail": "InfluxDB unavailable"}, status_code=503)

    async def invalid(request: Request, exc: Exception) -> JSONResponse:
        assert isinstance(exc, RequestValidationError)
        # Field locations and messages only: never echo the input (it may be a password).
        errors = [{"loc": list(e.get("loc", ())), "msg": e.get("msg", "")} for e in exc.errors()]
        return JSONResponse({"detail": errors}, status_code=422)

    app.add_exception_handler(ApiError, api_error)
    app.add_exception_handler(CatalogNotFound, not_found)
    app.add_exception_handler(CatalogConflict, conflict)
    app.add_exception_handler(SignatureRefused, refused)
    app.add_exception_handler(CatalogError, catalog_down)
    app.add_exception_handler(StoreError, store_down)
    app.add_exception_handler(RequestValidationError, invalid)
