"""A small single-flight cache with a time to live, shared by the API's hot paths.

Under load many requests ask the same thing within a second (fifty viewers of one
product, the same chart, the same bearer token). The first asker computes, everyone who
comes while that is in flight waits for the same answer, and the answer is reused for
`ttl_s`. Failures are never cached: the next asker tries again.

With `stale_s`, an answer up to `ttl_s + stale_s` old is still given out while one fresh
computation runs in the background (refresh ahead), so nobody waits for a recomputation
of a value that changes every second anyway. Only for values where that staleness is
harmless (the live view); never for who a token belongs to.
"""

from __future__ import annotations

import asyncio
import logging
import time
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Generic, TypeVar

__all__ = ["TtlCache"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


@dataclass
class TtlCache(Generic[K, V]):
    """Usage:
    cache: TtlCache[str, Viewer] = TtlCache(ttl_s=1.0)
    viewer = await cache.get(key, lambda: load_viewer(key))
    """

    ttl_s: float
    max_entries: int = 10_000
    stale_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    _entries: dict[K, tuple[float, asyncio.Future[V]]] = field(default_factory=dict)
    _refreshing: dict[K, asyncio.Task[None]] = field(default_factory=dict)

    async def get(self, key: K, compute: Callable[[], Awaitable[V]]) -> V:
        if self.ttl_s <= 0:
            return await compute()
        pending = self.fresh(key)
        if pending is not None:
            return await asyncio.shield(pending)
        stale = self._stale(key)
        if stale is not None:
            if key not in self._refreshing:
                self._refreshing[key] = asyncio.create_task(self._refresh(key, compute))
            return stale
        future = self.reserve(key)
        try:
            value = await compute()
        except BaseException as exc:
            self.fail(key, future, exc)
            raise
        future.set_result(value)
        return value

    def _stale(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None or self.clock() - entry[0] >= self.ttl_s + self.stale_s:
            return None
        future = entry[1]
        if not future.done() or future.exception() is not None:
            return None
        return future.result()

    async def _refresh(self, key: K, compute: Callable[[], Awaitable[V]]) -> None:
        """Recompute in the background; the stale answer stays until this one is ready,
        and a failure leaves it to expire (the next asker then computes and sees it)."""
        try:
            value = await compute()
        except Exception:
            # Logged now: until the stale answer expires nobody else sees this failure.
            log.warning("cache: background refresh failed key=%r", key, exc_info=True)
            return
        finally:
            self._refreshing.pop(key, None)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        future.set_result(value)
        self._entries[key] = (self.clock(), future)

    def fresh(self, key: K) -> asyncio.Future[V] | None:
        """The answer (or the computation in flight) for `key`, if young enough."""
        entry = self._entries.get(key)
        if entry is not None and self.clock() - entry[0] < self.ttl_s:
            return entry[1]
        return None

    def reserve(self, key: K) -> asyncio.Future[V]:
        """A future the caller promises to resolve (`set_result`) or `fail`."""
        now = self.clock()
        if len(self._entries) >= self.max_entries:
            self._entries = {k: v for k, v in self._entries.items() if now - v[0] < self.ttl_s}
            while len(self._entries) >= self.max_entries:  # all fresh: drop the oldest
                del self._entries[next(iter(self._entries))]
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._entries[key] = (now, future)
        return future

    def fail(self, key: K, future: asyncio.Future[V], exc: BaseException) -> None:
        if self._entries.get(key, (0.0, None))[1] is future:
            del self._entries[key]
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost
