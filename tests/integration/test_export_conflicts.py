"""Issue #20 item 7: a gateway re-sends old readings with other values. On the real path
(a gateway on mosquitto, ingest as a process, a real influxd, the catalog from a fleet
file, the signed record from `export_batch`): the stored readings stay and are the ones
judged, and the batch record shows the refused ones with both values, as a finding QA
must look at, to the batch's own sponsor only.

FRIDGE-01 held ACME's LOT-A from 0 h to 6 h and BETA's LOT-B from 6 h to 12 h; BETA's
time has an excursion (12 °C from 8 h to 9 h). The gateway then re-sends 2:00 (stored
5.0 °C) as 4.0 °C, and 8:30, inside the excursion, as a harmless 5.0 °C.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import AsyncIterator, Iterator
from pathlib import Path
from typing import Any

import orjson
import pytest

from api.export import ExportSigner
from api.export.conflicts import SHOWN_PER_SENSOR
from api.export.document import ExportMeta
from api.export.pdf_format import story
from api.export.signing import verify_bytes
from coldchain.catalog import Viewer
from coldchain.influx import InfluxClient
from coldchain.times import to_ms
from ingest.conflicts import conflict_lines
from ingest.duplicates import BatchReadings
from tests.support.export_world import (
    NOW,
    ExportWorld,
    at,
    export,
    final_report,
    iso,
    open_export_world,
    pdf_texts,
)
from tests.support.pipeline import IngestProcess, Publisher, wait_until
from tests.support.servers import InfluxServer, MosquittoServer, running_mosquitto

pytestmark = pytest.mark.integration

ACME = Viewer("alice", "sponsor_viewer", "ACME")
BETA = Viewer("bob", "sponsor_viewer", "BETA")
TOPIC = "coldchain/v1/BSL/unit/FRIDGE-01/readings"

FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}, {{id: BETA, name: Beta Bio}}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, sensors: [{{id: p1}}]}}
products:
  - {{id: VAX-A, sponsor: ACME, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
  - {{id: VAX-B, sponsor: BETA, storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}}}
batches:
  - {{id: LOT-A, product: VAX-A}}
  - {{id: LOT-B, product: VAX-B}}
placements:
  - {{batch: LOT-A, unit: BSL/FRIDGE-01, from: "{iso(0)}", to: "{iso(6)}"}}
  - {{batch: LOT-B, unit: BSL/FRIDGE-01, from: "{iso(6)}", to: "{iso(12)}"}}
"""


def _temperature(minute: int) -> float:
    return 12.0 if 8 * 60 <= minute < 9 * 60 else 5.0


def _reading(minute: int, temp_c: float) -> dict[str, Any]:
    return {"sensor": "p1", "ts": to_ms(at(minute / 60)), "temp_c": temp_c, "seq": minute}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        yield world


@pytest.fixture
def ingest(
    broker: MosquittoServer, influxd: InfluxServer, world: ExportWorld, tmp_path: Path
) -> Iterator[IngestProcess]:
    process = IngestProcess(broker.url, influxd.url, world.influx_db, tmp_path / "ingest")
    process.start()
    yield process
    process.kill9()


@pytest.fixture
def gateway(broker: MosquittoServer) -> Iterator[Publisher]:
    publisher = Publisher(broker.port, client_id="bsl-gateway")
    yield publisher
    publisher.close()


def _publish(gateway: Publisher, readings: list[dict[str, Any]]) -> None:
    for first in range(0, len(readings), 60):
        payload = {"device": "FRIDGE-01", "readings": readings[first : first + 60]}
        gateway.publish(TOPIC, orjson.dumps(payload))
    gateway.wait_acked()


def _wait_delivered(ingest: IngestProcess, readings: int, conflicts: int) -> None:
    def delivered() -> bool:
        metrics = ingest.metrics()
        return (
            metrics.get("readings_received") == readings
            and metrics.get("spool_depth_bytes") == 0
            and metrics.get("conflicts") == conflicts
        )

    wait_until(delivered, 60, f"{readings} readings delivered, {conflicts} conflicts")


async def _body(world: ExportWorld, batch: str, fmt: str, viewer: Viewer | None) -> bytes:
    body = await export(world, batch, fmt, viewer)
    verify_bytes(body, ExportSigner.load_or_create(world.data_dir).public_key)
    return body


async def _summary(world: ExportWorld, batch: str, viewer: Viewer | None) -> dict[str, Any]:
    summary: dict[str, Any] = json.loads(await _body(world, batch, "json", viewer))["summary"]
    return summary


def _csv_table(body: bytes, name: str) -> list[dict[str, str]]:
    """The rows of the CSV trailer's `# name` table, by column."""
    rows = [row for row in csv.reader(io.StringIO(body.decode())) if row[:1] == [f"# {name}"]]
    header, *data = [row[1:] for row in rows]
    return [dict(zip(header, row, strict=True)) for row in data]


