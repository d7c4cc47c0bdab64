"""What the app holds while it runs (opened by the lifespan in `api.app`)."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime

from sqlalchemy import Engine

from api.catalog_rules import CatalogRulesCache
from api.concurrency import ConcurrencyLimit
from api.livecache import CachedLive, LiveKey
from api.querycache import StatementCache
from api.ratelimit import LoginLimiter
from api.tokens import LoginTokens
from api.ttlcache import TtlCache
from coldchain.catalog.users import Viewer, ViewerScope
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from coldchain.judgement.validity import ReadingValidity
from coldchain.times import to_ms

__all__ = ["ApiState", "HistoryKey"]

#: The viewer's scope, what is asked (batch, unit, shipment), the range (epoch seconds)
#: and the bucket count: one shared history answer.
HistoryKey = tuple[ViewerScope, str | None, tuple[str, str] | None, str | None, float, float, int]


@dataclass(slots=True)
class ApiState:
    """Settings and open clients; one per app, reached by routes through `api.deps`.
    `validity`: the settings' reading-validity rule, built once (live view, history, the
    downsampling); `rules`: the calibration corrections and alarm profiles, held while the
    catalog does not change (`api.catalog_rules`)."""

    settings: Settings
    validity: ReadingValidity
    engine: Engine
    influx: InfluxClient
    tokens: LoginTokens
    limiter: LoginLimiter
    clock: Callable[[], datetime]
    live_cache: TtlCache[LiveKey, CachedLive]
    history_cache: StatementCache
    viewers: TtlCache[str, Viewer | None]
    history_answers: TtlCache[HistoryKey, bytes]
    streams: ConcurrencyLimit
    exports: ConcurrencyLimit
    downsampling_ready: bool = False
    rules: CatalogRulesCache = field(default_factory=CatalogRulesCache)

    def now_ms(self) -> int:
        return to_ms(self.clock())
