"""The tenancy sweep's world (no tests here; imported by test_tenancy_sweep.py): two sponsors
who share a fridge, each with what must stay theirs, served by the real app.

ACME (alice) keeps VAX-1 (2-8 °C) and GLOBEX (robert) BIO-7 (0-5 °C), ranges that cross,
so each product can raise an alarm in the shared BASEL/FRIDGE-01 that is none of the
other's. In FRIDGE-01: GLOBEX's LOT-G2 alone (20 to 12 days ago), ACME's LOT-A2 alone
(10 to 5.5 days ago), both (5.5 to 2 days ago), GLOBEX's LOT-G1 alone (since). ACME also
has FRIDGE-02 (LOT-A1), LOT-A9 not placed yet, and ships LOT-A2 on SHP-A to LYON, a site
GLOBEX never uses; GLOBEX ships LOT-G2 on SHP-G to GENEVA, a site ACME never uses, where
its BIO-9 (LOT-G3) lives too.
omar operates BASEL only; quinn is QA, ada admin. A USB logger report imported by imp-ray
spans both sponsors' time in FRIDGE-01; staff comments and root causes on the shared
fridge's alerts name the other sponsor's lot and product. Every user has an API token.
Each sponsor has closed deviations (issue #21) on findings of its lots' records, assessed
and signed by a QA person of its own (qa-ann for ACME, qa-gus for GLOBEX) and agreed, or
first disputed, by its viewer with comments that name its lot; GLOBEX's LOT-G1 carries a
release decision signed by qa-rita. Every deviation is closed and every lot released or
unfinished, so the sweep's signed POSTs (with the right password) are refused (409) and
change nothing. The release is seeded as if its record were cleared: the sweep checks
who sees a release, not when one may be taken.
"""

from __future__ import annotations

import asyncio
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
from sqlalchemy import Engine
from sqlalchemy.orm import Session

from api.access.deviations import covered_finding
from api.app import create_app
from api.export.findings import OPEN
from api.export.judge import judge_batch
from coldchain.catalog import (
    catalog_session,
    create_catalog_engine,
    create_token,
    import_fleet,
    set_password,
    upgrade_catalog,
)
from coldchain.catalog.alerts import (
    NewAlert,
    acknowledge_alert,
    close_alert,
    open_alert,
    resolve_alert,
)
from coldchain.catalog.budget import add_tor_entry
from coldchain.catalog.deviations import (
    SYSTEM,
    CoveredFinding,
    assess_deviation,
    decide_deviation,
    open_deviation,
)
from coldchain.catalog.releases import DECIDABLE_VERDICT, decide_release
from coldchain.config import Settings
from coldchain.downsampling import downsample_range, ensure_downsampling
from coldchain.influx import InfluxClient
from coldchain.times import rfc3339, to_ms
from tests.support.api_world import PASSWORD, World, reading_line, serve_in_thread
from tests.support.export_world import ExportWorld, import_report

__all__ = [
    "ALARMS",
    "COMMENTS",
    "DEVIATIONS",
    "LOGGER_FILE",
    "SIGNERS",
    "STAFF_ACTORS",
    "TOR_REASON",
    "USERS",
    "Alarm",
    "tenancy_world",
]

USERS = ("alice", "robert", "omar", "quinn", "ada")
# Staff who act on the shared fridge's alerts and import its logger file: no sponsor may
# learn their names.
STAFF_ACTORS = ("ops-kim", "qa-lee", "imp-ray")
LOGGER_FILE = "fridge01-shared-run-7731.txt"
# QA persons who sign a sponsor's deviations and release: that sponsor sees their names
# (a signature shows its signer), the other never does.
SIGNERS = {"ACME": ("qa-ann",), "GLOBEX": ("qa-gus", "qa-rita")}
# Lot -> the id of its deviation (a fresh catalog numbers them in this order) and who
# assessed it, the sponsor's viewer, and what the viewer wrote (None: agreed at once).
DEVIATIONS = {"LOT-A2": "1", "LOT-G1": "2", "LOT-G3": "3"}
_DEVIATION_PLAN = (
    ("LOT-A2", "qa-ann", "alice", "Acme disputes: LOT-A2 of Vaxirin read 7.9 °C on our logger"),
    ("LOT-G1", "qa-gus", "robert", "Globex disputes: LOT-G1 of Biolumab needs STAB-B7"),
    ("LOT-G3", "qa-gus", "robert", None),
)
STEP_MIN = 30


