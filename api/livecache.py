"""A one-second, single-flight cache of live answers, per tenant scope and filter.

Fifty people of one sponsor with the page open ask the same question every second or two;
readings arrive once a minute per sensor. Computing the answer once per second and sharing
it (concurrent askers wait for the one computation in flight) keeps the live view fast
under load. The key is the viewer's whole scope (role, sponsor, sites) plus the filter, so
an answer is only ever shared between viewers who would see exactly the same thing.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Awaitable, Callable
from dataclasses import dataclass, field

from api.schemas import LivePublic
from coldchain.catalog.users import Viewer

__all__ = ["LiveCache"]

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


@dataclass
class LiveCache:
    ttl_s: float
    clock: Callable[[], float] = time.monotonic
    _entries: dict[_Key, tuple[float, asyncio.Future[LivePublic]]] = field(default_factory=dict)

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
    ) -> LivePublic:
        if self.ttl_s <= 0:
            return await compute()
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
        now = self.clock()
        entry = self._entries.get(key)
        if entry is not None and now - entry[0] < self.ttl_s:
            return await asyncio.shield(entry[1])
        if len(self._entries) > 10_000:
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl_s}
        future: asyncio.Future[LivePublic] = asyncio.get_running_loop().create_future()
        self._entries[key] = (now, future)
        try:
            answer = await compute()
        except BaseException as exc:
            # Errors (404, store down) are not cached: the next asker tries again.
            self._entries.pop(key, None)
            future.set_exception(exc)
            future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
            raise
        future.set_result(answer)
        return answer
