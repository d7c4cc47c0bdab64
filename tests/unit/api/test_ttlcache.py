"""The API's single-flight TTL cache: shared answers, no cached failures, refresh ahead."""

from __future__ import annotations

import asyncio
import logging

import pytest

from api.ttlcache import TtlCache


class _Clock:
    def __init__(self) -> None:
        self.now = 0.0

    def __call__(self) -> float:
        return self.now


class _Counter:
    def __init__(self) -> None:
        self.calls = 0

    async def __call__(self) -> int:
        self.calls += 1
        await asyncio.sleep(0.01)
        return self.calls


async def test_concurrent_askers_share_one_computation() -> None:
    cache: TtlCache[str, int] = TtlCache(1.0)
    compute = _Counter()
    answers = await asyncio.gather(*(cache.get("k", compute) for _ in range(20)))
    assert answers == [1] * 20
    assert compute.calls == 1


async def test_an_answer_expires_after_its_ttl() -> None:
    clock = _Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, clock=clock)
    compute = _Counter()
    assert await cache.get("k", compute) == 1
    clock.now = 0.9
    assert await cache.get("k", compute) == 1
    clock.now = 1.0
    assert await cache.get("k", compute) == 2


async def test_a_failure_is_not_cached() -> None:
    cache: TtlCache[str, int] = TtlCache(10.0)

    async def broken() -> int:
        raise LookupError("catalog down")

    with pytest.raises(LookupError):
        await cache.get("k", broken)
    assert await cache.get("k", _Counter()) == 1


async def test_waiters_of_a_failed_computation_all_see_the_error() -> None:
    cache: TtlCache[str, int] = TtlCache(10.0)

    async def broken() -> int:
        await asyncio.sleep(0.01)
        raise LookupError("store down")

    results = await asyncio.gather(
        *(cache.get("k", broken) for _ in range(3)), return_exceptions=True
    )
    assert all(isinstance(r, LookupError) for r in results)


async def test_stale_answers_are_given_out_while_one_refresh_runs() -> None:
    clock = _Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, stale_s=1.0, clock=clock)
    compute = _Counter()
    assert await cache.get("k", compute) == 1
    clock.now = 1.5  # expired, still within the stale window
    assert await asyncio.gather(*(cache.get("k", compute) for _ in range(5))) == [1] * 5
    await asyncio.sleep(0.05)  # the one background refresh lands
    assert compute.calls == 2
    assert await cache.get("k", compute) == 2
    clock.now = 10.0  # past the stale window: computed in the foreground again
    assert await cache.get("k", compute) == 3


async def test_a_failed_background_refresh_is_logged_with_its_key(
    caplog: pytest.LogCaptureFixture,
) -> None:
    clock = _Clock()
    cache: TtlCache[str, int] = TtlCache(1.0, stale_s=1.0, clock=clock)
    assert await cache.get("live:BSL", _Counter()) == 1

    async def broken() -> int:
        raise LookupError("influx down")

    clock.now = 1.5
    with caplog.at_level(logging.WARNING, logger="api.ttlcache"):
        assert await cache.get("live:BSL", broken) == 1  # the stale answer, refresh started
        await cache._refreshing["live:BSL"]
    [record] = [r for r in caplog.records if r.name == "api.ttlcache"]
    assert record.levelno == logging.WARNING
    assert "key='live:BSL'" in record.getMessage()
    assert record.exc_info is not None
    assert isinstance(record.exc_info[1], LookupError)


async def test_a_full_cache_evicts_instead_of_growing() -> None:
    cache: TtlCache[int, int] = TtlCache(100.0, max_entries=10)
    for key in range(50):
        await cache.get(key, _Counter())
    assert len(cache._entries) <= 10


async def test_ttl_zero_turns_the_cache_off() -> None:
    cache: TtlCache[str, int] = TtlCache(0.0)
    compute = _Counter()
    await cache.get("k", compute)
    await cache.get("k", compute)
    assert compute.calls == 2