async def test_a_resent_reading_with_another_value_is_shown_in_the_batch_record_and_never_judged(
    world: ExportWorld, ingest: IngestProcess, gateway: Publisher
) -> None:
    _publish(gateway, [_reading(m, _temperature(m)) for m in range(12 * 60)])
    _wait_delivered(ingest, 12 * 60, 0)
    before_a = await _summary(world, "LOT-A", ACME)
    assert before_a["verdict"] == "no open findings"
    assert before_a["conflicting_readings"] == []

    _publish(gateway, [_reading(2 * 60, 4.0), _reading(8 * 60 + 30, 5.0)])
    _wait_delivered(ingest, 12 * 60 + 2, 2)

    # ACME's record: its own conflict, both values, an open finding; the verdict is no
    # longer clean; the readings judged are the stored ones (max stays 5.0).
    for viewer in (ACME, None):
        summary = await _summary(world, "LOT-A", viewer)
        assert summary["verdict"] == "open findings"
        [row] = summary["conflicting_readings"]
        assert (row["placement"], row["sensor"]) == (1, "BSL/unit/FRIDGE-01/p1")
        assert row["time"]["utc"] == "2026-03-02T02:00:00.000Z"
        assert (row["stored_temp_c"], row["refused_temp_c"]) == (5.0, 4.0)
        assert row["received"]["utc"] > "2026-03-02T12:00:00.000Z"
        [finding] = [f for f in summary["findings"] if f["kind"] == "conflicting_readings"]
        assert (finding["state"], finding["conflicts"]) == ("open", 1)
        assert summary["placements"][0]["min_c"] == 5.0
        assert "12.0" not in json.dumps(summary["conflicting_readings"])

    # BETA's record: the excursion stays as stored (peak 12 °C), the refused 5.0 beside it.
    beta = await _summary(world, "LOT-B", BETA)
    [row] = beta["conflicting_readings"]
    assert row["time"]["utc"] == "2026-03-02T08:30:00.000Z"
    assert (row["stored_temp_c"], row["refused_temp_c"]) == (12.0, 5.0)
    assert [f["peak_c"] for f in beta["excursions"]] == [12.0]
    assert beta["verdict"] == "open findings"

    csv_body = await _body(world, "LOT-A", "csv", ACME)
    [csv_row] = _csv_table(csv_body, "conflicting_reading")
    assert (csv_row["time_utc"], csv_row["stored_temp_c"], csv_row["refused_temp_c"]) == (
        "2026-03-02T02:00:00.000Z",
        "5.0",
        "4.0",
    )
    assert b"08:30:00" not in csv_body.split(b"# summary")[1]  # BETA's conflict is not ACME's

    assert (await _body(world, "LOT-A", "pdf", ACME)).startswith(b"%PDF")
    report = await final_report(world, "LOT-A", ACME)
    text = pdf_texts(story(report, ExportMeta("pdf", "export-bot", NOW, "test")))
    assert "Conflicting re-sent readings (1)" in text
    assert "| 5.00 | 4.00 |" in text.replace("\n", " | ")


async def test_a_flood_of_conflicts_is_counted_whole_and_listed_in_part(
    world: ExportWorld,
) -> None:
    """A compromised gateway re-sends 250 of LOT-A's readings with other values: the record
    counts all 250 over their whole span and lists the first 200 (SHOWN_PER_SENSOR)."""
    key = "reading,device=FRIDGE-01,sensor=p1,site=BSL,source=unit"
    stored = [f"{key} temp_c=5,received_ms=1i {to_ms(at(m / 60))}" for m in range(6 * 60)]
    refused = [
        line.replace("temp_c=5,received_ms=1i", "temp_c=3,received_ms=2i") for line in stored[:250]
    ]
    checked = BatchReadings("\n".join(stored + refused)).sort_out([])
    async with InfluxClient(world.influx_url, world.influx_db) as influx:
        await influx.write_lines(stored)
        await influx.write_lines(conflict_lines(checked.conflicts), precision="ns")
    summary = await _summary(world, "LOT-A", ACME)
    [finding] = [f for f in summary["findings"] if f["kind"] == "conflicting_readings"]
    assert finding["conflicts"] == 250
    assert (finding["start"]["utc"], finding["end"]["utc"]) == (
        "2026-03-02T00:00:00.000Z",
        "2026-03-02T04:09:00.000Z",
    )
    assert len(summary["conflicting_readings"]) == SHOWN_PER_SENSOR == 200
    report = await final_report(world, "LOT-A", ACME)
    text = pdf_texts(story(report, ExportMeta("pdf", "export-bot", NOW, "test")))
    assert "Conflicting re-sent readings (250)" in text
    assert "The first 200 are shown." in text
