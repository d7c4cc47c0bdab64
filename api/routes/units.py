"""Storage units, named `/sites/{site}/units/{unit}` as in the fleet file."""

from __future__ import annotations

from fastapi import APIRouter, Response

from api.answers import BucketsQuery, FromQuery, SparkQuery, ToQuery, history_response, scoped_live
from api.convert import place_detail_public
from api.deps import AccessDep, StateDep
from api.routes.params import SitePath, UnitPath
from api.schemas import HistoryPublic, LivePublic, PlaceDetailPublic

__all__ = ["router"]

router = APIRouter(prefix="/sites/{site}/units", tags=["units"])


@router.get("/{unit}", response_model=PlaceDetailPublic)
async def get_unit(access: AccessDep, site: SitePath, unit: UnitPath) -> PlaceDetailPublic:
    """The unit, its sensors and the placements in it the viewer may see."""
    return place_detail_public(await access.unit(site, unit))


@router.get("/{unit}/live", response_model=LivePublic)
async def unit_live(
    state: StateDep, access: AccessDep, site: SitePath, unit: UnitPath, spark: SparkQuery = False
) -> Response:
    return (await scoped_live(state, access, unit=(site, unit), spark=spark)).response()


@router.get("/{unit}/history", response_model=HistoryPublic)
async def unit_history(
    state: StateDep,
    access: AccessDep,
    site: SitePath,
    unit: UnitPath,
    start: FromQuery = None,
    end: ToQuery = None,
    buckets: BucketsQuery = 500,
) -> Response:
    """The unit's readings in [from, to) in buckets of min, max and mean; a sponsor gets
    only the periods their batches were in it."""
    return await history_response(
        state, access, start=start, end=end, buckets=buckets, unit=(site, unit)
    )
