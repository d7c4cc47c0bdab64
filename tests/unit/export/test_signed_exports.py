"""Whole exports without servers: the catalog in SQLite, InfluxDB answered by a fake
transport (httpx.MockTransport through the client's constructor). Every format verifies
as exported and fails when any one byte changes; the key is created 0600."""

from __future__ import annotations

import json
import re
import stat
from collections.abc import AsyncIterator, Iterator
from datetime import UTC, datetime, timedelta
from pathlib import Path

import httpx
import orjson
import pytest
from sqlalchemy import Engine

from api.export import (
    ExportFormatError,
    ExportSigner,
    KeyMissing,
    VerifyError,
    export_batch,
    verify_bytes,
    verify_file,
)
from api.export.influx_msgpack import MSGPACK
from api.export.record import SensorRef, speaks_msgpack, stream_sensor_readings
from coldchain.catalog import create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.influx import InfluxClient
from tests.unit.export import msgpack_wire

FLEET = """\
sponsors: [{id: ACME, name: Acme}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {id: FR-1, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 600, sensors: [{id: p1}]}
products:
  - {id: VAX, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30,
     budget: {max_c: 25.0, hours: 24}}}
batches: [{id: LOT-1, product: VAX}]
shipments:
  - {id: SHP-1, origin: BSL, destination: BSL, loggers: [{id: LOG-1, sensors: [{id: p1}], log_interval_s: 600}]}
placements:
  - {batch: LOT-1, unit: BSL/FR-1, from: "2026-10-24T22:00:00Z", to: "2026-10-25T04:00:00Z"}
  - {batch: LOT-1, shipment: SHP-1, from: "2026-10-25T04:00:00Z", to: "2026-10-25T06:00:00Z"}
"""
START = datetime(2026, 10, 24, 22, tzinfo=UTC)
H = 3_600_000


def _dataset() -> dict[tuple[str, str], list[list[float]]]:
    """FR-1 every 10 min across the DST change; the shipment's logger sent nothing."""
    fridge = []
    at = START
    while at < START + timedelta(hours=6):
        fridge.append([at.timestamp() * 1000, 5.0 + (at.minute % 20) / 10])
        at += timedelta(minutes=10)
    return {("FR-1", "p1"): fridge}


def _fake_influx(speaks: str = "json") -> httpx.MockTransport:
    """InfluxDB answering JSON whatever is asked ("json"), refusing MessagePack ("refuses",
    as InfluxDB 3 Core does) or answering in it ("msgpack", as InfluxDB 1.x does)."""
    data = _dataset()

    def rows(statement: str) -> list[list[float]]:
        device = re.search(r"\"device\" = '([^']*)'", statement)
        sensor = re.search(r"\"sensor\" = '([^']*)'", statement)
        bounds = re.search(r"time >= (\d+)ms AND time < (\d+)ms", statement)
        assert device
        assert sensor
        assert bounds
        low, high = int(bounds[1]), int(bounds[2])
        return [r for r in data.get((device[1], sensor[1]), []) if low <= r[0] < high]

    async def msgpack_body(statements: list[str]) -> AsyncIterator[bytes]:
        body = msgpack_wire.answer([[[int(t), v] for t, v in rows(s)] for s in statements])
        for piece in msgpack_wire.pieces(body):
            yield piece

    def answer(request: httpx.Request) -> httpx.Response:
        query = dict(httpx.QueryParams(request.content.decode()))["q"]
        probe = query.startswith("SHOW MEASUREMENTS")  # the export asks once what is spoken
        if request.headers.get("accept") == MSGPACK and speaks == "refuses":
            return httpx.Response(400, json={"error": "invalid mime type"})
        if request.headers.get("accept") == MSGPACK and speaks == "msgpack":
            statements = [] if probe else query.split(";")
            return httpx.Response(
                200, headers={"Content-Type": MSGPACK}, content=msgpack_body(statements)
            )
        if probe:
            return httpx.Response(200, content=b'{"results":[{"statement_id":0}]}\n')
        if '"reading_conflict"' in query:  # refused re-sends (api/export/conflicts.py): none
            results = [{"statement_id": n} for n in range(query.count(";") + 1)]
            return httpx.Response(200, content=orjson.dumps({"results": results}) + b"\n")
        assert speaks != "msgpack", (
            "readings asked for in JSON from a server that speaks MessagePack"
        )
        found = rows(query)
        series = (
            [{"name": "reading", "columns": ["time", "temp_c"], "values": found}] if found else []
        )
        body = orjson.dumps({"results": [{"statement_id": 0, "series": series}]}) + b"\n"
        return httpx.Response(200, content=body)

    return httpx.MockTransport(answer)


@pytest.fixture
def engine(tmp_path: Path) -> Iterator[Engine]:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET)
    import_fleet(engine, fleet, actor="test")
    yield engine
    engine.dispose()


