"""QA batch export against a real influxd and a catalog imported from a fleet file: a
shipment with a backfilled excursion shows it with its true times, a gap shows, the
daylight-saving change shows in local time, and CLI export + verify work end to end."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest
import typer
from sqlalchemy import Engine
from typer.testing import CliRunner

from api.export import (
    ExportForbidden,
    load_public_key,
    verify_bytes,
)
from cli import export_cmd
from coldchain.catalog import (
    CatalogNotFound,
    Viewer,
    catalog_session,
    verify_audit_chain,
)
from coldchain.catalog.alerts import NewAlert, close_alert, open_alert, resolve_alert
from coldchain.catalog.audit import read_audit
from coldchain.times import to_ms
from tests.support.export_world import ExportWorld, export, open_export_world, write
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

FLEET = """\
sponsors: [{id: ACME, name: Acme Pharma}, {id: GLOBEX, name: Globex}]
users: [{id: qa-maria, role: qa}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60,
         sensors: [{id: p1}, {id: p2}]}
products:
  - id: VAX-1
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, budget: {max_c: 25.0, hours: 24}}
batches: [{id: LOT-1, product: VAX-1}]
shipments:
  - {id: SHP-1, origin: BSL, destination: BSL,
     loggers: [{id: LOG-1, sensors: [{id: p1}], log_interval_s: 300}]}
placements:
  - {batch: LOT-1, unit: BSL/FRIDGE-01, from: "2026-10-24T12:00:00Z", to: "2026-10-26T00:00:00Z"}
  - {batch: LOT-1, shipment: SHP-1, from: "2026-10-26T00:00:00Z", to: "2026-10-26T12:00:00Z"}
"""

UNIT_START = datetime(2026, 10, 24, 12, tzinfo=UTC)
SHIP_START = datetime(2026, 10, 26, tzinfo=UTC)
SHIP_END = datetime(2026, 10, 26, 12, tzinfo=UTC)
GAP = (datetime(2026, 10, 24, 20, tzinfo=UTC), datetime(2026, 10, 24, 21, tzinfo=UTC))
EXCURSION = (datetime(2026, 10, 26, 4, tzinfo=UTC), datetime(2026, 10, 26, 5, tzinfo=UTC))
NOW = datetime(2026, 10, 27, tzinfo=UTC)


def _line(device: str, source: str, sensor: str, at: datetime, temp: float) -> str:
    return f"reading,device={device},sensor={sensor},site=BSL,source={source} temp_c={temp} {to_ms(at)}"


def _readings() -> tuple[list[str], list[str]]:
    """(what arrived live, what a logger uploaded later): the fridge every minute with a gap
    on p2; the shipment's logger every 5 minutes, its excursion only in the backfill."""
    live: list[str] = []
    backfill: list[str] = []
    at = UNIT_START
    while at < SHIP_START:
        live.append(_line("FRIDGE-01", "unit", "p1", at, 5.0))
        if not GAP[0] <= at < GAP[1]:
            live.append(_line("FRIDGE-01", "unit", "p2", at, 5.5))
        at += timedelta(minutes=1)
    at = SHIP_START
    while at < SHIP_END:
        inside = EXCURSION[0] <= at < EXCURSION[1]
        line = _line("LOG-1", "logger", "p1", at, 12.0 if inside else 6.0)
        (backfill if inside else live).append(line)
        at += timedelta(minutes=5)
    return live, backfill


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    live, backfill = _readings()
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        await write(world, live)
        await write(world, backfill)  # the logger's upload after it reconnected
        _detector_saw_the_backfill(world.engine)
        yield world


def _detector_saw_the_backfill(engine: Engine) -> None:
    """The alert a detector raises for the backfilled excursion: true start and end,
    retrospective, acknowledged and closed by QA with a root cause."""
    alert = NewAlert(
        alert_id="exc-LOG-1-p1",
        kind="excursion",
        severity="alarm",
        site="BSL",
        source="logger",
        device="LOG-1",
        sensor="p1",
        start=EXCURSION[0],
        end=EXCURSION[1],
        peak_c=12.0,
        retrospective=True,
    )
    seen = EXCURSION[1] + timedelta(hours=3)
    with catalog_session(engine) as session:
        open_alert(session, alert, at=seen)
        resolve_alert(session, alert.alert_id, actor="detector", at=seen)
        close_alert(
            session,
            alert.alert_id,
            actor="qa-maria",
            at=seen + timedelta(hours=1),
            root_cause="truck parked in the sun at the hub",
        )


async def _export(world: ExportWorld, fmt: str, viewer: Viewer | None = None) -> bytes:
    return await export(world, "LOT-1", fmt, viewer, now=NOW)


