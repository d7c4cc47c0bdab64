"""A short-lived, single-flight cache of InfluxQL answers, statement by statement.

A one-year history is mostly downsampled buckets that no longer change, and the history
reader aligns those statements to whole source buckets, so the same statement text comes
back from every viewer of that place until the next bucket closes. Fifty people opening the
same chart then cost InfluxDB one query, not fifty. A statement's text names its devices
and time windows (the viewer's scope is already applied), so sharing an answer between
viewers who send the same text shows nobody anything that is not theirs.

Staleness is bounded by `ttl_s`: a logger backfill into an old bucket shows in the chart
at most that much later (the QA export reads the raw record and never uses this cache).
"""

from __future__ import annotations

import asyncio
from collections.abc import Sequence

from api.ttlcache import TtlCache
from coldchain.influx import InfluxClient, Series

__all__ = ["StatementCache"]


class StatementCache:
    """Usage:
    cache = StatementCache(ttl_s=60.0)
    per_statement = await cache.query_each(influx, [statement_a, statement_b])
    """

    def __init__(self, ttl_s: float, max_entries: int = 4096) -> None:
        self._cache: TtlCache[str, list[Series]] = TtlCache(ttl_s, max_entries)

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
                mine[text].set_result(answer)
        return [await asyncio.shield(waits[text]) for text in statements]
