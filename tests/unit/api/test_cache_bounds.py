"""Every API cache is bounded in time and size (issue #20): expired entries go as the cache
is used, entries and bytes never pass the caps whatever the keys, least recently used out
first, and eviction under pressure is logged (rate-limited)."""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence

import pytest

from api.livecache import CachedLive, live_cache
from api.querycache import StatementCache
from api.ttlcache import DEFAULT_MAX_BYTES, DEFAULT_MAX_ENTRIES, TtlCache
from coldchain.influx import InfluxClient, Series

_KIB = b"x" * 1024


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


def _held(cache: TtlCache[int, bytes]) -> int:
    """Bytes of the bodies actually held, counted independently of the cache's tally."""
    return sum(len(e.future.result()) for e in cache._entries.values() if e.future.done())


async def test_many_distinct_keys_never_pass_the_entry_and_byte_caps() -> None:
    clock = _Clock()
    cache: TtlCache[int, bytes] = TtlCache(
        3600.0, max_entries=5000, max_bytes=2 * 1024 * 1024, clock=clock
    )

    async def body() -> bytes:
        return _KIB

    peak_entries = peak_bytes = 0
    for key in range(200_000):  # a crawler varying `from=`: every key distinct
        clock.now = key * 0.001
        assert await cache.get(key, body) is _KIB
        peak_entries = max(peak_entries, len(cache._entries))
        peak_bytes = max(peak_bytes, cache.total_bytes)
    assert peak_entries <= 5000
    assert peak_bytes <= 2 * 1024 * 1024
    assert _held(cache) <= 2 * 1024 * 1024
    assert len(cache._by_age) == len(cache._entries)
    # the byte cap bites first (about 1.5 KiB an entry with its overhead); it keeps the newest
    assert 1000 < len(cache._entries) < 2048
    assert 199_999 in cache._entries
    assert 0 not in cache._entries


async def test_the_entry_cap_bites_when_values_are_small() -> None:
    cache: TtlCache[int, bytes] = TtlCache(3600.0, max_entries=100)

    async def small() -> bytes:
        return b"1"

    for key in range(10_000):
        await cache.get(key, small)
        assert len(cache._entries) <= 100
    assert sorted(cache._entries) == list(range(9900, 10_000))


async def test_expired_entries_go_without_waiting_for_a_full_cache() -> None:
    clock = _Clock()
    cache: TtlCache[int, bytes] = TtlCache(1.0, clock=clock)

    async def body() -> bytes:
        return _KIB

    for key in range(100):
        await cache.get(key, body)
    assert len(cache._entries) == 100
    clock.now = 1.0
    await cache.get(1000, body)
    assert list(cache._entries) == [1000]
    assert cache.total_bytes < 2 * 1024
    clock.now = 5.0
    assert cache.fresh(1000) is None  # a lookup drops the expired too
    assert not cache._entries
    assert cache.total_bytes == 0


async def test_stale_answers_are_kept_until_the_stale_window_ends() -> None:
    clock = _Clock()
    cache: TtlCache[str, bytes] = TtlCache(1.0, stale_s=1.0, clock=clock)

    async def body() -> bytes:
        return _KIB

    await cache.get("live", body)
    clock.now = 1.5
    cache.reserve("other")
    assert "live" in cache._entries  # stale but still given out
    clock.now = 2.0
    cache.fresh("other")
    assert "live" not in cache._entries


async def test_a_hot_key_survives_eviction() -> None:
    cache: TtlCache[str, int] = TtlCache(3600.0, max_entries=10)
    calls = 0

    async def hot() -> int:
        nonlocal calls
        calls += 1
        return calls

    async def cold() -> int:
        return 0

    assert await cache.get("hot", hot) == 1
    for key in range(1000):
        await cache.get(f"cold-{key}", cold)
        assert await cache.get("hot", hot) == 1
    assert calls == 1


async def test_a_value_larger_than_the_byte_cap_is_given_out_not_kept() -> None:
    cache: TtlCache[str, bytes] = TtlCache(3600.0, max_bytes=4096)

    async def small() -> bytes:
        return b"s"

    async def huge() -> bytes:
        return b"h" * 10_000

    await cache.get("small", small)
    assert await cache.get("huge", huge) == b"h" * 10_000
    assert list(cache._entries) == ["small"]  # nothing else was flushed for it


