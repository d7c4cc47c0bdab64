"""`coldchain api --port P`: the HTTP API and the web page (uvicorn, one process)."""

from __future__ import annotations

from typing import Annotated

import typer

from cli.options import (
    CatalogUrl,
    ConfigFile,
    DataDir,
    InfluxDb,
    InfluxUrl,
    build_settings,
    catalog_engine,
)

__all__ = ["api"]


def api(
    port: Annotated[int | None, typer.Option("--port", help="TCP port (default 8000)")] = None,
    host: Annotated[str | None, typer.Option("--host", help="address to bind")] = None,
    influx_url: InfluxUrl = None,
    influx_db: InfluxDb = None,
    catalog_url: CatalogUrl = None,
    data_dir: DataDir = None,
    config: ConfigFile = None,
) -> None:
    """Serve the API under /v1 and the web page at /."""
    # Imported here: every other verb (ingest, detect, ...) would otherwise load FastAPI.
    import uvicorn

    from api.app import create_app

    settings = build_settings(
        config,
        api_port=port,
        api_host=host,
        influx_url=influx_url,
        influx_db=influx_db,
        catalog_url=catalog_url,
        data_dir=data_dir,
    )
    with catalog_engine(settings) as engine:
        app = create_app(settings, engine=engine)
        # Access log lines hold paths and queries only; tokens travel in headers, never URLs.
        # proxy_headers off: uvicorn would otherwise believe X-Forwarded-For from 127.0.0.1
        # (or FORWARDED_ALLOW_IPS); the app alone decides who the client is, from
        # api_trusted_proxies (api/ratelimit.py).
        uvicorn.run(
            app,
            host=settings.api_host,
            port=settings.api_port,
            log_config=None,
            proxy_headers=False,
        )
