"""A batch's stability budget as an account (#22), on the real path: the fleet file (bands,
freezing, carried-in time) into the catalog, readings into a real influxd, manual time out
of refrigeration through `coldchain budget`, and the account in the record's JSON, CSV and
PDF and in `coldchain budget show`.

VAX-B is a 2–8 °C product allowed 2 h at 8–25 °C and 1 h at 0–2 °C; a reading at or below
0 °C is a freeze event, none allowed. LOT-BAND carries 0.25 h at 8–25 °C in from its
sponsor; LOT-FROST dips below 0 °C twice."""

from __future__ import annotations

import asyncio
import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from api.export.document import ExportMeta
from api.export.pdf_format import story
from cli.main import app
from coldchain.catalog import catalog_session
from coldchain.catalog.audit import read_audit
from tests.support.export_world import (
    NOW,
    ExportWorld,
    export,
    final_report,
    iso,
    open_export_world,
    pdf_texts,
    series,
    write,
)
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

CARRIED_SOURCE = "sponsor CoA 2026-02-27"
FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
users: [{{id: ops-kim, role: warehouse_operator, sites: [BSL]}}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
      - {{id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
products:
  - id: VAX-B
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30, freeze_c: 0.0,
              budget: [{{min_c: 8, max_c: 25, hours: 2}}, {{min_c: 0, max_c: 2, hours: 1}}]}}
batches:
  - {{id: LOT-BAND, product: VAX-B,
      carried_in: [{{min_c: 8, max_c: 25, hours: 0.25, source: {CARRIED_SOURCE}}}]}}
  - {{id: LOT-FROST, product: VAX-B}}
placements:
  - {{batch: LOT-BAND, unit: BSL/FRIDGE-01, from: "{iso(0)}", to: "{iso(12)}"}}
  - {{batch: LOT-FROST, unit: BSL/FRIDGE-02, from: "{iso(0)}", to: "{iso(12)}"}}
"""
TOR_REASON = "staged on dock 3 during the truck swap"


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        yield world


async def _cli(world: ExportWorld, *args: str) -> tuple[int, str]:
    """`coldchain budget ARGS` against the world's catalog (and influxd for `show`)."""
    where = ["--catalog-url", world.catalog_url, "--data-dir", str(world.data_dir)]
    if args[0] == "show":
        where += ["--influx-url", world.influx_url, "--influx-db", world.influx_db]
    result = await asyncio.to_thread(CliRunner().invoke, app, ["budget", *args, *where])
    return result.exit_code, result.output


async def _budget(world: ExportWorld, batch: str) -> dict[str, Any]:
    budget: dict[str, Any] = json.loads(await export(world, batch))["summary"]["budget"]
    return budget


def _band_fridge(hour: float) -> float:
    """An hour at 12 °C (8–25 band) from 02:00, 20 min at 1 °C (0–2 band) from 05:00."""
    if 2 <= hour < 3:
        return 12.0
    if 5 <= hour < 5 + 20 / 60:
        return 1.0
    return 5.0


async def _add_tor(world: ExportWorld, *extra: str, minutes: int = 30) -> tuple[int, str]:
    return await _cli(
        world,
        "tor",
        "add",
        "LOT-BAND",
        "--from",
        iso(7),
        "--to",
        iso(7 + minutes / 60),
        "--max-c",
        "15",
        "--reason",
        TOR_REASON,
        "--actor",
        "ops-kim",
        *extra,
    )


async def test_readings_a_manual_entry_and_carried_in_time_are_charged_to_their_bands(
    world: ExportWorld,
) -> None:
    await write(world, series("FRIDGE-01", 0, 12, _band_fridge))
    code, out = await _add_tor(world)
    assert code == 0, out
    budget = await _budget(world, "LOT-BAND")
    assert [(b["min_c"], b["max_c"], b["allowed_h"], b["charged_h"]) for b in budget["bands"]] == [
        (0.0, 2.0, 1.0, pytest.approx(20 / 60, abs=1e-3)),
        (8.0, 25.0, 2.0, pytest.approx(1.0 + 0.5 + 0.25, abs=1e-3)),
    ]
    charges = {(c["source"], c["band"]): c for c in budget["charges"]}
    assert charges[("readings", "8–25 °C")]["hours"] == pytest.approx(1.0)
    manual = charges[("manual", "8–25 °C")]
    assert (manual["hours"], manual["from"]["utc"]) == (0.5, "2026-03-02T07:00:00.000Z")
    assert "by ops-kim" in manual["detail"]
    assert TOR_REASON in manual["detail"]
    assert CARRIED_SOURCE in charges[("carried_in", "8–25 °C")]["detail"]
    assert (budget["exceeded"], budget["consumed_share"]) == (False, pytest.approx(0.875))
    assert budget["freeze_events"] == 0
    [entry] = budget["tor_entries"]
    assert (entry["recorded_by"], entry["reason"], entry["voided_by"]) == (
        "ops-kim",
        TOR_REASON,
        None,
    )
    csv = (await export(world, "LOT-BAND", "csv")).decode()
    assert "# budget_charges,4\n" in csv
    assert f",{TOR_REASON}," in csv
    assert f"# carried_in,1,8–25 °C,0.25,0,{CARRIED_SOURCE}," in csv
    pdf = pdf_texts(story(await final_report(world, "LOT-BAND"), ExportMeta("pdf", "qa", NOW, "t")))
    assert "1 h at 0–2 °C; 2 h at 8–25 °C cumulative; 0 freeze event(s) at or below 0 °C" in pdf
    assert TOR_REASON in pdf
    assert "ops-kim" in pdf
    assert "carried_in" in pdf


async def test_a_correction_voids_the_entry_it_replaces_and_both_are_audited(
    world: ExportWorld,
) -> None:
    await write(world, series("FRIDGE-01", 0, 12, _band_fridge))
    assert (await _add_tor(world))[0] == 0
    code, out = await _add_tor(world, "--voids", "1", minutes=60)
    assert (code, out.strip()) == (
        0,
        "recorded time out of refrigeration 2 of LOT-BAND, voiding entry 1",
    )
    code, out = await _add_tor(world, "--voids", "1")
    assert (code, "entry 1 is already voided") == (2, out.strip().split(": ")[-1])
    code, out = await _cli(world, "tor", "list", "LOT-BAND")
    assert code == 0
    assert [line.split("\t")[4] for line in out.splitlines()] == ["voided by 2", "in force"]
    budget = await _budget(world, "LOT-BAND")
    assert [c["hours"] for c in budget["charges"] if c["source"] == "manual"] == [1.0]
    assert budget["bands"][1]["charged_h"] == pytest.approx(2.25, abs=1e-3)
    assert budget["exceeded"] is True
    assert "2.25 h at 8–25 °C exceeds the stability budget of 2 h by 0.25 h" in budget["reasons"]
    with catalog_session(world.engine) as session:
        audited = read_audit(session, entity="tor_entry")
    assert [(e.actor, e.entity_id) for e in audited] == [("ops-kim", "1"), ("ops-kim", "2")]
    assert json.loads(audited[1].new_value or "{}")["voids"] == 1


async def test_freeze_events_are_counted_per_dip_not_per_reading(world: ExportWorld) -> None:
    dips = [(3, 3 + 5 / 60), (6, 6 + 5 / 60)]
    await write(
        world,
        series("FRIDGE-02", 0, 12, lambda h: -1.0 if any(a <= h < b for a, b in dips) else 5.0),
    )
    budget = await _budget(world, "LOT-FROST")
    assert (budget["freeze_events"], budget["freeze_events_allowed"]) == (2, 0)
    assert budget["exceeded"] is True
    assert "2 freeze event(s) at or below 0 °C, 0 allowed" in budget["reasons"]
    outside = [c for c in budget["charges"] if c["band"] is None]
    assert [c["hours"] for c in outside] == [pytest.approx(10 / 60, abs=1e-3)]  # in no band
    assert budget["consumed_share"] is None  # none allowed, some charged: infinite


async def test_budget_show_prints_the_account_and_refusals_exit_2(world: ExportWorld) -> None:
    await write(world, series("FRIDGE-01", 0, 12, _band_fridge))
    code, out = await _cli(world, "show", "LOT-BAND")
    assert code == 0, out
    assert out.splitlines()[0] == "LOT-BAND: within, 62.5 % of the budget consumed"
    assert "  band 8–25 °C: 1.25 h of 2 h" in out
    assert f"carried_in\t8–25 °C\t0.25 h\tcarried in ({CARRIED_SOURCE})" in out
    refusals = [
        (await _cli(world, "show", "NOPE-9"), "batch 'NOPE-9' not found"),
        (
            await _cli(
                world,
                "tor",
                "add",
                "LOT-BAND",
                "--from",
                iso(7),
                "--to",
                iso(8),
                "--max-c",
                "5",
                "--reason",
                "x",
                "--actor",
                "ops-kim",
            ),
            "maximum 5 °C lies within the storage range 2–8 °C",
        ),
        (
            await _cli(
                world,
                "tor",
                "add",
                "LOT-BAND",
                "--from",
                "2026-03-02T07:00",
                "--to",
                iso(8),
                "--max-c",
                "15",
                "--reason",
                "x",
                "--actor",
                "ops-kim",
            ),
            "expected a time with its offset",
        ),
        (
            await _cli(
                world,
                "carry-in",
                "LOT-BAND",
                "--hours",
                "1",
                "--band-min-c",
                "25",
                "--band-max-c",
                "40",
                "--source",
                "CoA",
                "--actor",
                "ops-kim",
            ),
            "the budget of VAX-B has no band 25–40 °C (its bands: 0–2 °C, 8–25 °C)",
        ),
    ]
    for (code, out), message in refusals:
        assert code == 2, out
        assert message in out
