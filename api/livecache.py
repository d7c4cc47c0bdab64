"""Live answers shared per tenant scope and filter: fresh for a second, then given out for
one more while a single refresh runs.

Fifty people of one sponsor with the page open ask the same question every second or two;
readings arrive once a minute per sensor. Computing the answer once per second and sharing
it (concurrent askers wait for the one computation in flight, later ones get the previous
answer while it is recomputed) keeps the live view fast under load. The key starts with
the viewer's whole scope (`Viewer.scope`), so an answer is only ever shared between
viewers who would see exactly the same thing.

The answer is kept with its JSON body, serialised once: for a product in a hundred places
writing the JSON costs more than everything else a cached request does.
"""

from __future__ import annotations

from dataclasses import dataclass

from fastapi import Response

from api.schemas import LivePublic
from api.ttlcache import TtlCache
from coldchain.catalog.users import ViewerScope

__all__ = ["CachedLive", "LiveKey", "live_cache"]

#: The viewer's scope, then what was asked: product, batch, unit (site, code), shipment,
#: sparklines or not.
LiveKey = tuple[ViewerScope, str | None, str | None, tuple[str, str] | None, str | None, bool]


@dataclass(frozen=True, slots=True)
class CachedLive:
    model: LivePublic
    body: bytes

    @classmethod
    def of(cls, model: LivePublic) -> CachedLive:
        return cls(model, model.model_dump_json().encode())

    def response(self) -> Response:
        return Response(self.body, media_type="application/json")


def live_cache(ttl_s: float) -> TtlCache[LiveKey, CachedLive]:
    """Answers at most about 2 × `ttl_s` old; a viewer never waits for a recomputation."""
    return TtlCache(ttl_s, stale_s=ttl_s)
