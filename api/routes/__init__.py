"""One APIRouter per resource; `ROUTERS` are mounted under /v1 by `api.app`."""

from fastapi import APIRouter

from api.routes import (
    alerts,
    audit,
    auth,
    batches,
    budget,
    deviations,
    exports,
    live,
    page,
    products,
    records,
    shipments,
    system,
    units,
)

__all__ = ["ROUTERS", "page"]

ROUTERS: tuple[APIRouter, ...] = (
    auth.router,
    products.router,
    batches.router,
    exports.router,
    units.router,
    shipments.router,
    alerts.router,
    live.router,
    system.router,
    audit.router,
    deviations.router,
    records.router,
    budget.router,
)
