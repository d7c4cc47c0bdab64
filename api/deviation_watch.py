"""Deviations open themselves: every `api_deviation_scan_s` the API judges each recently
active batch and opens a deviation (opened by "system") for each open finding that no
deviation covers yet, so a finding is reported to the sponsor as it appears, not when QA
happens to export the record (issue #21).

Recently active: a placement open now or ended within the last `LOOKBACK`. The batch is
judged as QA sees it (no viewer), with the export's rules (api/export/judge.py). A finding
still running (`ongoing`) waits until it ends; a finding any deviation names, over any
span, is QA's to extend, never opened twice. The first scan runs one period after start.

One writer: two API processes scanning at once could both open a deviation for the same
new finding, so the scan runs on one API instance (`api_deviation_scan_s` 0 on the
others). A failure (InfluxDB or the catalog down, a record that cannot be judged) is
logged and the scan tried again the next period; it never ends the API.

After judging a batch the scan takes its budget step (api/budget_watch.py): the alerts of
the budget thresholds the batch's account has crossed.
"""

from __future__ import annotations

import asyncio
import logging
from collections.abc import Sequence
from datetime import datetime, timedelta

from sqlalchemy import Engine

from api.access.deviations import covered_finding, recently_active_batches
from api.budget_watch import watch_budget
from api.export.findings import OPEN, Finding, describe
from api.export.judge import judge_batch
from api.state import ApiState
from coldchain.catalog.deviations import SYSTEM, Deviation, covered_spans, open_deviation
from coldchain.catalog.errors import CatalogUnavailable
from coldchain.catalog.store import catalog_session
from coldchain.errors import StoreError

__all__ = ["LOOKBACK", "scan_batches", "watch_deviations"]

log = logging.getLogger(__name__)

#: How long after its last placement ended a batch is still judged.
LOOKBACK = timedelta(days=7)


async def watch_deviations(state: ApiState) -> None:
    """Scan every `api_deviation_scan_s` seconds until cancelled (the app's lifespan)."""
    period = state.settings.api_deviation_scan_s
    while True:
        await asyncio.sleep(period)
        try:
            opened = await scan_batches(state)
        except (StoreError, CatalogUnavailable) as exc:
            log.warning("api: deviation scan stopped (next in %g s): %s", period, exc)
        except Exception:  # a background task: whatever failed, the API and the next scan go on
            log.exception("api: deviation scan failed (next in %g s)", period)
        else:
            for deviation in opened:
                log.info(
                    "api: opened %s on batch %s: %s",
                    deviation.number,
                    deviation.batch,
                    deviation.title,
                )


async def scan_batches(state: ApiState) -> list[Deviation]:
    """Judge each recently active batch once; the deviations opened, in batch order.

    Raises:
        StoreError, CatalogUnavailable: InfluxDB or the catalog failed (the scan stops;
            every batch is judged again next time).
    """
    now = state.clock()
    batches = await asyncio.to_thread(_recent_batches, state.engine, now - LOOKBACK)
    opened: list[Deviation] = []
    for batch in batches:
        try:
            report = await judge_batch(
                batch,
                influx=state.influx,
                catalog_engine=state.engine,
                viewer=None,
                settings=state.settings,
                now=now,
            )
        except (StoreError, CatalogUnavailable):
            raise
        except Exception:  # one record that cannot be judged must not hide the others
            log.exception("api: deviation scan could not judge batch %s", batch)
            continue
        found = [f for f in report.findings if f.state == OPEN]
        if found:
            opened += await asyncio.to_thread(_open_uncovered, state.engine, batch, found, now)
        for change in await asyncio.to_thread(
            watch_budget, state.engine, report, settings=state.settings, now=now
        ):
            log.info(
                "api: budget alert %s %s on batch %s: %s",
                change.alert_id,
                change.state,
                change.batch,
                change.why,
            )
    return opened


def _recent_batches(engine: Engine, since: datetime) -> list[str]:
    with catalog_session(engine) as session:
        return recently_active_batches(session, since)


def _open_uncovered(
    engine: Engine, batch: str, findings: Sequence[Finding], now: datetime
) -> list[Deviation]:
    """One deviation per finding no deviation of the batch names yet, in one transaction."""
    with catalog_session(engine) as session:
        covered = covered_spans(session, batch)
        return [
            open_deviation(
                session,
                batch_id=batch,
                findings=[covered_finding(f)],
                title=title(f),
                actor=SYSTEM,
                now=now,
            )
            for f in findings
            if f.id not in covered
        ]


def title(finding: Finding) -> str:
    """The finding in words, as a terminal lists it, without its state: "gap, BSL/FRIDGE-02
    (p1), 2026-12-06T07:00Z to 2026-12-06T07:20Z"."""
    return describe(finding).removeprefix(f"{finding.state}: ")
