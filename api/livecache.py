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

Bounded like every API cache (`api.ttlcache`): an answer is measured by its JSON body (the
model beside it is about as large again, hence the factor in `CachedLive.size`); at most
1024 answers (distinct scope and filter pairs asked within two seconds) and 32 MiB.
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

    def size(self) -> int:
        """Bytes held: the body, and the parsed model, about as large again."""
        return 2 * len(self.body)


def live_cache(
    ttl_s: float, *, max_entries: int = 1024, max_bytes: int = 32 * 1024 * 1024
) -> TtlCache[LiveKey, CachedLive]:
    """Answers at most about 2 × `ttl_s` old; a viewer never waits for a recomputation."""
    return TtlCache(
        ttl_s,
        max_entries,
        stale_s=ttl_s,
        max_bytes=max_bytes,
        size_of=CachedLive.size,
        name="live",
    )
