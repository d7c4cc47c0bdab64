"""Deviations and the signature manifest in the batch record, against a real influxd: an
excursion on LOT-A is covered by a deviation that QA assesses (signs `authored`), the
sponsor agrees to (signs `approved`) and a second QA person releases (signs `approved`).
Every format carries the deviation, the decision and the manifest; `coldchain verify`
lists the three signatures; a signature copied into LOT-B's record, or one edited in the
catalog, fails it."""

from __future__ import annotations

import base64
import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest
import typer
from sqlalchemy import update
from typer.testing import CliRunner

from api.export.document import ExportMeta, software_version
from api.export.esignatures import MARKERS
from api.export.pdf_format import NOT_RELEASED, story
from cli import export_cmd
from coldchain.catalog import Viewer, catalog_session
from coldchain.catalog.credentials import set_password
from coldchain.catalog.deviations import (
    CoveredFinding,
    assess_deviation,
    decide_deviation,
    open_deviation,
)
from coldchain.catalog.releases import FindingState, decide_release
from coldchain.catalog.schema import SignatureRow
from coldchain.catalog.signatures import check_signature, sign, signatures_of_batch
from coldchain.times import from_ms
from tests.support.export_world import (
    NOW,
    ExportWorld,
    at,
    export,
    final_report,
    open_export_world,
    pdf_texts,
    series,
    write,
)
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

FLEET = """\
sponsors: [{id: ACME, name: Acme Pharma}]
users:
  - {id: qa-maria, role: qa, name: Maria Keller}
  - {id: qa-quinn, role: qa, name: Quinn Park}
  - {id: alice, role: sponsor_viewer, sponsor: ACME, name: Alice Moreau}
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
      - {id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{id: p1}]}
products:
  - {id: VAX-1, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
batches: [{id: LOT-A, product: VAX-1}, {id: LOT-B, product: VAX-1}]
placements:
  - {batch: LOT-A, unit: BSL/FRIDGE-01, from: "2026-03-02T00:00:00Z", to: "2026-03-02T06:00:00Z"}
  - {batch: LOT-B, unit: BSL/FRIDGE-02, from: "2026-03-02T06:00:00Z", to: "2026-03-02T11:00:00Z"}
"""
PASSWORD = "correct horse battery staple"
FORMATS = ("json", "csv", "pdf")


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    """LOT-A at 12 °C from 02:00 to 03:00 (an hour beyond 8 °C, no detector alarm), its
    deviation assessed, agreed and the batch released; LOT-B in range throughout."""
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        await write(world, series("FRIDGE-01", 0, 6, lambda h: 12.0 if 2 <= h < 3 else 5.0))
        await write(world, series("FRIDGE-02", 6, 11, lambda h: 5.0))
        with catalog_session(world.engine) as session:
            for user in ("qa-maria", "qa-quinn", "alice"):
                set_password(session, user_id=user, password=PASSWORD, actor="test")
        await _deviation_agreed_and_released(world)
        yield world


async def _deviation_agreed_and_released(world: ExportWorld) -> None:
    """QA opens one deviation over every open finding of LOT-A and assesses it, the
    sponsor agrees (which closes it), and another QA person releases the batch."""
    report = await final_report(world, "LOT-A")
    covered = [
        CoveredFinding(
            f.id,
            f.kind,
            f.where,
            None if f.start_ms is None else from_ms(f.start_ms),
            None if f.end_ms is None else from_ms(f.end_ms),
        )
        for f in report.findings
        if f.state == "open"
    ]
    assert covered, "the excursion is an open finding"
    with catalog_session(world.engine) as session:
        deviation = open_deviation(
            session,
            batch_id="LOT-A",
            findings=covered,
            title="FRIDGE-01 at 12 °C for an hour: door left ajar",
            actor="qa-maria",
            now=at(7),
        )
        assess_deviation(
            session,
            deviation.id,
            user_id="qa-maria",
            password=PASSWORD,
            reason="12 °C for 60 min is within the product's stability data",
            stability_reference="STAB-2026-07 §4",
            impact="none",
            timezone="Europe/Zurich",
            now=at(8),
        )
        decide_deviation(
            session,
            deviation.id,
            user_id="alice",
            password=PASSWORD,
            agree=True,
            comment="agreed: no impact",
            timezone="Europe/Paris",
            now=at(9),
        )
    cleared = await final_report(world, "LOT-A")
    assert cleared.verdict == "no open findings"
    with catalog_session(world.engine) as session:
        decide_release(
            session,
            batch_id="LOT-A",
            decision="released",
            comment="temperature record reviewed",
            user_id="qa-quinn",
            password=PASSWORD,
            verdict=cleared.verdict,
            findings=[FindingState(f.id, f.kind, f.state, f.deviation) for f in cleared.findings],
            timezone="Europe/Zurich",
            now=at(10),
        )