async def test_eviction_under_pressure_is_logged_at_most_once_a_minute(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    cache: TtlCache[int, bytes] = TtlCache(3600.0, max_entries=10, clock=clock, name="answers")

    async def body() -> bytes:
        return b"b"

    with caplog.at_level(logging.WARNING, logger="api.ttlcache"):
        for key in range(1000):
            clock.now = key * 0.1  # 100 s in all
            await cache.get(key, body)
    records = [r for r in caplog.records if r.name == "api.ttlcache"]
    assert len(records) == 2  # at 1.0 s and at 61.0 s
    assert "cache answers: full, evicted 1 " in records[0].getMessage()
    assert "evicted 600 " in records[1].getMessage()


async def test_expiry_alone_is_not_logged(caplog: pytest.LogCaptureFixture) -> None:
    clock = _Clock()
    cache: TtlCache[int, bytes] = TtlCache(5.0, max_entries=10, clock=clock)

    async def body() -> bytes:
        return b"b"

    with caplog.at_level(logging.WARNING, logger="api.ttlcache"):
        for key in range(1000):
            clock.now = float(key)  # never more than 5 alive
            await cache.get(key, body)
    assert not [r for r in caplog.records if r.name == "api.ttlcache"]
    assert len(cache._entries) <= 5


def test_every_cache_the_api_creates_is_bounded() -> None:
    """`api.app` builds the viewer and history-answer caches with the defaults, the live
    and statement caches through their own constructors."""
    default: TtlCache[str, bytes] = TtlCache(1.0)
    assert default.max_entries == DEFAULT_MAX_ENTRIES <= 10_000
    assert default.max_bytes == DEFAULT_MAX_BYTES <= 64 * 1024 * 1024
    live = live_cache(1.0)
    assert live.max_entries <= 10_000
    assert live.max_bytes <= 64 * 1024 * 1024
    statements = StatementCache(60.0)._cache
    assert statements.max_entries <= 10_000
    assert statements.max_bytes <= 128 * 1024 * 1024


async def test_the_live_cache_counts_its_bodies() -> None:
    clock = _Clock()
    cache = live_cache(1.0, max_entries=1000, max_bytes=64 * 1024)
    cache.clock = clock
    answer = CachedLive(model=None, body=b"{}" * 4096)  # type: ignore[arg-type]

    async def compute() -> CachedLive:
        return answer

    for sponsor in range(200):
        await cache.get((sponsor, None, None, None, None, False), compute)  # type: ignore[arg-type]
        assert cache.total_bytes <= 64 * 1024
    assert len(cache._entries) < 10


class _FakeInflux:
    """Answers each statement with a series of 100 rows."""

    def __init__(self) -> None:
        self.statements = 0

    async def query_each(self, statements: Sequence[str]) -> list[list[Series]]:
        self.statements += len(statements)
        await asyncio.sleep(0)
        rows = [[1_700_000_000_000 + k, 5.0, 4.0, 6.0] for k in range(100)]
        return [
            [Series("reading", ["time", "mean", "min", "max"], rows, {"device": "D"})]
            for _ in statements
        ]


async def test_the_statement_cache_is_bounded_by_entries_and_bytes() -> None:
    clock = _Clock()
    cache = StatementCache(3600.0, max_entries=500, max_bytes=1024 * 1024, clock=clock)
    influx = _FakeInflux()
    for start in range(5000):  # every `from=` distinct
        clock.now = start * 0.01
        [answer] = await cache.query_each(influx, [f"SELECT ... WHERE time >= {start}"])  # type: ignore[arg-type]
        assert len(answer[0].values) == 100
        assert len(cache._cache._entries) <= 500
        assert cache._cache.total_bytes <= 1024 * 1024
    assert len(cache._cache._entries) < 500  # the byte cap (about 17 KiB an answer) bites


async def test_the_statement_cache_still_shares_and_expires() -> None:
    clock = _Clock()
    cache = StatementCache(60.0, clock=clock)
    influx = _FakeInflux()
    fake: InfluxClient = influx  # type: ignore[assignment]
    await asyncio.gather(*(cache.query_each(fake, ["A", "B"]) for _ in range(5)))
    assert influx.statements == 2
    clock.now = 60.0
    await cache.query_each(fake, ["A"])
    assert influx.statements == 3
    assert list(cache._cache._entries) == ["A"]
