"""A one-second, single-flight cache of live answers, per tenant scope and filter.

Fifty people of one sponsor with the page open ask the same question every second or two;
readings arrive once a minute per sensor. Computing the answer once per second and sharing
it (concurrent askers wait for the one computation in flight) keeps the live view fast
under load. The key is the viewer's whole scope (role, sponsor, sites) plus the filter, so
an answer is only ever shared between viewers who would see exactly the same thing.

The answer is kept with its JSON body, serialised once: for a product in a hundred places
writing the JSON costs more than everything else a cached request does.
"""

from __future__ import annotations

from collections.abc import Awaitable, Callable
from dataclasses import dataclass

from api.schemas import LivePublic
from api.ttlcache import TtlCache
from coldchain.catalog.users import Viewer

__all__ = ["CachedLive", "LiveCache"]

_Key = tuple[
    str,
    str | None,
    tuple[str, ...],
    str | None,
    str | None,
    tuple[str, str] | None,
    str | None,
    bool,
]


@dataclass(frozen=True, slots=True)
class CachedLive:
    model: LivePublic
    body: bytes


class LiveCache:
    """Answers are fresh for `ttl_s`, then given out for one more `ttl_s` while a refresh
    runs, so a viewer never waits for a recomputation (answers at most ~2 × ttl old)."""

    def __init__(self, ttl_s: float) -> None:
        self._cache: TtlCache[_Key, CachedLive] = TtlCache(ttl_s, stale_s=ttl_s)

    async def get(
        self,
        viewer: Viewer,
        compute: Callable[[], Awaitable[LivePublic]],
        *,
        product: str | None = None,
        batch: str | None = None,
        unit: tuple[str, str] | None = None,
        shipment: str | None = None,
        spark: bool = False,
    ) -> CachedLive:
        key: _Key = (
            viewer.role,
            viewer.sponsor,
            tuple(sorted(viewer.sites)),
            product,
            batch,
            unit,
            shipment,
            spark,
        )

        async def serialised() -> CachedLive:
            model = await compute()
            return CachedLive(model, model.model_dump_json().encode())

        return await self._cache.get(key, serialised)