def _fleet(now: datetime) -> str:
    def ago(days: float) -> str:
        return rfc3339(now - timedelta(days=days))

    return f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}, {{id: GLOBEX, name: Globex Bio}}]
users:
  - {{id: alice, role: sponsor_viewer, sponsor: ACME}}
  - {{id: robert, role: sponsor_viewer, sponsor: GLOBEX}}
  - {{id: omar, role: warehouse_operator, sites: [BASEL]}}
  - {{id: ops-kim, role: warehouse_operator, sites: [BASEL]}}
  - {{id: quinn, role: qa}}
  - {{id: qa-lee, role: qa}}
  - {{id: imp-ray, role: qa}}
  - {{id: qa-ann, role: qa}}
  - {{id: qa-gus, role: qa}}
  - {{id: qa-rita, role: qa}}
  - {{id: ada, role: admin}}
sites:
  - id: BASEL
    name: Basel Hub
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 4.0, sensors: [{{id: p1}}]}}
      - {{id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, sensors: [{{id: p1}}]}}
  - id: LYON
    name: Lyon Depot
    units:
      - {{id: ROOM-LY1, kind: cold_room, setpoint_c: 5.0, sensors: [{{id: p1}}]}}
  - id: GENEVA
    name: Geneva Store
    units:
      - {{id: COLD-GV9, kind: cold_room, setpoint_c: 3.0, sensors: [{{id: p1}}]}}
