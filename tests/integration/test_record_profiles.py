"""The batch record names the alarm limits it judged each placement by (#22), through the
real path (fleet file → catalog, readings → a real influxd, `export_batch`): the product's
range set up by its alarm profile and the unit's (warning limits, delays above and below,
the critical limit, latching), one entry per profile version in force over the placement,
in JSON, CSV and PDF."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.export.document import ExportMeta
from api.export.pdf_format import story
from coldchain.catalog import catalog_session
from coldchain.catalog.schema import AlarmProfileRow
from tests.support.export_world import (
    NOW,
    ExportWorld,
    at,
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

# VAX-1 alarms at once above 12 °C and latches; FRIDGE-01's own profile sets warning limits
# and a 10-minute delay above the range. At 03:00 the product's profile takes a version with
# the critical limit at 10 °C and no latching (added below, as a later import would).
FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
sites:
  - id: BSL
    timezone: UTC
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, sensors: [{{id: p1}}],
          alarm_profile: {{warning: {{low_c: 3.0, high_c: 7.0}}, high_delay_min: 10}}}}
products:
  - id: VAX-1
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
    alarm_profile: {{critical: {{high_c: 12.0}}, latching: true}}
batches: [{{id: LOT-P, product: VAX-1}}]
placements:
  - {{batch: LOT-P, unit: BSL/FRIDGE-01, from: "{iso(0)}", to: "{iso(6)}"}}
"""

FIRST: dict[str, Any] = {
    "from": {"utc": "2026-03-02T00:00:00.000Z", "local": "2026-03-02T00:00:00.000+00:00"},
    "to": {"utc": "2026-03-02T03:00:00.000Z", "local": "2026-03-02T03:00:00.000+00:00"},
    "range_c": [2.0, 8.0],
    "warning_low_c": 3.0,
    "warning_high_c": 7.0,
    "high_delay_min": 10.0,
    "low_delay_min": 30.0,
    "critical_low_c": None,
    "critical_high_c": 12.0,
    "latching": True,
}
SECOND = FIRST | {
    "from": FIRST["to"],
    "to": {"utc": "2026-03-02T06:00:00.000Z", "local": "2026-03-02T06:00:00.000+00:00"},
    "critical_high_c": 10.0,
    "latching": False,
}


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        with catalog_session(world.engine) as session:
            session.add(
                AlarmProfileRow(
                    product_id="VAX-1",
                    valid_from=at(3),
                    critical_high_c=10.0,
                    latching=False,
                    recorded_at=at(3),
                )
            )
        await write(world, series("FRIDGE-01", 0, 6, lambda hour: 5.0))
        yield world


async def test_json_names_each_profile_version_in_force_over_the_placement(
    world: ExportWorld,
) -> None:
    record = json.loads(await export(world, "LOT-P"))
    assert record["placements"][0]["alarm_limits"] == [FIRST, SECOND]


async def test_csv_lists_the_alarm_limits_of_each_placement(world: ExportWorld) -> None:
    text = (await export(world, "LOT-P", "csv")).decode()
    header = text.split("placement,place,site,")[0]  # before the readings' column names
    assert "\n# alarm_limits,2\n" in header
    assert (
        "\n# alarm_limit,placement,place,from_utc,from_local,to_utc,to_local,range_c,"
        "warning_low_c,warning_high_c,high_delay_min,low_delay_min,critical_low_c,"
        "critical_high_c,latching\n"
    ) in header
    assert (
        "\n# alarm_limit,1,BSL/FRIDGE-01,2026-03-02T00:00:00.000Z,2026-03-02T00:00:00.000+00:00,"
        "2026-03-02T03:00:00.000Z,2026-03-02T03:00:00.000+00:00,2.0 8.0,3.0,7.0,10.0,30.0,,12.0,"
        "yes\n"
    ) in header
    assert ",2.0 8.0,3.0,7.0,10.0,30.0,,10.0,no\n" in header


async def test_pdf_states_the_critical_limit_and_latching_of_each_version(
    world: ExportWorld,
) -> None:
    report = await final_report(world, "LOT-P")
    text = pdf_texts(story(report, ExportMeta("pdf", "qa-maria", NOW, "coldchain test")))
    section = text.split("Alarm limits in force")[1]
    rows = [
        "2026-03-02 00:00 +00:00",
        "2026-03-02 03:00 +00:00",
        "2–8",
        "below 3 °C, above 7 °C",
        "10 / 30 min",
        "above 12 °C",
        "yes: until acknowledged",
        "1",
        "BSL/FRIDGE-01",
        "2026-03-02 03:00 +00:00",
        "2026-03-02 06:00 +00:00",
        "2–8",
        "below 3 °C, above 7 °C",
        "10 / 30 min",
        "above 10 °C",
        "no",
    ]
    lines = section.splitlines()
    start = lines.index(rows[0])
    assert lines[start : start + len(rows)] == rows
