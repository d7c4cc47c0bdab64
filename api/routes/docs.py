"""The API's interactive docs at /v1/docs: Swagger UI from files on this machine, so the
page's CSP (`api.headers`: scripts and styles from this origin only, none inline) holds
there too. FastAPI's own docs page loads Swagger UI from a CDN and starts it with an
inline script; here the assets come from the `fastapi-offline` package (which vendors
Swagger UI and keeps it current) and the start is `api/static/docs.js`."""

from __future__ import annotations

from pathlib import Path

import fastapi_offline
from fastapi import APIRouter
from fastapi.responses import FileResponse

__all__ = ["router"]

router = APIRouter(prefix="/v1/docs", include_in_schema=False)

_PAGE = Path(__file__).resolve().parent.parent / "static" / "docs.html"
_SWAGGER_UI = Path(fastapi_offline.__file__).resolve().parent / "static"
# The assets change only with the package: a browser may keep them (API answers are
# no-store, `api.headers`, unless they say otherwise).
_ASSET_HEADERS = {"Cache-Control": "public, max-age=86400"}


@router.get("")
async def docs_page() -> FileResponse:
    return FileResponse(_PAGE, media_type="text/html; charset=utf-8")


@router.get("/swagger-ui-bundle.js")
async def swagger_ui_script() -> FileResponse:
    return FileResponse(
        _SWAGGER_UI / "swagger-ui-bundle.js",
        media_type="text/javascript; charset=utf-8",
        headers=_ASSET_HEADERS,
    )


@router.get("/swagger-ui.css")
async def swagger_ui_style() -> FileResponse:
    return FileResponse(
        _SWAGGER_UI / "swagger-ui.css", media_type="text/css; charset=utf-8", headers=_ASSET_HEADERS
    )