@pytest.fixture
def cli() -> typer.Typer:
    app = typer.Typer()
    app.command("export")(export_cmd.export)
    app.command("verify")(export_cmd.verify)
    return app


async def _files(world: ExportWorld, batch: str, tmp_path: Path) -> list[Path]:
    paths = []
    for fmt in FORMATS:
        path = tmp_path / f"{batch}.{fmt}"
        path.write_bytes(await export(world, batch, fmt))
        paths.append(path)
    return paths


def _verify(cli: typer.Typer, world: ExportWorld, path: Path) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["verify", str(path), "--data-dir", str(world.data_dir)])
    return result.exit_code, result.output


def _manifest_of(data: bytes, fmt: str) -> dict[str, object]:
    """The machine-readable manifest line of a CSV or PDF body, decoded."""
    [line] = [x for x in data.split(b"\n") if x.startswith(MARKERS[fmt])]
    decoded: dict[str, object] = json.loads(base64.b64decode(line[len(MARKERS[fmt]) :]))
    return decoded


async def test_every_format_carries_the_deviation_the_release_and_the_signature_manifest(
    world: ExportWorld,
) -> None:
    sponsor = Viewer("alice", "sponsor_viewer", "ACME")
    for viewer in (None, sponsor):  # shared with the sponsor, in full
        record = json.loads(await export(world, "LOT-A", "json", viewer))
        [deviation] = record["deviations"]
        assert (deviation["number"], deviation["state"]) == ("DEV-1", "closed")
        assert deviation["impact"] == "none"
        assert deviation["stability_reference"] == "STAB-2026-07 §4"
        assert (deviation["sponsor_decision"], deviation["sponsor_comment"]) == (
            "agreed",
            "agreed: no impact",
        )
        findings = record["summary"]["findings"]
        assert {f["id"] for f in findings} == {f["id"] for f in deviation["findings"]}
        assert {(f["state"], f["deviation"]) for f in findings} == {("cleared", "DEV-1")}
        assert (record["release"]["decision"], record["release"]["decided_by"]) == (
            "released",
            "qa-quinn",
        )
        signatures = record["signatures"]
        assert [(s["meaning"], s["user_id"], s["subject"]) for s in signatures] == [
            ("authored", "qa-maria", "deviation_assessment"),
            ("approved", "alice", "deviation_agreement"),
            ("approved", "qa-quinn", "release"),
        ]
        assert [check_signature(s) for s in signatures] == [[], [], []]
        assert record["release"]["signature"] == signatures[2]["id"]
    manifest = {k: record[k] for k in ("deviations", "release", "signatures")}
    for fmt in ("csv", "pdf"):
        data = await export(world, "LOT-A", fmt, sponsor)
        assert _manifest_of(data, fmt) == {"batch": "LOT-A", **manifest}
    csv = (await export(world, "LOT-A", "csv")).decode()
    assert "# deviation,1,DEV-1,LOT-A,ACME,closed," in csv
    assert "# releases,1\n" in csv
    assert "# signatures,3\n" in csv
    pdf = await export(world, "LOT-A", "pdf")
    assert pdf.index(b"%%EOF") < pdf.index(MARKERS["pdf"])


