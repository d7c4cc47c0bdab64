"""Live and history answers assembled from the scoped places (`api.access`) and the
InfluxDB readers (`api.readings`); shared by the routes and the SSE stream."""

from __future__ import annotations

import asyncio
from collections.abc import Set
from datetime import UTC, datetime, timedelta
from typing import Annotated

from fastapi import Query, Response
from pydantic import AwareDatetime
from sqlalchemy import Engine, select

from api.access import Access, HistorySegment, LivePlace
from api.convert import alert_public, history_public, limits_public, location_public
from api.errors import BadRequest, RangeNotHeld
from api.livecache import CachedLive, LiveKey
from api.readings import read_history, read_live, read_sparklines
from api.readings.calibration import corrected_history, corrected_live
from api.readings.live import LiveJudge, place_status
from api.schemas import LivePlacePublic, LivePublic, SensorLivePublic
from api.state import ApiState, HistoryKey
from coldchain.catalog import catalog_session
from coldchain.catalog.schema import SiteRow
from coldchain.times import from_ms, to_ms
from coldchain.wire import MIN_TS_MS

__all__ = [
    "BucketsQuery",
    "FromQuery",
    "SparkQuery",
    "ToQuery",
    "history_range",
    "history_response",
    "live_answer",
    "scoped_live",
]

_EARLIEST = from_ms(MIN_TS_MS)
_SPARK_SPAN = timedelta(hours=6)
_SPARK_POINTS = 48

FromQuery = Annotated[
    AwareDatetime | None,
    Query(alias="from", description="RFC 3339 with offset; default: 24 h before `to`"),
]
ToQuery = Annotated[AwareDatetime | None, Query(alias="to", description="default: now")]
BucketsQuery = Annotated[
    int, Query(ge=1, le=2000, description="about this many buckets of min, max and mean")
]
SparkQuery = Annotated[bool, Query(description="add a 6 h sparkline (48 means) to each place")]


def history_range(
    state: ApiState, start: datetime | None, end: datetime | None
) -> tuple[datetime, datetime]:
    """[from, to) with defaults, checked against what the store can hold: readings from
    2000-01-01 (older device clocks are broken, `coldchain.wire`) up to the future skew
    ingest accepts, over at most `api_history_max_span_days`, and not empty. The default
    `to` (now) is a whole second, so viewers of one chart within a second share its answer."""
    now = state.clock()
    end = (end or now.replace(microsecond=0)).astimezone(UTC)
    start = (start or end - timedelta(hours=24)).astimezone(UTC)
    latest = now + timedelta(seconds=state.settings.ingest_max_future_skew_s)
    for name, value in (("from", start), ("to", end)):
        if not _EARLIEST <= value <= latest:
            raise RangeNotHeld(
                f"{name}: {value.isoformat()} is outside what is stored, "
                f"{_EARLIEST.date().isoformat()} .. {latest.isoformat(timespec='seconds')}"
            )
    if end <= start:
        raise BadRequest(f"to ({end.isoformat()}) must be after from ({start.isoformat()})")
    longest = timedelta(days=state.settings.api_history_max_span_days)
    if end - start > longest:
        raise RangeNotHeld(
            f"from .. to spans {(end - start).days} days; at most {longest.days} per request"
        )
    return start, end


