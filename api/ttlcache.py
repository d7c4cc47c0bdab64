"""A small single-flight cache with a time to live, shared by the API's hot paths.

Under load many requests ask the same thing within a second (fifty viewers of one
product, the same chart, the same bearer token). The first asker computes, everyone who
comes while that is in flight waits for the same answer, and the answer is reused for
`ttl_s`. Failures are never cached: the next asker tries again.

With `stale_s`, an answer up to `ttl_s + stale_s` old is still given out while one fresh
computation runs in the background (refresh ahead), so nobody waits for a recomputation
of a value that changes every second anyway. Only for values where that staleness is
harmless (the live view); never for who a token belongs to.

Bounded in time and in size, whatever the askers vary (every distinct `from=` is a key):

- expired entries (older than `ttl_s + stale_s`) are dropped as the cache is used: entries
  are also kept in the order they were written, and every lookup or insert pops the
  expired ones off the front of that order (each entry is popped once, so amortised O(1)
  per insert), not only once the cache is full;
- at most `max_entries` entries and `max_bytes` of cached values (as measured by
  `size_of`, plus a fixed per-entry overhead): past either cap the least recently used
  entry goes first, so a hot key stays while one-off keys flow through. A value larger
  than `max_bytes` on its own is handed to its askers but not kept. Evictions under
  pressure (of entries not yet expired) are logged as a warning at most once a minute
  per cache, with how many went.

The defaults (4096 entries, 32 MiB) suit a 2-core API server: such a server answers a
few hundred requests a second, so with TTLs of seconds the useful working set of a cache
is a few hundred to a few thousand entries; 32 MiB per cache, a handful of caches and
two worker processes stay within a few hundred MiB of a small VM's memory, while a burst
of distinct questions (a crawler varying `from=`) only churns the cache instead of
growing the process until it is killed.
"""

from __future__ import annotations

import asyncio
import logging
import sys
import time
from collections import OrderedDict
from collections.abc import Awaitable, Callable, Hashable
from dataclasses import dataclass, field
from typing import Any, Generic, TypeVar

__all__ = ["DEFAULT_MAX_BYTES", "DEFAULT_MAX_ENTRIES", "ENTRY_OVERHEAD", "TtlCache", "approx_size"]

log = logging.getLogger(__name__)

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")

DEFAULT_MAX_ENTRIES = 4096
DEFAULT_MAX_BYTES = 32 * 1024 * 1024
#: What an entry costs beyond its value: dict and order slots, the future, the key tuple.
ENTRY_OVERHEAD = 512
#: Evictions under pressure are logged at most this often (seconds of the cache's clock).
EVICTION_LOG_INTERVAL_S = 60.0


def approx_size(value: Any) -> int:
    """Bytes a cached value holds: a body's length (bytes, str, or an object with a `body`
    of bytes), else Python's shallow size of the object."""
    if isinstance(value, bytes | bytearray | memoryview | str):
        return len(value)
    body = getattr(value, "body", None)
    if isinstance(body, bytes | bytearray):
        return len(body) + sys.getsizeof(value)
    return sys.getsizeof(value)


def _key_size(key: Hashable) -> int:
    if isinstance(key, str | bytes):
        return len(key)
    if isinstance(key, tuple):
        return sum(len(k) if isinstance(k, str | bytes) else 8 for k in key)
    return 0


class _Entry(Generic[V]):
    __slots__ = ("future", "size", "written")

    def __init__(self, written: float, future: asyncio.Future[V], size: int) -> None:
        self.written = written
        self.future = future
        self.size = size


