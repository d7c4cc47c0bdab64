"""The history statement cache against a real influxd: one request for the misses, each
statement's own answer back, shared answers within the TTL, fresh ones after it."""

from __future__ import annotations

import asyncio

from api.querycache import StatementCache
from coldchain.influx import InfluxClient, Series
from tests.support.influx_counter import QueryCounter
from tests.support.servers import InfluxServer

_T0 = 1_700_000_000_000


def _count(device: str) -> str:
    return f'SELECT count("temp_c") FROM "reading" WHERE "device" = \'{device}\''


async def _write(influx: InfluxClient, device: str, n: int, first: int = 0) -> None:
    lines = [
        f"reading,device={device},sensor=p1,site=S,source=unit temp_c=5.0 {_T0 + k * 60_000}"
        for k in range(first, first + n)
    ]
    await influx.write_body("\n".join(lines).encode())


def _counted(answer: list[list[Series]]) -> list[int | None]:
    return [int(a[0].values[0][1]) if a else None for a in answer]


async def test_each_statement_gets_its_own_answer_and_misses_go_in_one_request(
    influxd: InfluxServer, influx_db: str
) -> None:
    counter = QueryCounter()
    async with InfluxClient(influxd.url, influx_db, transport=counter) as influx:
        await influx.create_database()
        await _write(influx, "A", 3)
        await _write(influx, "B", 5)
        cache = StatementCache(ttl_s=60.0)
        assert _counted(await cache.query_each(influx, [_count("A")])) == [3]
        counter.requests.clear()
        answer = await cache.query_each(
            influx, [_count("B"), _count("A"), _count("none"), _count("B")]
        )
        assert _counted(answer) == [5, 3, None, 5]
        # A was a hit; the misses B and none went to InfluxDB together, B once.
        assert counter.requests == [[_count("B"), _count("none")]]


async def test_answers_are_shared_within_the_ttl_and_fresh_after_it(
    influxd: InfluxServer, influx_db: str
) -> None:
    async with InfluxClient(influxd.url, influx_db) as influx:
        await influx.create_database()
        await _write(influx, "A", 3)
        cache = StatementCache(ttl_s=0.5)
        assert _counted(await cache.query_each(influx, [_count("A")])) == [3]
        await _write(influx, "A", 2, first=3)
        assert _counted(await cache.query_each(influx, [_count("A")])) == [3]  # shared
        await asyncio.sleep(0.6)
        assert _counted(await cache.query_each(influx, [_count("A")])) == [5]


async def test_a_store_error_reaches_every_asker_and_is_not_cached(
    influxd: InfluxServer, influx_db: str
) -> None:
    async with InfluxClient(influxd.url, influx_db) as influx:
        cache = StatementCache(ttl_s=60.0)
        # The database does not exist yet: InfluxDB answers with an error.
        results = await asyncio.gather(
            *(cache.query_each(influx, [_count("A")]) for _ in range(3)), return_exceptions=True
        )
        assert all(isinstance(r, Exception) for r in results), results
        await influx.create_database()
        await _write(influx, "A", 1)
        assert _counted(await cache.query_each(influx, [_count("A")])) == [1]
