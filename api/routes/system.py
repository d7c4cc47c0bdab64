"""Health (no login: for load balancers and `coldchain up`) and pipeline metrics (staff)."""

from __future__ import annotations

import asyncio
from typing import Annotated

from fastapi import APIRouter, Depends
from fastapi.responses import JSONResponse
from sqlalchemy import Engine, select, text

from api.deps import StateDep, require_role
from api.metrics import read_service_metrics, reading_lag_s, sites_without_detector
from api.schemas import HealthPublic, MetricsPublic
from coldchain import times
from coldchain.catalog.errors import CatalogError
from coldchain.catalog.schema import SiteRow
from coldchain.catalog.store import catalog_session
from coldchain.catalog.users import Viewer
from coldchain.errors import StoreError
from coldchain.pipeline_metrics import Snapshot

__all__ = ["router"]

router = APIRouter(tags=["system"])


def _catalog_ok(engine: Engine) -> bool:
    try:
        with catalog_session(engine) as session:
            session.execute(text("SELECT 1"))
    except CatalogError:
        return False
    return True


@router.get("/health", response_model=HealthPublic, responses={503: {"model": HealthPublic}})
async def health(state: StateDep) -> JSONResponse:
    """200 when InfluxDB and the catalog answer, else 503 naming which does not."""
    influx_ok = await state.influx.ping()
    catalog_ok = await asyncio.to_thread(_catalog_ok, state.engine)
    body = HealthPublic(
        status="ok" if influx_ok and catalog_ok else "degraded",
        influx=influx_ok,
        catalog=catalog_ok,
    )
    return JSONResponse(body.model_dump(), status_code=200 if body.status == "ok" else 503)


@router.get("/metrics", response_model=MetricsPublic)
async def metrics(
    state: StateDep,
    viewer: Annotated[Viewer, Depends(require_role("warehouse_operator", "qa", "admin"))],
) -> MetricsPublic:
    """Ingest and detector counters, spool depth and reading lag (pipeline-wide, so not
    for sponsor viewers). An operator sees the detectors and uncovered sites of their own
    sites only."""
    services = _scoped(await read_service_metrics(state.settings.data_dir), viewer)
    now_ms = state.now_ms()
    try:
        lag = await reading_lag_s(state.influx, now_ms)
    except StoreError:
        lag = None
    counters = {name: snapshot.values for name, snapshot in services.items()}
    spool = [
        int(v["spool_depth_bytes"])
        for name, v in counters.items()
        if name.startswith("ingest") and isinstance(v.get("spool_depth_bytes"), int)
    ]
    # The wall clock, not `state.now_ms()`: the services date their snapshots by it.
    wall_ms = times.now_ms()
    interval_s = state.settings.metrics_interval_s
    stale = [name for name, snapshot in services.items() if snapshot.stale(wall_ms, interval_s)]
    uncovered: list[str] | None = None
    try:
        catalog_sites = await asyncio.to_thread(_site_ids, state.engine)
        if not viewer.sees_everything:
            catalog_sites = [site for site in catalog_sites if site in viewer.sites]
        uncovered = sites_without_detector(catalog_sites, counters, set(services) - set(stale))
    except CatalogError:
        pass  # the health endpoint says the catalog is down; the counters still help
    return MetricsPublic(
        services=counters,
        spool_depth_bytes=sum(spool) if spool else None,
        lag_s=lag,
        stale=stale,
        sites_without_detector=uncovered,
    )


def _site_ids(engine: Engine) -> list[str]:
    with catalog_session(engine) as session:
        return list(session.execute(select(SiteRow.id)).scalars())


def _scoped(services: dict[str, Snapshot], viewer: Viewer) -> dict[str, Snapshot]:
    """What an operator may see of the services: a detector partition that watches none of
    their sites is left out, and another's names only the viewer's sites. Ingest counters
    are pipeline-wide totals that name no site, kept (the operator's own readings pass
    through them)."""
    if viewer.sees_everything:
        return services
    scoped: dict[str, Snapshot] = {}
    for name, snapshot in services.items():
        sites = snapshot.values.get("sites")
        if name.startswith("detector-") and isinstance(sites, list) and sites:
            own = [site for site in sites if site in viewer.sites]
            if not own:
                continue
            snapshot = Snapshot({**snapshot.values, "sites": own})
        scoped[name] = snapshot
    return scoped