@dataclass
class TtlCache(Generic[K, V]):
    """Usage:
    cache: TtlCache[str, Viewer] = TtlCache(ttl_s=1.0)
    viewer = await cache.get(key, lambda: load_viewer(key))
    """

    ttl_s: float
    max_entries: int = DEFAULT_MAX_ENTRIES
    stale_s: float = 0.0
    clock: Callable[[], float] = time.monotonic
    max_bytes: int = DEFAULT_MAX_BYTES
    size_of: Callable[[V], int] = approx_size
    name: str = "cache"
    #: Least recently used first.
    _entries: OrderedDict[K, _Entry[V]] = field(default_factory=OrderedDict)
    #: Oldest written first (every entry has the same lifetime: expiry order).
    _by_age: OrderedDict[K, None] = field(default_factory=OrderedDict)
    _bytes: int = 0
    _refreshing: dict[K, asyncio.Task[None]] = field(default_factory=dict)
    _evicted: int = 0
    _logged_at: float | None = None

    def __post_init__(self) -> None:
        if self.max_entries < 1:
            raise ValueError(f"max_entries must be at least 1, got {self.max_entries}")
        if self.max_bytes < ENTRY_OVERHEAD:
            raise ValueError(f"max_bytes must be at least {ENTRY_OVERHEAD}, got {self.max_bytes}")

    @property
    def entry_count(self) -> int:
        return len(self._entries)

    @property
    def total_bytes(self) -> int:
        """Bytes accounted to the entries now held (values, keys, per-entry overhead)."""
        return self._bytes

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
        self.resolve(key, future, value)
        return value

    def _lookup(self, key: K, max_age: float) -> _Entry[V] | None:
        now = self.clock()
        self._expire(now)
        entry = self._entries.get(key)
        if entry is None or now - entry.written >= max_age:
            return None
        self._entries.move_to_end(key)  # recently used
        return entry

    def _stale(self, key: K) -> V | None:
        entry = self._lookup(key, self.ttl_s + self.stale_s)
        if entry is None:
            return None
        future = entry.future
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
        now = self.clock()
        self._expire(now)
        self._store(key, now, future, self._size(key, value))
        self._enforce_caps(now)

    def fresh(self, key: K) -> asyncio.Future[V] | None:
        """The answer (or the computation in flight) for `key`, if young enough."""
        entry = self._lookup(key, self.ttl_s)
        return None if entry is None else entry.future

    def reserve(self, key: K) -> asyncio.Future[V]:
        """A future the caller promises to `resolve` or `fail`."""
        now = self.clock()
        self._expire(now)
        future: asyncio.Future[V] = asyncio.get_running_loop().create_future()
        self._store(key, now, future, ENTRY_OVERHEAD + _key_size(key))
        self._enforce_caps(now)
        return future

    def resolve(self, key: K, future: asyncio.Future[V], value: V) -> None:
        """Give `value` to everyone waiting on `future` and account its size to the cache
        (if the reservation is still held: it may have expired or been evicted meanwhile)."""
        future.set_result(value)
        entry = self._entries.get(key)
        if entry is None or entry.future is not future:
            return
        size = self._size(key, value)
        if size > self.max_bytes:  # would flush everything else: handed out, not kept
            self._remove(key)
            return
        self._bytes += size - entry.size
        entry.size = size
        self._enforce_caps(self.clock())

    def fail(self, key: K, future: asyncio.Future[V], exc: BaseException) -> None:
        entry = self._entries.get(key)
        if entry is not None and entry.future is future:
            self._remove(key)
        future.set_exception(exc)
        future.exception()  # retrieved: waiters re-raise it, nobody logs it as lost

    def _size(self, key: K, value: V) -> int:
        return ENTRY_OVERHEAD + _key_size(key) + self.size_of(value)

    def _store(self, key: K, now: float, future: asyncio.Future[V], size: int) -> None:
        if key in self._entries:
            self._remove(key)
        self._entries[key] = _Entry(now, future, size)
        self._by_age[key] = None
        self._bytes += size

    def _remove(self, key: K) -> None:
        entry = self._entries.pop(key)
        del self._by_age[key]
        self._bytes -= entry.size

    def _expire(self, now: float) -> None:
        """Drop every entry past `ttl_s + stale_s`: they sit at the front of `_by_age`."""
        horizon = self.ttl_s + self.stale_s
        by_age, entries = self._by_age, self._entries
        while by_age:
            key = next(iter(by_age))
            if now - entries[key].written < horizon:
                return
            self._remove(key)

    def _enforce_caps(self, now: float) -> None:
        entries = self._entries
        evicted = 0
        while len(entries) > self.max_entries or self._bytes > self.max_bytes:
            self._remove(next(iter(entries)))  # least recently used
            evicted += 1
        if evicted:
            self._evicted += evicted
            if self._logged_at is None or now - self._logged_at >= EVICTION_LOG_INTERVAL_S:
                log.warning(
                    "cache %s: full, evicted %d unexpired entries (%d entries of %d, "
                    "%d bytes of %d); consider a larger cap or a shorter TTL",
                    self.name,
                    self._evicted,
                    len(entries),
                    self.max_entries,
                    self._bytes,
                    self.max_bytes,
                )
                self._logged_at = now
                self._evicted = 0
