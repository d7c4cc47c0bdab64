"""Shipments and their data loggers."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.answers import BucketsQuery, FromQuery, SparkQuery, ToQuery, history_response, scoped_live
from api.convert import place_detail_public
from api.deps import AccessDep, StateDep
from api.routes.params import ShipmentPath
from api.schemas import HistoryPublic, LivePublic, PlaceDetailPublic

__all__ = ["router"]

router = APIRouter(prefix="/shipments", tags=["shipments"])


@router.get("/{shipment}", response_model=PlaceDetailPublic)
async def get_shipment(access: AccessDep, shipment: ShipmentPath) -> PlaceDetailPublic:
    return place_detail_public(await access.shipment(shipment))


@router.get("/{shipment}/live", response_model=LivePublic)
async def shipment_live(
    state: StateDep, access: AccessDep, shipment: ShipmentPath, spark: SparkQuery = False
) -> Response:
    return (await scoped_live(state, access, shipment=shipment, spark=spark)).response()


@router.get("/{shipment}/history", response_model=HistoryPublic)
async def shipment_history(
    state: StateDep,
    access: AccessDep,
    shipment: ShipmentPath,
    start: FromQuery = None,
    end: ToQuery = None,
    buckets: BucketsQuery = 500,
) -> Response:
    return await history_response(
        state, access, start=start, end=end, buckets=buckets, shipment=shipment
    )
