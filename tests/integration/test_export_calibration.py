"""Calibration in the batch record (#22), through the real path (fleet file → catalog,
readings → a real influxd, `export_batch`): a certificate's correction applied before the
excursion rule and the figures, and named; readings past the due date counted and marked
in JSON, CSV and PDF."""

from __future__ import annotations

import json
from collections.abc import AsyncIterator
from pathlib import Path
from typing import Any

import pytest

from api.export.document import ExportMeta
from api.export.pdf_format import story
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

# The test day is 2026-03-02 (UTC). FRIDGE-01's probe reads 0.3 °C low by its certificate,
# due 2026-03-02 (midnight in Zurich): every reading of the day is past calibration.
# FRIDGE-02's probe has no certificate, only a due date a year ahead.
FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60,
          sensors: [{{id: p1, calibration: [{{certificate: CAL-123, lab: Metrolab,
                     calibrated: 2025-03-02, due: 2026-03-02, offset_c: 0.3}}]}}]}}
      - {{id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60,
          sensors: [{{id: p1, calibration_due: 2027-03-02}}]}}
products:
  - {{id: VAX-1, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
batches: [{{id: LOT-CAL, product: VAX-1}}, {{id: LOT-DUE, product: VAX-1}}]
placements:
  - {{batch: LOT-CAL, unit: BSL/FRIDGE-01, from: "{iso(6)}", to: "{iso(12)}"}}
  - {{batch: LOT-DUE, unit: BSL/FRIDGE-02, from: "{iso(6)}", to: "{iso(12)}"}}
"""


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        yield world


def _warm(hour: float) -> float:
    """7.8 °C as the probe sends it from 08:00 to 09:00 (8.1 corrected), else 5.0."""
    return 7.8 if 8 <= hour < 9 else 5.0


async def test_the_correction_is_applied_named_and_readings_past_due_are_marked(
    world: ExportWorld,
) -> None:
    await write(world, series("FRIDGE-01", 6, 12, _warm) + series("FRIDGE-02", 6, 12, _warm))
    record = json.loads(await export(world, "LOT-CAL"))
    summary: dict[str, Any] = record["summary"]
    # the excursion is judged on the corrected 8.1 °C: an hour beyond 8 °C, an alarm
    [excursion] = summary["excursions"]
    assert excursion["alarm"] is True
    assert (excursion["start"]["utc"], excursion["end"]["utc"]) == (
        "2026-03-02T08:00:00.000Z",
        "2026-03-02T09:00:00.000Z",
    )
    figures = summary["placements"][0]["sensors"]["BSL/unit/FRIDGE-01/p1"]
    assert figures["max_c"] == 8.1
    assert figures["past_calibration_readings"] == 360
    assert summary["calibration"] == [
        {
            "placement": 1,
            "place": "BSL/FRIDGE-01",
            "sensor": "BSL/unit/FRIDGE-01/p1",
            "certificate": "CAL-123",
            "lab": "Metrolab",
            "calibrated": "2025-03-02",
            "due": "2026-03-02",
            "offset_c": 0.3,
            "correction": "corrected +0.3 °C per certificate CAL-123",
            "past_due_readings": 360,
        }
    ]
    [sensor] = record["placements"][0]["sensors"]
    assert sensor["calibration"][0]["certificate"] == "CAL-123"
    # the readings as corrected: 7.8 °C sent at 08:00 is 8.1
    assert [r[2] for r in sensor["readings"] if r[0] == "2026-03-02T08:00:00.000Z"] == [8.1]
    csv_text = (await export(world, "LOT-CAL", "csv")).decode()
    assert "# calibrations,1\n" in csv_text
    assert "CAL-123" in csv_text.split("# calibrations,1\n")[1].splitlines()[1]
    report = await final_report(world, "LOT-CAL")
    text = pdf_texts(story(report, ExportMeta("pdf", "qa-maria", NOW, "coldchain test")))
    assert (
        "certificate CAL-123 (Metrolab, calibrated 2025-03-02, due 2026-03-02): corrected" in text
    )
    assert "+0.3 °C per certificate CAL-123" in text
    assert "past calibration due 2026-03-02: 360 readings" in text


async def test_a_probe_within_its_due_date_is_neither_corrected_nor_marked(
    world: ExportWorld,
) -> None:
    await write(world, series("FRIDGE-02", 6, 12, _warm))
    summary = json.loads(await export(world, "LOT-DUE"))["summary"]
    assert [e for e in summary["excursions"] if e["alarm"]] == []
    figures = summary["placements"][0]["sensors"]["BSL/unit/FRIDGE-02/p1"]
    assert (figures["max_c"], figures["past_calibration_readings"]) == (7.8, 0)
    [row] = summary["calibration"]
    assert (row["certificate"], row["due"], row["correction"], row["past_due_readings"]) == (
        None,
        "2027-03-02",
        "no correction",
        0,
    )