async def live_answer(
    state: ApiState, places: list[LivePlace], *, spark: bool, own_limits_only: bool = False
) -> LivePublic:
    """The live answer for `places`; `own_limits_only`: the viewer is a sponsor, whose
    places carry only their own products' limits (`api.readings.live.LiveJudge`)."""
    settings = state.settings
    now = state.clock()
    now_ms = to_ms(now)
    # Judged and shown corrected by each probe's calibration certificate and by the alarm
    # profiles in force, as the alarms (#22); both held while the catalog does not change.
    rules = await state.rules.get(state.engine)
    judge = LiveJudge(
        validity=state.validity,
        warning_margin_c=settings.detect_warning_margin_c,
        no_data_intervals=settings.api_no_data_intervals,
        own_limits_only=own_limits_only,
        profiles=rules.profiles,
        unit_ids=rules.unit_ids,
    )
    readings = await read_live(
        state.influx,
        places,
        now_ms=now_ms,
        lookback_ms=int(settings.api_live_lookback_s * 1000),
    )
    readings = corrected_live(readings, rules.corrections, judge.validity)
    sparks = (
        await read_sparklines(
            state.influx,
            places,
            now_ms=now_ms,
            span_ms=int(_SPARK_SPAN.total_seconds() * 1000),
            points=_SPARK_POINTS,
            validity=judge.validity,
            corrections=rules.corrections,
        )
        if spark
        else {}
    )
    zones = await asyncio.to_thread(_site_zones, state.engine, {p.location.site for p in places})
    answers = []
    for place in places:
        live = place_status(place, readings, now_ms=now_ms, judge=judge)
        answers.append(
            LivePlacePublic(
                location=location_public(place.location),
                batches=list(place.batches),
                products=list(place.products),
                limits=limits_public(place.limits),
                since=place.since,
                status=live.status,
                sensors=[
                    SensorLivePublic(
                        device=s.device,
                        sensor=s.sensor,
                        ts=None if s.reading is None else from_ms(s.reading.ts_ms),
                        temp_c=s.temp_c,
                        status=s.status,
                        fault=s.fault,
                    )
                    for s in live.sensors
                ],
                alerts=[alert_public(a) for a in live.alerts],
                spark=sparks.get(place.location.id) if spark else None,
                timezone=zones.get(place.location.site, "UTC"),
            )
        )
    return LivePublic(generated_at=now, places=answers)


def _site_zones(engine: Engine, sites: Set[str]) -> dict[str, str]:
    """The IANA zone of each site, so the page shows a place's times as its people read
    them (one small query per live answer, which viewers of one scope share)."""
    if not sites:
        return {}
    with catalog_session(engine) as session:
        rows = session.execute(
            select(SiteRow.id, SiteRow.timezone).where(SiteRow.id.in_(sorted(sites)))
        )
        return {site: zone for site, zone in rows}


async def scoped_live(
    state: ApiState,
    access: Access,
    *,
    product: str | None = None,
    batch: str | None = None,
    unit: tuple[str, str] | None = None,
    shipment: str | None = None,
    spark: bool = False,
) -> CachedLive:
    """The live answer for what the viewer asked (`.model`; `.response()` its JSON),
    shared between viewers of exactly the same scope (`api.livecache`)."""
    key: LiveKey = (access.viewer.scope, product, batch, unit, shipment, spark)

    async def compute() -> CachedLive:
        places = await access.live(product=product, batch=batch, unit=unit, shipment=shipment)
        sponsor = access.viewer.role == "sponsor_viewer"
        return CachedLive.of(await live_answer(state, places, spark=spark, own_limits_only=sponsor))

    return await state.live_cache.get(key, compute)


async def history_response(
    state: ApiState,
    access: Access,
    *,
    start: datetime | None,
    end: datetime | None,
    buckets: int,
    batch: str | None = None,
    unit: tuple[str, str] | None = None,
    shipment: str | None = None,
) -> Response:
    """A place's or batch's history as JSON; the same question from viewers of exactly
    the same scope within `api_live_cache_s` shares one answer (as the live view does)."""
    if buckets > state.settings.api_max_buckets:
        raise BadRequest(f"buckets: at most {state.settings.api_max_buckets}, got {buckets}")
    lo, hi = history_range(state, start, end)
    key: HistoryKey = (
        access.viewer.scope,
        batch,
        unit,
        shipment,
        lo.timestamp(),
        hi.timestamp(),
        buckets,
    )

    async def compute() -> bytes:
        segments: list[HistorySegment] = await access.history(
            start=lo, end=hi, batch=batch, unit=unit, shipment=shipment
        )
        result = await read_history(
            state.influx,
            state.history_cache,
            segments,
            start=lo,
            end=hi,
            buckets=buckets,
            now_ms=state.now_ms(),
            downsampled=state.downsampling_ready,
            validity=state.validity,
            late_after_ms=int(state.settings.api_history_late_s * 1000),
        )
        # Drawn corrected by each probe's calibration certificate, as judged (#22).
        corrected_history(result, (await state.rules.get(state.engine)).corrections)
        return history_public(lo, hi, segments, result).model_dump_json().encode()

    body = await state.history_answers.get(key, compute)
    return Response(body, media_type="application/json")