async def test_json_export_shows_the_backfilled_excursion_with_its_true_times(
    world: ExportWorld,
) -> None:
    data = await _export(world, "json")
    record = json.loads(data)
    summary = record["summary"]
    [excursion] = summary["excursions"]
    assert excursion["start"]["utc"] == "2026-10-26T04:00:00.000Z"
    assert excursion["end"]["utc"] == "2026-10-26T05:00:00.000Z"
    assert excursion["peak_c"] == 12.0
    assert excursion["agreement"] == "agree"
    assert excursion["detector_alert"]["retrospective"] is True
    assert excursion["detector_alert"]["root_cause"] == "truck parked in the sun at the hub"
    assert summary["budget"]["charged_h"] == pytest.approx(1.0)
    assert summary["budget"]["exceeded"] is False
    [gap] = summary["gaps"]
    assert gap["sensor"] == "BSL/unit/FRIDGE-01/p2"
    assert (gap["start"]["utc"], gap["end"]["utc"]) == (
        "2026-10-24T19:59:00.000Z",
        "2026-10-24T21:00:00.000Z",
    )
    assert gap["missing_readings"] == 60
    assert summary["verdict"] == "open findings"  # the gap is not explained
    assert [(f["kind"], f["state"]) for f in summary["findings"]] == [
        ("gap", "open"),
        ("excursion", "open"),  # QA closed its alert, but only a closed deviation clears
    ]
    fridge = record["placements"][0]
    assert [s["sensor"] for s in fridge["sensors"]] == ["p1", "p2"]
    assert len(fridge["sensors"][0]["readings"]) == 36 * 60
    assert record["integrity"]["algorithm"] == "Ed25519"
    key = load_public_key(world.data_dir / "keys" / "export-signing.pub")
    assert verify_bytes(data, key).sha256 == record["integrity"]["sha256"]


async def test_csv_shows_local_time_on_both_sides_of_the_dst_change(world: ExportWorld) -> None:
    text = (await _export(world, "csv")).decode()
    # 2026-10-25 03:00 CEST becomes 02:00 CET: 02:30 local happens twice, offsets tell them apart.
    assert ",2026-10-25T00:30:00.000Z,2026-10-25T02:30:00.000+02:00,5.0,,\n" in text
    assert ",2026-10-25T01:30:00.000Z,2026-10-25T02:30:00.000+01:00,5.0,,\n" in text
    assert "\n1,BSL/FRIDGE-01,BSL,unit,FRIDGE-01,p1,2026-10-24T12:00:00.000Z," in text
    assert "2026-10-26T04:00:00.000Z" in text.split("# summary")[1]
    assert text.splitlines()[-1].startswith("#coldchain-signature,v1,sha256=")


async def test_every_export_is_in_the_audit_trail_with_its_digest(world: ExportWorld) -> None:
    data = await _export(world, "pdf")
    assert data.startswith(b"%PDF")
    key = load_public_key(world.data_dir / "keys" / "export-signing.pub")
    digest = verify_bytes(data, key).sha256
    with catalog_session(world.engine) as session:
        assert verify_audit_chain(session).ok
        entry = read_audit(session, entity="batch")[-1]
    assert (entry.action, entry.actor, entry.entity_id) == ("export", "qa-maria", "LOT-1")
    assert entry.new_value is not None
    assert json.loads(entry.new_value)["sha256"] == digest


async def test_only_qa_and_the_batchs_own_sponsor_may_export(world: ExportWorld) -> None:
    assert (await _export(world, "csv", Viewer("alice", "sponsor_viewer", "ACME")))[:1] == b"#"
    with pytest.raises(CatalogNotFound):
        await _export(world, "csv", Viewer("gus", "sponsor_viewer", "GLOBEX"))
    with pytest.raises(ExportForbidden):
        await _export(world, "csv", Viewer("omar", "warehouse_operator", None, frozenset({"BSL"})))


@pytest.fixture
def cli() -> typer.Typer:
    """The two commands on an app of their own (cli/main.py is shared with other work)."""
    app = typer.Typer()
    app.command("export")(export_cmd.export)
    app.command("verify")(export_cmd.verify)
    return app


def test_cli_export_then_verify_and_one_changed_byte_fails(
    world: ExportWorld, cli: typer.Typer, tmp_path: Path
) -> None:
    runner = CliRunner()
    common = ["--catalog-url", world.catalog_url, "--data-dir", str(world.data_dir)]
    for fmt in ("csv", "json", "pdf"):
        out = tmp_path / f"lot-1.{fmt}"
        result = runner.invoke(
            cli,
            [
                "export",
                "LOT-1",
                "--format",
                fmt,
                "-o",
                str(out),
                "--influx-url",
                world.influx_url,
                "--influx-db",
                world.influx_db,
                "--actor",
                "qa-maria",
                *common,
            ],
        )
        assert result.exit_code == 0, result.output
        assert "verdict: open findings (automated screen" in result.output
        ok = runner.invoke(cli, ["verify", str(out), "--data-dir", str(world.data_dir)])
        assert ok.exit_code == 0, ok.output
        assert "intact" in ok.output
        data = bytearray(out.read_bytes())
        data[len(data) // 2] ^= 0x01
        out.write_bytes(bytes(data))
        bad = runner.invoke(cli, ["verify", str(out), "--data-dir", str(world.data_dir)])
        assert bad.exit_code == 1
        assert "NOT INTACT" in bad.output
    unknown = runner.invoke(
        cli,
        [
            "export",
            "NOPE",
            "-o",
            str(tmp_path / "x.csv"),
            "--influx-url",
            world.influx_url,
            *common,
        ],
    )
    assert unknown.exit_code == 1
    assert not (tmp_path / "x.csv").exists()
