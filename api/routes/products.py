"""Products the viewer may see, their batches and their live view."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.answers import SparkQuery, scoped_live
from api.convert import batch_public, product_public
from api.deps import AccessDep, StateDep
from api.routes.params import ProductPath
from api.schemas import BatchPublic, LivePublic, ProductPublic

__all__ = ["router"]

router = APIRouter(prefix="/products", tags=["products"])


@router.get("", response_model=list[ProductPublic])
async def list_products(access: AccessDep) -> list[ProductPublic]:
    return [product_public(p) for p in await access.products()]


@router.get("/{product}", response_model=ProductPublic)
async def get_product(access: AccessDep, product: ProductPath) -> ProductPublic:
    return product_public(await access.product(product))


@router.get("/{product}/batches", response_model=list[BatchPublic])
async def list_product_batches(access: AccessDep, product: ProductPath) -> list[BatchPublic]:
    return [batch_public(b) for b in await access.batches(product=product)]


@router.get("/{product}/live", response_model=LivePublic)
async def product_live(
    state: StateDep, access: AccessDep, product: ProductPath, spark: SparkQuery = False
) -> Response:
    """Every place holding the product's batches now: latest reading per sensor by event
    time, the limits, status (ok / warning / alarm / no_data) and open alerts."""
    return (await scoped_live(state, access, product=product, spark=spark)).response()