products:
  - {{id: VAX-1, name: Vaxirin, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
  - {{id: BIO-7, name: Biolumab, sponsor: GLOBEX, storage: {{min_c: 0.0, max_c: 5.0, alarm_delay_min: 15}}}}
  - {{id: BIO-9, name: Biozorb, sponsor: GLOBEX, storage: {{min_c: 0.0, max_c: 6.0}}}}
batches:
  - {{id: LOT-A1, product: VAX-1}}
  - {{id: LOT-A2, product: VAX-1}}
  - {{id: LOT-A9, product: VAX-1}}
  - {{id: LOT-G1, product: BIO-7}}
  - {{id: LOT-G2, product: BIO-7}}
  - {{id: LOT-G3, product: BIO-9}}
shipments:
  - {{id: SHP-A, origin: BASEL, destination: LYON, loggers: [{{id: LOG-A, sensors: [{{id: p1}}]}}]}}
  - {{id: SHP-G, origin: BASEL, destination: GENEVA, loggers: [{{id: LOG-G, sensors: [{{id: p1}}]}}]}}
  - {{id: SHP-G3, origin: GENEVA, destination: GENEVA, loggers: [{{id: LOG-G3, sensors: [{{id: p1}}]}}]}}
placements:
  - {{batch: LOT-G2, unit: BASEL/FRIDGE-01, from: "{ago(20)}", to: "{ago(12)}"}}
  - {{batch: LOT-G2, shipment: SHP-G, from: "{ago(12)}", to: "{ago(11)}"}}
  - {{batch: LOT-G2, unit: GENEVA/COLD-GV9, from: "{ago(11)}"}}
  - {{batch: LOT-A2, unit: BASEL/FRIDGE-01, from: "{ago(10)}", to: "{ago(2)}"}}
  - {{batch: LOT-A2, shipment: SHP-A, from: "{ago(2)}", to: "{ago(1)}"}}
  - {{batch: LOT-A2, unit: LYON/ROOM-LY1, from: "{ago(1)}"}}
  - {{batch: LOT-G1, unit: BASEL/FRIDGE-01, from: "{ago(5.5)}"}}
  - {{batch: LOT-A1, unit: BASEL/FRIDGE-02, from: "{ago(3)}"}}
  - {{batch: LOT-G3, shipment: SHP-G3, from: "{ago(9)}", to: "{ago(8)}"}}
  - {{batch: LOT-G3, unit: GENEVA/COLD-GV9, from: "{ago(8)}"}}
"""


# (site, source, device, sensors) of every place with readings.
_PLACES = (
    ("BASEL", "unit", "FRIDGE-01", ("p1",)),
    ("BASEL", "unit", "FRIDGE-02", ("p1",)),
    ("LYON", "unit", "ROOM-LY1", ("p1",)),
    ("GENEVA", "unit", "COLD-GV9", ("p1",)),
    ("BASEL", "logger", "LOG-A", ("p1",)),
    ("BASEL", "logger", "LOG-G", ("p1",)),
    ("GENEVA", "logger", "LOG-G3", ("p1",)),
)


@dataclass(frozen=True)
class Alarm:
    """One alert of the world: who handled it and what they wrote (None: still open)."""

    alert_id: str
    site: str
    device: str
    days_ago: float
    peak_c: float
    limit_c: float
    comment: str | None = None
    root_cause: str | None = None
    source: str = "unit"


# ALARMS' comments and root causes name the other sponsor's lot and product.
ALARMS = (
    # ACME alone in FRIDGE-01: none of GLOBEX's business.
    Alarm(
        "AL-ACME-F01",
        "BASEL",
        "FRIDGE-01",
        8,
        9.4,
        8.0,
        comment="door ajar while LOT-G2 of Biolumab was cleared out",
        root_cause="gasket worn since the BIO-7 restock",
    ),
    # Both in FRIDGE-01, 1.0 °C: below VAX-1's 2 °C, inside BIO-7's 0-5 °C: ACME's only.
    Alarm(
        "AL-ACME-COLD",
        "BASEL",
        "FRIDGE-01",
        3.5,
        1.0,
        2.0,
        comment="LOT-G1 pallet blocked the vent, told Globex Bio",
        root_cause="thermostat set for BIO-7 by mistake",
    ),
    # Both in FRIDGE-01, 6.5 °C: above BIO-7's 5 °C, inside VAX-1's 2-8 °C: GLOBEX's only.
    Alarm(
        "AL-GLOBEX-F01",
        "BASEL",
        "FRIDGE-01",
        3,
        6.5,
        5.0,
        comment="LOT-A2 of Vaxirin loaded warm",
        root_cause="Acme Pharma pallet loaded at 20 °C",
    ),
    # Both in FRIDGE-01, 9.5 °C: beyond both ranges, so both sponsors see it.
    Alarm(
        "AL-BOTH-F01",
        "BASEL",
        "FRIDGE-01",
        2.5,
        9.5,
        5.0,
        comment="checked LOT-A2 (VAX-1) and LOT-G1 (BIO-7) after the power cut",
        root_cause="power cut, Acme Pharma and Globex Bio informed",
    ),
    Alarm("AL-G-F01-NOW", "BASEL", "FRIDGE-01", 0.1, 5.6, 5.0),
    Alarm("AL-A-F02", "BASEL", "FRIDGE-02", 0.2, 8.7, 8.0),
    Alarm("AL-A-LY1", "LYON", "ROOM-LY1", 0.3, 8.9, 8.0),
    Alarm("AL-G-GV9", "GENEVA", "COLD-GV9", 0.4, 6.9, 6.0),
    Alarm("AL-A-LOG", "BASEL", "LOG-A", 1.5, 8.8, 8.0, source="logger"),
)
COMMENTS = tuple(text for a in ALARMS for text in (a.comment, a.root_cause) if text)
#: Budget alerts (#22, api/budget_watch.py): about a batch itself (source `batch`, device
#: the batch id), at the site of its latest placement: alert id -> (site, batch).
BUDGET_ALERTS = {
    "AL-BUDGET-A2": ("LYON", "LOT-A2"),
    "AL-BUDGET-G1": ("BASEL", "LOT-G1"),
    "AL-BUDGET-G3": ("GENEVA", "LOT-G3"),
}


def _temperature(device: str, at: datetime, now: datetime) -> float:
    for alarm in ALARMS:
        if alarm.device == device and abs(at - (now - timedelta(days=alarm.days_ago))) < (
            timedelta(minutes=45)
        ):
            return alarm.peak_c
    return 3.0


async def _fill_influx(settings: Settings, now: datetime) -> None:
    async with InfluxClient(settings.influx_url, settings.influx_db) as influx:
        await ensure_downsampling(influx)
        start = now - timedelta(days=21)
        lines: list[str] = []
        at = start
        while at <= now - timedelta(minutes=1):
            for site, source, device, sensors in _PLACES:
                temp = _temperature(device, at, now)
                lines.extend(reading_line(site, source, device, s, at, temp) for s in sensors)
            at += timedelta(minutes=STEP_MIN)
        last = now - timedelta(minutes=1)  # the newest readings, so nothing is "no data"
        for site, source, device, sensors in _PLACES:
            temp = _temperature(device, last, now)
            lines.extend(reading_line(site, source, device, s, last, temp) for s in sensors)
        await influx.write_lines(lines)
        await downsample_range(influx, to_ms(start), to_ms(now))


def _raise_alarms(engine: Engine, now: datetime) -> None:
    with catalog_session(engine) as session:
        for alarm in ALARMS:
            start = now - timedelta(days=alarm.days_ago)
            new = NewAlert(
                alert_id=alarm.alert_id,
                kind="excursion",
                severity="alarm",
                site=alarm.site,
                source=alarm.source,
                device=alarm.device,
                sensor="p1",
                start=start,
                peak_c=alarm.peak_c,
                detail={"limit_c": alarm.limit_c, "value_c": alarm.peak_c},
            )
            open_alert(session, new, at=start)
            if alarm.comment is None:
                continue
            minutes = timedelta(minutes=20)
            acknowledge_alert(
                session, alarm.alert_id, actor="ops-kim", at=start + minutes, comment=alarm.comment
            )
            resolve_alert(
                session,
                alarm.alert_id,
                actor="detector",
                at=start + 2 * minutes,
                end=start + minutes,
            )
            close_alert(
                session,
                alarm.alert_id,
                actor="qa-lee",
                at=start + 3 * minutes,
                root_cause=alarm.root_cause or "",
            )


def _seed_catalog(engine: Engine, fleet: Path, now: datetime) -> dict[str, str]:
    upgrade_catalog(engine)
    import_fleet(engine, fleet, actor="test")
    with catalog_session(engine) as session:
        tokens = {}
        for user in USERS:
            set_password(session, user_id=user, password=PASSWORD, actor="test")
            tokens[user] = create_token(session, user_id=user, actor="test").token
        for user in (u for signers in SIGNERS.values() for u in signers):
            set_password(session, user_id=user, password=PASSWORD, actor="test")
    _raise_alarms(engine, now)
    _raise_budget_alerts(engine, now)
    return tokens


def _raise_budget_alerts(engine: Engine, now: datetime) -> None:
    """Each batch's 80 % budget warning, as the API's scan opens it."""
    with catalog_session(engine) as session:
        for alert_id, (site, batch) in BUDGET_ALERTS.items():
            start = now - timedelta(hours=6)
            detail = {"threshold": 0.8, "consumed_share": 0.85, "allowed_h": 72.0}
            new = NewAlert(
                alert_id, "budget", "warning", site, "batch", batch, "budget", start, detail=detail
            )
            open_alert(session, new, at=start, actor="system")


async def _seed_deviations(settings: Settings, engine: Engine, now: datetime) -> None:
    """Each planned lot's first open finding, as QA's judgement of its record finds it,
    through a deviation to closed; then qa-rita's release of LOT-G1."""
    async with InfluxClient(settings.influx_url, settings.influx_db) as influx:
        for batch, assessor, sponsor, dispute in _DEVIATION_PLAN:
            report = await judge_batch(
                batch, influx=influx, catalog_engine=engine, viewer=None, settings=settings
            )
            first = next(f for f in report.findings if f.state == OPEN)
            _close_deviation(engine, batch, covered_finding(first), assessor, sponsor, dispute)
    with catalog_session(engine) as session:
        decide_release(
            session,
            batch_id="LOT-G1",
            decision="released",
            comment="Globex lot LOT-G1 released",
            user_id="qa-rita",
            password=PASSWORD,
            verdict=DECIDABLE_VERDICT,
            findings=(),
            now=now,
        )


#: Why ops-kim took ACME's lot out of the shared fridge (#22): it names GLOBEX's lot, so a
#: sponsor reading its budget must see neither the reason nor who wrote it.
TOR_REASON = "LOT-A2 staged on dock 3 beside Globex LOT-G1 while FRIDGE-01 was defrosted"


def _seed_time_out_of_refrigeration(engine: Engine, now: datetime) -> None:
    """An hour of LOT-A2 out of refrigeration in its time in the shared fridge, after the
    deviations (it adds a budget finding to the lot's record)."""
    with catalog_session(engine) as session:
        add_tor_entry(
            session,
            "LOT-A2",
            start=now - timedelta(days=6),
            end=now - timedelta(days=6) + timedelta(hours=1),
            max_c=12.0,
            reason=TOR_REASON,
            actor="ops-kim",
            now=now,
        )


def _close_deviation(
    engine: Engine,
    batch: str,
    finding: CoveredFinding,
    assessor: str,
    sponsor: str,
    dispute: str | None,
) -> None:
    def assess(session: Session, deviation: int) -> None:
        assess_deviation(
            session,
            deviation,
            user_id=assessor,
            password=PASSWORD,
            reason=f"{batch} stayed within its stability data",
            stability_reference=None,
            impact="none",
        )

    with catalog_session(engine) as session:
        opened = open_deviation(
            session, batch_id=batch, findings=[finding], title=f"{batch} finding", actor=SYSTEM
        )
        assert str(opened.id) == DEVIATIONS[batch], (opened.number, batch)
        assess(session, opened.id)
        if dispute is not None:
            decide_deviation(
                session, opened.id, user_id=sponsor, password=PASSWORD, agree=False, comment=dispute
            )
            assess(session, opened.id)
        decide_deviation(
            session,
            opened.id,
            user_id=sponsor,
            password=PASSWORD,
            agree=True,
            comment=f"{sponsor} agrees for {batch}",
        )


@contextmanager
def tenancy_world(
    tmp_path: Path, influx_url: str, influx_db: str, **settings_overrides: object
) -> Iterator[World]:
    """The world above in a new catalog and database, with the app under uvicorn; users
    authenticate with their API tokens (`world.headers(user, api_token=True)`)."""
    now = datetime.now(UTC).replace(microsecond=0)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(_fleet(now), encoding="utf-8")
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    settings = Settings(
        influx_url=influx_url,
        influx_db=influx_db,
        data_dir=tmp_path / "var",
        catalog_url=catalog_url,
        # No deviations open by themselves while the sweep reads what it expects.
        **{"api_deviation_scan_s": 0, **settings_overrides},  # type: ignore[arg-type]
    )
    engine = create_catalog_engine(settings.resolved_catalog_url)
    try:
        tokens = _seed_catalog(engine, fleet, now)
        import_report(
            ExportWorld(influx_url, influx_db, catalog_url, engine, settings.data_dir),
            "fridgetag2l",
            "BASEL/FRIDGE-01",
            LOGGER_FILE,
            (now - timedelta(days=6), now - timedelta(days=1)),
            actor="imp-ray",
        )
        asyncio.run(_fill_influx(settings, now))
        asyncio.run(_seed_deviations(settings, engine, now))
        _seed_time_out_of_refrigeration(engine, now)
        app = create_app(settings, engine=engine)
        with (
            serve_in_thread(app) as base_url,
            httpx.Client(base_url=base_url, timeout=60) as client,
        ):
            yield World(client, app, base_url, engine, settings, now, api_tokens=tokens)
    finally:
        engine.dispose()
