"""A short-lived, single-flight cache of InfluxQL answers, statement by statement.

A one-year history is mostly downsampled buckets that no longer change, and the history
reader aligns those statements to whole source buckets, so the same statement text comes
back from every viewer of that place until the next bucket closes. Fifty people opening the
same chart then cost InfluxDB one query, not fifty. A statement's text names its devices
and time windows (the viewer's scope is already applied), so sharing an answer between
viewers who send the same text shows nobody anything that is not theirs.

Staleness is bounded by `ttl_s`: a logger backfill into an old bucket shows in the chart
at most that much later (the QA export reads the raw record and never uses this cache).

Bounded like every API cache (`api.ttlcache`): expired answers go as the cache is used, and
at most `max_entries` statements and `max_bytes` of answers are kept, least recently used
out first. Parsed series hold Python objects, several times their JSON size, so an answer
is measured by `series_size` (an estimate of that memory). A 2000-bucket statement of four
columns is about 0.45 MB parsed, so 64 MiB holds some 150 full charts' statements (far more
of the usual shorter ones): the charts a 2-core server is asked for within one TTL, while
memory stays bounded however many distinct ranges are asked.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable, Sequence

from api.ttlcache import DEFAULT_MAX_ENTRIES, TtlCache
from coldchain.influx import InfluxClient, Series

__all__ = ["StatementCache", "series_size"]

#: Default byte cap of the statement answers (see the module docstring).
DEFAULT_MAX_BYTES = 64 * 1024 * 1024


def series_size(answer: list[Series]) -> int:
    """Roughly the bytes an answer holds in memory: per series its names and tags, per row
    a list, per value a pointer and a (boxed) float, int or short string."""
    total = 64
    for series in answer:
        total += 200 + len(series.name)
        total += sum(64 + len(column) for column in series.columns)
        total += sum(100 + len(k) + len(v) for k, v in series.tags.items())
        for row in series.values:
            total += 64 + 40 * len(row)
    return total


class StatementCache:
    """Usage:
    cache = StatementCache(ttl_s=60.0)
    per_statement = await cache.query_each(influx, [statement_a, statement_b])
    """

    def __init__(
        self,
        ttl_s: float,
        max_entries: int = DEFAULT_MAX_ENTRIES,
        *,
        max_bytes: int = DEFAULT_MAX_BYTES,
        clock: Callable[[], float] = time.monotonic,
    ) -> None:
        self._cache: TtlCache[str, list[Series]] = TtlCache(
            ttl_s,
            max_entries,
            clock=clock,
            max_bytes=max_bytes,
            size_of=series_size,
            name="history-statements",
        )

    async def query_each(
        self, influx: InfluxClient, statements: Sequence[str]
    ) -> list[list[Series]]:
        """Each statement's series; fresh cached answers (or ones in flight) are shared,
        the rest go to InfluxDB in one request."""
        if self._cache.ttl_s <= 0:
            return await influx.query_each(statements)
        waits: dict[str, asyncio.Future[list[Series]]] = {}
        misses: list[str] = []
        for text in dict.fromkeys(statements):
            pending = self._cache.fresh(text)
            if pending is None:
                misses.append(text)
            else:
                waits[text] = pending
        if misses:
            mine = {text: self._cache.reserve(text) for text in misses}
            waits.update(mine)
            try:
                answers = await influx.query_each(misses)
            except BaseException as exc:
                for text, future in mine.items():
                    self._cache.fail(text, future, exc)
                raise
            for text, answer in zip(misses, answers, strict=True):
                self._cache.resolve(text, mine[text], answer)
        return [await asyncio.shield(waits[text]) for text in statements]
