"""`coldchain logger import` end to end: a real Q-tag export → real mosquitto → ingest →
real influxd, the device's record in the catalog, and the QA export showing both summaries.

Importing the same file again changes nothing; a truncated or edited file is refused with
its line and reason, and nothing of it is published or recorded; a publish that fails
records nothing, and running the import again completes it. A device clock that kept one
offset across the site's DST change lands at its true times, and the record says how the
clock was read (issue #18).
"""

from __future__ import annotations

import asyncio
import json
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from zoneinfo import ZoneInfo

import pytest
from sqlalchemy import Engine, func, select
from typer.testing import CliRunner

from api.export import ExportSigner, export_batch
from cli.local_servers import free_port
from cli.main import app
from coldchain.catalog import (
    catalog_session,
    create_catalog_engine,
    import_fleet,
    upgrade_catalog,
)
from coldchain.catalog.logger_reports import reports_for
from coldchain.catalog.schema import AlertRow, AlertRuleRow, AuditEntryRow, LoggerReportRow
from coldchain.influx import InfluxClient
from coldchain.times import to_ms
from tests.support.detector import DetectProcess
from tests.support.pipeline import IngestProcess, stored_reading_keys, wait_until
from tests.support.real_loggers import real_path, real_text
from tests.support.servers import InfluxServer, MosquittoServer
from tests.unit.loggers.synthetic import (
    falling_back,
    move_clock,
    resign,
    shifted,
    trust_test_issuer,
)

pytestmark = pytest.mark.integration

FLEET = """\
sponsors: [{id: ACME, name: Acme Pharma}]
users: [{id: quinn, role: qa}]
sites:
  - {id: BSL, timezone: Europe/Zurich}
  - {id: LYS, timezone: Europe/Paris}
products:
  - id: VAX-1
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {max_c: 25.0, hours: 24}}
batches: [{id: LOT-1, product: VAX-1}]
shipments:
  - {id: SHP-1, origin: BSL, destination: LYS,
     loggers: [{id: RCPJ00010, sensors: [{id: t1}], log_interval_s: 600}]}
  - {id: SHP-2, origin: BSL, destination: LYS,
     loggers: [{id: LOG-2, sensors: [{id: t1}], log_interval_s: 600}]}
placements:
  - {batch: LOT-1, shipment: SHP-1, from: "2022-11-08T03:00:00Z", to: "2022-11-09T01:00:00Z"}
"""
ZURICH = ZoneInfo("Europe/Zurich")
runner = CliRunner()


@dataclass
class World:
    mqtt_url: str
    influx_url: str
    influx_db: str
    catalog_url: str
    engine: Engine
    data_dir: Path


@pytest.fixture
def world(
    mosquitto: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> Iterator[World]:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET, encoding="utf-8")
    catalog_url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    engine = create_catalog_engine(catalog_url)
    upgrade_catalog(engine)
    import_fleet(engine, fleet, actor="test")
    ingest = IngestProcess(mosquitto.url, influxd.url, influx_db, tmp_path / "ingest")
    ingest.start()
    try:
        yield World(mosquitto.url, influxd.url, influx_db, catalog_url, engine, tmp_path)
    finally:
        ingest.stop()
        engine.dispose()


def _import(world: World, path: Path, *args: str, mqtt_url: str | None = None) -> tuple[int, str]:
    result = runner.invoke(
        app,
        [
            "logger",
            "import",
            str(path),
            *args,
            "--mqtt-url",
            mqtt_url or world.mqtt_url,
            "--catalog-url",
            world.catalog_url,
            "--data-dir",
            str(world.data_dir),
            "--actor",
            "quinn",
            "--timeout",
            "20",
        ],
    )
    return result.exit_code, result.stdout + result.stderr


def _stored(world: World, device: str) -> list[int]:
    return sorted(
        ts for d, _, ts in stored_reading_keys(world.influx_url, world.influx_db) if d == device
    )


def _catalog_counts(engine: Engine) -> tuple[int, int, int]:
    with catalog_session(engine) as session:
        reports, rules, audit = (
            session.scalar(select(func.count()).select_from(table)) or 0
            for table in (LoggerReportRow, AlertRuleRow, AuditEntryRow)
        )
    return reports, rules, audit


def _device_ms(text: str) -> int:
    return to_ms(datetime.strptime(text, "%Y-%m-%d %H:%M").replace(tzinfo=ZURICH))


