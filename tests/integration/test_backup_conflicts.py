"""`coldchain backup` and `restore` carry the refused re-sends (`reading_conflict`, written
by ingest/conflicts.py): after a restore a batch record still shows that someone tried to
change a stored reading."""

from __future__ import annotations

import asyncio
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import typer
from typer.testing import CliRunner

from cli import backup_cmd
from coldchain.catalog import create_catalog_engine, upgrade_catalog
from coldchain.influx import InfluxClient
from ingest.conflicts import conflict_lines
from ingest.duplicates import BatchReadings
from tests.support.servers import InfluxServer

pytestmark = pytest.mark.integration

app = typer.Typer()
app.command("backup")(backup_cmd.backup)
app.command("restore")(backup_cmd.restore)

KEY = "reading,device=U3,sensor=p1,site=BSL,source=unit"
STORED = f"{KEY} temp_c=9.5,seq=4i,received_ms=1763800001000i 1763800000000"
RESENT = f"{KEY} temp_c=5.1,seq=4i,received_ms=1763900000000i 1763800000000"


async def _fill(url: str, db: str, conflicts: list[str]) -> None:
    async with InfluxClient(url, db) as influx:
        await influx.create_database()
        await influx.write_lines([STORED])
        await influx.write_lines(conflicts, precision="ns")  # as ingest writes them


def _conflicts(url: str, db: str) -> list[Any]:
    response = httpx.post(
        f"{url}/query",
        data={"q": 'SELECT * FROM "reading_conflict" GROUP BY *', "db": db, "epoch": "ns"},
        timeout=30,
    )
    response.raise_for_status()
    series: list[Any] = orjson.loads(response.content)["results"][0].get("series", [])
    return series


def test_backup_and_restore_keep_the_refused_resends(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    data_dir.mkdir()
    engine = create_catalog_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    engine.dispose()
    refused = conflict_lines(BatchReadings(f"{STORED}\n{RESENT}").sort_out([]).conflicts)
    asyncio.run(_fill(influxd.url, influx_db, refused))
    before = _conflicts(influxd.url, influx_db)
    assert len(before) == 1
    common = ["--influx-url", influxd.url, "--data-dir", str(data_dir)]
    backup_dir = tmp_path / "backup"
    made = CliRunner().invoke(app, ["backup", str(backup_dir), "--influx-db", influx_db, *common])
    assert made.exit_code == 0, made.output
    restored_db = f"{influx_db}_restored"
    restore = ["restore", str(backup_dir), "--influx-db", restored_db, *common, "--force"]
    done = CliRunner().invoke(app, restore)
    assert done.exit_code == 0, done.output
    try:
        assert _conflicts(influxd.url, restored_db) == before
    finally:
        httpx.post(f"{influxd.url}/query", data={"q": f'DROP DATABASE "{restored_db}"'}, timeout=30)