async def test_the_pdf_shows_the_deviation_the_release_decision_and_a_signature_manifest(
    world: ExportWorld,
) -> None:
    report = await final_report(world, "LOT-A")
    meta = ExportMeta("pdf", "qa-maria", NOW, software_version())
    text = pdf_texts(story(report, meta))
    assert "Deviations (1)" in text
    assert "STAB-2026-07 §4" in text
    assert "agreed: agreed: no impact" in text
    assert "Release decision" in text
    assert "approved by Quinn Park (qa-quinn, qa)" in text
    assert "Signature manifest" in text
    assert "Maria Keller (qa-maria, qa)" in text
    assert "Alice Moreau (alice, sponsor_viewer)" in text
    for finding in report.findings:
        assert finding.id in text
    assert "QA confirmation" not in text
    assert "☐" not in text
    unreleased = pdf_texts(story(await final_report(world, "LOT-B"), meta))
    assert NOT_RELEASED in unreleased
    assert "No electronic signatures." in unreleased


async def test_verify_lists_the_three_signatures_with_their_meanings(
    world: ExportWorld, cli: typer.Typer, tmp_path: Path
) -> None:
    for path in await _files(world, "LOT-A", tmp_path):
        code, output = _verify(cli, world, path)
        assert code == 0, output
        lines = output.splitlines()
        assert lines[0].startswith(f"intact: {path}")
        assert lines[1:] == [
            "signature 1: authored by Maria Keller (qa-maria, qa) at 2026-03-02T08:00:00Z "
            "(2026-03-02T09:00:00+01:00 Europe/Zurich) — deviation_assessment DEV-1: ok",
            "signature 2: approved by Alice Moreau (alice, sponsor_viewer) at "
            "2026-03-02T09:00:00Z (2026-03-02T10:00:00+01:00 Europe/Paris) — "
            "deviation_agreement DEV-1: ok",
            "signature 3: approved by Quinn Park (qa-quinn, qa) at 2026-03-02T10:00:00Z "
            "(2026-03-02T11:00:00+01:00 Europe/Zurich) — release LOT-A: ok",
        ]
    for path in await _files(world, "LOT-B", tmp_path):
        code, output = _verify(cli, world, path)
        assert code == 0, output
        assert output.splitlines()[1:] == [
            "signatures: none (nothing about this batch was signed when exported)"
        ]


async def test_a_signature_copied_into_another_record_fails_verification(
    world: ExportWorld, cli: typer.Typer, tmp_path: Path
) -> None:
    """LOT-A's assessment, its content word for word, signed again (a valid hash and seal of
    its own) and filed with LOT-B: LOT-B's record must not pass it."""
    with catalog_session(world.engine) as session:
        original = signatures_of_batch(session, "LOT-A")[0]
        copied = sign(
            session,
            user_id="qa-maria",
            password=PASSWORD,
            meaning=original.meaning,
            subject=original.subject,
            subject_id=original.subject_id,
            batch_id="LOT-B",
            content=json.loads(original.content),
            roles=("qa",),
            now=at(11),
        )
    assert copied.content_sha256 == original.content_sha256
    assert check_signature(copied) == []
    for path in await _files(world, "LOT-B", tmp_path):
        code, output = _verify(cli, world, path)
        assert code == 1, output
        assert f"NOT INTACT: {path}: the seal holds, but signature 1: " in output
        assert "signed for batch LOT-A, not this record's batch LOT-B" in output
        assert "DEV-1 is not a deviation of this record" in output


async def test_a_signature_edited_in_the_catalog_fails_its_seal(
    world: ExportWorld, cli: typer.Typer, tmp_path: Path
) -> None:
    with catalog_session(world.engine) as session:
        session.execute(
            update(SignatureRow)
            .where(SignatureRow.user_id == "alice")
            .values(printed_name="Someone Else")
        )
    for path in await _files(world, "LOT-A", tmp_path):
        code, output = _verify(cli, world, path)
        assert code == 1, output
        assert (
            f"NOT INTACT: {path}: the seal holds, but signature 2: the signature's fields "
            "were changed after signing (seal mismatch)"
        ) in output
        assert "signature 1: authored by Maria Keller" in output
        assert output.count(": ok\n") == 2


async def test_a_signature_edited_in_the_file_breaks_the_exports_seal(
    world: ExportWorld, cli: typer.Typer, tmp_path: Path
) -> None:
    [path] = [p for p in await _files(world, "LOT-A", tmp_path) if p.suffix == ".json"]
    path.write_bytes(path.read_bytes().replace(b'"Alice Moreau"', b'"Alice Morequ"'))
    code, output = _verify(cli, world, path)
    assert code == 1
    assert f"NOT INTACT: {path}: digest mismatch" in output