def test_qtag_run_lands_once_with_true_times_and_the_export_shows_both(world: World) -> None:
    path = real_path("qtag_run2")
    before = _catalog_counts(world.engine)

    # A broker that is not there: nothing is recorded, and the import says to run it again.
    code, out = _import(
        world, path, "--shipment", "SHP-1", mqtt_url=f"mqtt://127.0.0.1:{free_port()}"
    )
    assert code == 1, out
    assert "nothing recorded" in out
    assert _catalog_counts(world.engine) == before

    code, out = _import(world, path, "--shipment", "SHP-1", "--import-rules")
    assert code == 0, out
    assert "imported: 124 readings in 1 messages acknowledged by the broker" in out
    assert "target: shipment SHP-1 (BSL/logger/RCPJ00010/t1)" in out
    wait_until(lambda: len(_stored(world, "RCPJ00010")) >= 124, 60, "124 readings stored")
    expected = sorted(
        _device_ms(line.split("\t")[1])
        for line in real_text("qtag_run2").split("\r\n")
        if line.startswith("\t2022-")
    )
    assert _stored(world, "RCPJ00010") == expected  # every reading, at its true time
    assert expected[0] == to_ms(datetime(2022, 11, 8, 3, 49, tzinfo=UTC))
    after_first = _catalog_counts(world.engine)
    assert after_first[:2] == (before[0] + 1, before[1] + 4)

    code, out = _import(world, path, "--shipment", "SHP-1", "--import-rules")
    assert code == 0, out
    assert "already imported (report" in out
    assert "alert rules: already there" in out
    assert _catalog_counts(world.engine) == after_first
    assert len(_stored(world, "RCPJ00010")) == 124

    summary = asyncio.run(_export_summary(world))
    (report,) = summary["device_reports"]
    assert report["device"] == "Q-tag CLm doc LR RCPJ00010"
    assert (report["readings_in_file"], report["readings_stored"]) == (124, 124)
    assert report["authenticity"].startswith("device signature verified")
    run = {row["quantity"]: row for row in report["run"]}
    assert run["mkt_c"]["device"] == 10.5
    assert 10.5 <= run["mkt_c"]["ours"] < 10.6
    assert run["mean_c"]["device"] == 5.4
    assert 5.4 <= run["mean_c"]["ours"] < 5.5
    assert (run["min_c"]["device"], run["min_c"]["ours"]) == (0.9, 0.9)
    assert run["min_c"]["device_at"] == "2022-11-08T12:49"
    assert run["min_c"]["ours_at"]["local"].startswith("2022-11-08T12:49:00")
    assert run["max_c"]["ours_at"]["utc"].startswith("2022-11-08T23:19:00")
    assert [(e["alarm"], e["end"]) for e in report["events"]][:2] == [(1, "open"), (2, None)]
    assert report["mkt_delta_h_kj_per_mol"] == 83.0


async def _export_summary(world: World) -> dict[str, Any]:
    """The JSON export's summary; the CSV and PDF of the same record are checked on the way."""
    signer = ExportSigner.load_or_create(world.data_dir)
    async with InfluxClient(world.influx_url, world.influx_db) as influx:

        async def export(fmt: str) -> bytes:
            stream = export_batch(
                "LOT-1",
                fmt,
                influx=influx,
                catalog_engine=world.engine,
                signer=signer,
                actor="quinn",
                now=datetime(2026, 1, 1, tzinfo=UTC),
            )
            return b"".join([chunk async for chunk in stream])

        body, csv, pdf = await export("json"), (await export("csv")).decode(), await export("pdf")
    assert pdf.startswith(b"%PDF")
    assert "# device_run,report_id,quantity,device,device_at,ours" in csv
    assert "# device_event," in csv
    summary: dict[str, Any] = json.loads(body)["summary"]
    return summary


def test_truncated_and_edited_files_are_refused_and_nothing_lands(
    world: World, tmp_path: Path
) -> None:
    before = _catalog_counts(world.engine)
    code, out = _import(world, real_path("fridgetag2l_truncated"), "--shipment", "SHP-2")
    assert code == 2, out
    assert "refused, nothing published or recorded" in out
    assert "test.txt:547: Data: 2022-05-12 13:26 is 14505 min after the row before" in out

    edited = tmp_path / "RCPJ00010_03_edited.txt"
    edited.write_bytes(
        real_text("qtag_run3")
        .replace("\t2023-04-18 03:53\t9.7\tx", "\t2023-04-18 03:53\t9.6\tx")
        .encode()
    )
    code, out = _import(world, edited, "--shipment", "SHP-2")
    assert code == 2, out
    assert (
        "RCPJ00010_03_edited.txt:143: Data: the log's minimum is 9.6 °C; the device's Res: "
        "minimum is 9.7 °C at 2023-04-18 03:53; the device signature does not verify" in out
    )
    assert _catalog_counts(world.engine) == before

    # The genuine run 3 on the same logger: only its own 424 readings land there.
    code, out = _import(world, real_path("qtag_run3"), "--shipment", "SHP-2")
    assert code == 0, out
    wait_until(lambda: len(_stored(world, "LOG-2")) >= 424, 60, "424 readings stored")
    assert len(_stored(world, "LOG-2")) == 424