async def _export(engine: Engine, signer: ExportSigner, fmt: str, speaks: str = "json") -> bytes:
    transport = _fake_influx(speaks)
    async with InfluxClient("http://influx.invalid", "db", transport=transport) as influx:
        stream = export_batch(
            "LOT-1",
            fmt,
            influx=influx,
            catalog_engine=engine,
            signer=signer,
            actor="qa",
            now=datetime(2026, 10, 26, tzinfo=UTC),
        )
        return b"".join([chunk async for chunk in stream])


def test_the_signing_key_is_created_private_once(tmp_path: Path) -> None:
    signer = ExportSigner.load_or_create(tmp_path)
    key = tmp_path / "keys" / "export-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert (tmp_path / "keys" / "export-signing.pub").exists()
    assert ExportSigner.load_or_create(tmp_path).key_id == signer.key_id


@pytest.mark.parametrize("fmt", ["csv", "json", "pdf"])
async def test_one_changed_byte_anywhere_fails_verification(
    engine: Engine, tmp_path: Path, fmt: str
) -> None:
    signer = ExportSigner.load_or_create(tmp_path)
    data = await _export(engine, signer, fmt)
    assert verify_bytes(data, signer.public_key).fmt == fmt
    for position in (0, 9, len(data) // 3, len(data) // 2, len(data) - 40, len(data) - 1):
        changed = bytearray(data)
        changed[position] ^= 0x20
        with pytest.raises(VerifyError):
            verify_bytes(bytes(changed), signer.public_key)
    path = tmp_path / f"record.{fmt}"
    path.write_bytes(data)
    assert (
        verify_file(path, signer.public_key).sha256 == verify_bytes(data, signer.public_key).sha256
    )


async def test_another_servers_key_is_not_trusted(engine: Engine, tmp_path: Path) -> None:
    data = await _export(engine, ExportSigner.load_or_create(tmp_path / "a"), "csv")
    other = ExportSigner.load_or_create(tmp_path / "b")
    with pytest.raises(VerifyError, match="not with the trusted key"):
        verify_bytes(data, other.public_key)
    with pytest.raises(KeyMissing):
        verify_bytes(data, None)


async def test_record_with_an_empty_placement_and_a_dst_change(
    engine: Engine, tmp_path: Path
) -> None:
    record = json.loads(await _export(engine, ExportSigner.load_or_create(tmp_path), "json"))
    fridge, shipment = record["placements"]
    locals_ = [r[1] for r in fridge["sensors"][0]["readings"]]
    assert "2026-10-25T02:50:00.000+02:00" in locals_  # 00:50 UTC, summer time
    assert "2026-10-25T02:00:00.000+01:00" in locals_  # 01:00 UTC, winter time
    assert fridge["from"]["local"] == "2026-10-25T00:00:00.000+02:00"
    assert shipment["sensors"][0]["readings"] == []
    summary = record["summary"]
    assert summary["placements"][1]["readings"] == 0
    assert summary["placements"][1]["mkt_c"] is None
    [gap] = summary["gaps"]
    assert (gap["where"], gap["missing_readings"]) == ("empty", 12)
    assert summary["placements"][0]["present_share"] == 1.0
    assert summary["verdict"] == "open findings"
    assert [(f["kind"], f["state"], f["where"]) for f in summary["findings"]] == [
        ("gap", "open", "SHP-1 (LOG-1/p1)")
    ]
    assert summary["chain"]["mkt_c"] == pytest.approx(summary["placements"][0]["mkt_c"])


@pytest.mark.parametrize("fmt", ["csv", "json"])  # a PDF carries its creation time
async def test_the_file_is_the_same_whichever_format_influxdb_answers_in(
    engine: Engine, tmp_path: Path, fmt: str
) -> None:
    signer = ExportSigner.load_or_create(tmp_path)
    as_json = await _export(engine, signer, fmt)
    assert await _export(engine, signer, fmt, "msgpack") == as_json
    assert await _export(engine, signer, fmt, "refuses") == as_json


@pytest.mark.parametrize("speaks", ["json", "msgpack", "refuses"])
async def test_readings_of_many_windows_come_whole_and_in_order(speaks: str) -> None:
    sensor = SensorRef("BSL", "unit", "FR-1", "p1", 600)
    start = round(START.timestamp() * 1000)
    async with InfluxClient("http://x.invalid", "db", transport=_fake_influx(speaks)) as influx:
        msgpack = await speaks_msgpack(influx)
        chunks = [
            chunk
            async for chunk in stream_sensor_readings(
                influx, sensor, start_ms=start, end_ms=start + 7 * H, window_ms=H, msgpack=msgpack
            )
        ]
    assert msgpack == (speaks == "msgpack")
    assert len(chunks) == 6  # an hour each
    fridge = _dataset()[("FR-1", "p1")]
    assert [t for c in chunks for t in c[0].tolist()] == [r[0] for r in fridge]
    assert [v for c in chunks for v in c[1].tolist()] == [r[1] for r in fridge]


async def test_an_unknown_format_is_refused(engine: Engine, tmp_path: Path) -> None:
    with pytest.raises(ExportFormatError, match="xml"):
        await _export(engine, ExportSigner.load_or_create(tmp_path), "xml")
