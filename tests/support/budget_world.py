"""A budget test world: a catalog from a fleet file, a database on the real influxd and the
real app in process on a clock the test moves, so the API's batch scan (deviation watch
and its budget step) runs exactly when the test says, as of the simulated time it says."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import AsyncIterator, Sequence
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path
from typing import Any

import httpx
from fastapi import FastAPI
from sqlalchemy import Engine, select

from api.app import create_app
from api.budget_watch import KIND
from api.deviation_watch import scan_batches
from coldchain.catalog import catalog_session, create_catalog_engine, create_token
from coldchain.catalog.schema import AlertHistoryRow, AlertRow
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from tests.support.catalog import catalog_from_fleet

__all__ = ["BudgetAlert", "BudgetWorld", "open_budget_world"]


@dataclass(frozen=True, slots=True)
class BudgetAlert:
    """A budget alert as the catalog holds it, with when it opened and how it ended."""

    alert_id: str
    severity: str
    state: str
    site: str
    source: str
    device: str
    sensor: str
    start: datetime
    end: datetime | None
    detail_json: str | None
    opened_at: datetime
    resolved_by: tuple[str | None, str | None] | None  # (actor, comment)


@dataclass
class BudgetWorld:
    app: FastAPI
    client: httpx.AsyncClient
    engine: Engine
    settings: Settings
    influx: InfluxClient
    tokens: dict[str, str]
    clock: list[datetime]  # the app's now: clock[0]

    async def scan(self, at: datetime) -> None:
        """One scan of the API's batch watch as of `at` (what the timer would run)."""
        self.clock[0] = at
        await scan_batches(self.app.state.api)

    async def get(self, user: str, path: str, status: int = 200) -> Any:
        answer = await self.client.get(path, headers=self.headers(user))
        assert answer.status_code == status, answer.text
        return answer.json()

    def headers(self, user: str) -> dict[str, str]:
        return {"Authorization": f"Bearer {self.tokens[user]}"}

    def budget_alerts(self, batch: str) -> list[BudgetAlert]:
        """The batch's budget alerts, in the order they opened."""
        with catalog_session(self.engine) as session:
            rows = session.execute(
                select(AlertRow).where(AlertRow.kind == KIND, AlertRow.device == batch)
            ).scalars()
            found = []
            for row in rows:
                history = session.execute(
                    select(AlertHistoryRow)
                    .where(AlertHistoryRow.alert_id == row.id)
                    .order_by(AlertHistoryRow.at, AlertHistoryRow.id)
                ).scalars()
                states = {h.state: h for h in history}
                resolved = states.get("resolved")
                found.append(
                    BudgetAlert(
                        row.id,
                        row.severity,
                        row.state,
                        row.site_id,
                        row.source,
                        row.device,
                        row.sensor,
                        row.start_at,
                        row.end_at,
                        row.detail_json,
                        states["open"].at,
                        None if resolved is None else (resolved.actor, resolved.comment),
                    )
                )
        return sorted(found, key=lambda a: (a.opened_at, a.alert_id))


@contextlib.asynccontextmanager
async def open_budget_world(
    fleet: str,
    influx_url: str,
    tmp_path: Path,
    *,
    users: Sequence[str],
    start: datetime,
    **settings_overrides: object,
) -> AsyncIterator[BudgetWorld]:
    """The catalog from `fleet` (YAML text), an empty database, the app (its own timer
    off: the test scans) with API tokens for `users`; all removed after."""
    settings = Settings(
        influx_url=influx_url,
        influx_db=f"test_{uuid.uuid4().hex[:12]}",
        data_dir=tmp_path / "var",
        catalog_url=catalog_from_fleet(tmp_path, fleet),
        **{"api_deviation_scan_s": 0, **settings_overrides},  # type: ignore[arg-type]
    )
    engine = create_catalog_engine(settings.resolved_catalog_url)
    try:
        with catalog_session(engine) as session:
            tokens = {u: create_token(session, user_id=u, actor="test").token for u in users}
        clock = [start]
        app = create_app(settings, engine=engine, clock=lambda: clock[0])
        async with (
            InfluxClient(settings.influx_url, settings.influx_db) as influx,
            app.router.lifespan_context(app),
            httpx.AsyncClient(
                transport=httpx.ASGITransport(app=app), base_url="http://api.test", timeout=60
            ) as client,
        ):
            await influx.create_database()
            try:
                yield BudgetWorld(app, client, engine, settings, influx, tokens, clock)
            finally:
                await influx.drop_database()
    finally:
        engine.dispose()