def test_an_imported_file_raises_retrospective_alarms_at_the_devices_times(
    world: World, mosquitto: MosquittoServer
) -> None:
    """The whole path: the file's readings over MQTT, the running detector applying the
    device's own rules (`--import-rules`), alarms in the catalog marked retrospective with
    the device's excursion start (Q-tag run 2: hot consecutive from 21:50 local)."""
    detect = DetectProcess(
        mosquitto.url,
        world.catalog_url,
        world.data_dir / "detect",
        env={"COLDCHAIN_DETECT_BACKFILL_QUIET_S": "0.5"},
    )
    detect.start()
    try:
        code, out = _import(world, real_path("qtag_run2"), "--shipment", "SHP-1", "--import-rules")
        assert code == 0, out

        def device_rule_alarms() -> list[AlertRow]:
            with catalog_session(world.engine) as session:
                rows = session.execute(select(AlertRow).where(AlertRow.rule_id.is_not(None)))
                return list(rows.scalars())

        wait_until(lambda: len(device_rule_alarms()) >= 4, 60, detect.log_text()[-2000:])
        alarms = device_rule_alarms()
        assert all(a.retrospective and a.severity == "alarm" for a in alarms)
        device_start = datetime(2022, 11, 8, 21, 50, tzinfo=ZURICH)
        hot = [a for a in alarms if a.peak_c is not None and a.peak_c > 8.0]
        assert hot, [(a.start_at, a.peak_c) for a in alarms]
        starts = sorted(a.start_at.replace(tzinfo=UTC) for a in hot)
        assert abs((starts[0] - device_start).total_seconds()) <= 600, starts
    finally:
        detect.stop()


def test_a_clock_kept_across_the_autumn_change_lands_at_its_true_times(
    world: World, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """Q-tag run 2 moved across Zurich's autumn change (2022-10-30 03:00 CEST → 02:00 CET),
    re-signed under a test issuer: once from a clock that kept CEST (its 10-min step
    unbroken), once from one that fell back with the zone (02:59, then 02:09). Both record
    the same run, so both land on the same 124 instants 10 min apart, the first at 18:49
    CEST; read in the zone, the first file's last 73 readings were an hour late."""
    issuer = trust_test_issuer(monkeypatch)
    to_autumn = -timedelta(days=9, hours=10)  # 2022-11-08 04:49 -> 2022-10-29 18:49
    files = {
        "kept": move_clock(real_text("qtag_run2"), shifted(to_autumn)),
        "followed": move_clock(
            real_text("qtag_run2"), falling_back(to_autumn, datetime(2022, 10, 30, 3, 0))
        ),
    }
    paths = {}
    for name, text in files.items():
        paths[name] = tmp_path / f"RCPJ00010_02_{name}.txt"
        paths[name].write_bytes(resign(text, issuer).encode())
    first = to_ms(datetime(2022, 10, 29, 16, 49, tzinfo=UTC))
    expected = [first + i * 600_000 for i in range(124)]

    code, kept_out = _import(world, paths["kept"], "--shipment", "SHP-1", "--import-rules")
    assert code == 0, kept_out
    code, followed_out = _import(world, paths["followed"], "--shipment", "SHP-2")
    assert code == 0, followed_out
    for device in ("RCPJ00010", "LOG-2"):

        def all_stored(device: str = device) -> bool:
            return len(_stored(world, device)) >= 124

        wait_until(all_stored, 60, f"{device}: 124 readings stored")
        assert _stored(world, device) == expected, device

    assert "device clock read in Etc/GMT-2" in kept_out
    assert "note: device clock read at a fixed UTC+02:00 (Etc/GMT-2): the log keeps its" in kept_out
    assert "device clock read in Europe/Zurich" in followed_out
    assert "so the clock followed the zone" in followed_out

    with catalog_session(world.engine) as session:
        (kept,) = reports_for(session, shipment="SHP-1")
        (followed,) = reports_for(session, shipment="SHP-2")
        rules = session.execute(select(AlertRuleRow).where(AlertRuleRow.shipment_id == "SHP-1"))
        windows = {
            (p["from"], p["until"]) for p in (json.loads(r.params_json) for r in rules.scalars())
        }
    assert (kept.timezone, followed.timezone) == ("Etc/GMT-2", "Europe/Zurich")
    assert kept.last_reading_at == datetime(2022, 10, 30, 13, 19, tzinfo=UTC)
    assert any("did not follow it" in n for n in kept.record.notes)
    assert any("followed the zone" in n for n in followed.record.notes)
    # The rules judge the run until TS Stop (15:28 on the clock), at the same offset.
    assert windows == {("2022-10-29T16:49:00.000Z", "2022-10-30T13:28:00.000Z")}
