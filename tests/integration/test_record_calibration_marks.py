"""Each reading past calibration marked in the batch record's rows (#22, must-show of issue
#22: "a probe past its due date: … its readings marked in the export"), through the real
path (fleet file → catalog, readings → a real influxd, `export_batch`): a certificate due
in the middle of a placement leaves the readings before its due date unmarked and marks
every valid one at or after it, in JSON and CSV, as many as the calibration table counts."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path

import pytest

from tests.support.export_world import (
    ExportWorld,
    export,
    iso,
    open_export_world,
    series,
    write,
)
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

MARK = "past calibration due 2026-03-02"
# FRIDGE-01's probe is due 2026-03-02, midnight in Zurich (2026-03-01T23:00Z); LOT-MID sits
# there from 18:00Z the day before to 06:00Z: five hours within calibration, seven past it.
FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60,
          sensors: [{{id: p1, calibration: [{{certificate: CAL-123, lab: Metrolab,
                     calibrated: 2025-03-02, due: 2026-03-02}}]}}]}}
products:
  - {{id: VAX-1, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
batches: [{{id: LOT-MID, product: VAX-1}}]
placements:
  - {{batch: LOT-MID, unit: BSL/FRIDGE-01, from: "{iso(-6)}", to: "{iso(6)}"}}
"""


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        await write(world, series("FRIDGE-01", -6, 6, lambda hour: 85.0 if hour == 2 else 5.0))
        yield world


async def test_json_rows_before_the_due_date_are_unmarked_and_valid_ones_after_it_marked(
    world: ExportWorld,
) -> None:
    record = json.loads(await export(world, "LOT-MID"))
    [sensor] = record["placements"][0]["sensors"]
    rows = {row[0]: row for row in sensor["readings"]}
    assert rows["2026-03-01T22:59:00.000Z"] == [
        "2026-03-01T22:59:00.000Z",
        "2026-03-01T23:59:00.000+01:00",
        5.0,
    ]
    assert rows["2026-03-01T23:00:00.000Z"] == [
        "2026-03-01T23:00:00.000Z",
        "2026-03-02T00:00:00.000+01:00",
        5.0,
        None,
        MARK,
    ]
    # the error code after the due date keeps its reason, and is not counted as past due
    assert rows["2026-03-02T02:00:00.000Z"][2:] == [85.0, "error code 85 °C"]
    before = [r for t, r in rows.items() if t < "2026-03-01T23:00"]
    after = [r for t, r in rows.items() if t >= "2026-03-01T23:00" and r[2] != 85.0]
    assert (len(before), len(after)) == (300, 419)
    assert all(len(r) == 3 for r in before)
    assert all(r[3:] == [None, MARK] for r in after)
    [row] = record["summary"]["calibration"]
    assert (row["due"], row["past_due_readings"]) == ("2026-03-02", len(after))


async def test_csv_rows_carry_the_mark_in_the_calibration_column(world: ExportWorld) -> None:
    text = (await export(world, "LOT-MID", "csv")).decode()
    assert ",time_utc,time_local,temp_c,invalid,calibration\n" in text
    assert ",2026-03-01T22:59:00.000Z,2026-03-01T23:59:00.000+01:00,5.0,,\n" in text
    assert f",2026-03-01T23:00:00.000Z,2026-03-02T00:00:00.000+01:00,5.0,,{MARK}\n" in text
    assert ",2026-03-02T02:00:00.000Z,2026-03-02T03:00:00.000+01:00,85.0,error code 85 °C,\n" in (
        text
    )
    rows = [line for line in text.splitlines() if line.startswith("1,BSL/FRIDGE-01,")]
    marked = [line for line in rows if line.endswith(f",,{MARK}")]
    assert (len(rows), len(marked)) == (720, 419)
    assert min(line.split(",")[6] for line in marked) == "2026-03-01T23:00:00.000Z"
