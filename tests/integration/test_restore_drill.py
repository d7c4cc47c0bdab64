"""The restore drill: fill an installation, `coldchain backup DIR`, destroy it,
`coldchain restore DIR` into a new influxd and a new catalog (SQLite, and PostgreSQL), and
prove that nothing changed: points per measurement and retention policy, field types, a
digest of every raw reading, rows per catalog table, the audit chain, the signing key (an
export signed before the backup still verifies), the spool, detector state and dead
letters. Then the ways a restore or backup must refuse: a damaged file, a target that
holds data (without --force), an InfluxDB that does not answer."""

from __future__ import annotations

import asyncio
import hashlib
import shutil
import stat
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any

import httpx
import orjson
import pytest
import typer
from sqlalchemy import func, select
from typer.testing import CliRunner, Result

from alerting.state_store import StateStore
from cli import backup_cmd, catalog_cmd, export_cmd
from coldchain.catalog import (
    catalog_session,
    create_catalog_engine,
    create_token,
    set_password,
)
from coldchain.catalog.alerts import NewAlert, acknowledge_alert, open_alert
from coldchain.catalog.schema import Base
from coldchain.downsampling import downsample_range, ensure_downsampling
from coldchain.influx import InfluxClient
from coldchain.lineprotocol import reading_line, status_line
from coldchain.models import DeviceStatus, Reading, SourceKind
from coldchain.times import to_ms
from ingest.dead_letters import DeadLetter, DeadLetterStore
from ingest.spool import Spool
from tests.support.postgres import PostgresServer
from tests.support.secrets_registry import register
from tests.support.servers import InfluxServer, free_port, running_influxd

pytestmark = pytest.mark.integration

DEMO_FLEET = Path(__file__).resolve().parents[2] / "deploy" / "demo" / "fleet.yaml"
DAY_MS = 86_400_000
STEP_MS = 10 * 60_000
# (site, source, device, sensor) of the demo fleet: 5 sensors x 6 days x every 10 min.
SENSORS = [
    ("BSL", SourceKind.UNIT, "FRIDGE-01", "p1"),
    ("BSL", SourceKind.UNIT, "FRIDGE-01", "p2"),
    ("BSL", SourceKind.UNIT, "FRZ-01", "p1"),
    ("ZRH", SourceKind.UNIT, "COLDROOM-01", "p1"),
    ("ZRH", SourceKind.LOGGER, "LOG-200", "p1"),
]
DAYS = 6
SPOOL_WORKER = "coldchain-ingest-1"
DETECTOR_STATE = "detector/coldchain-detect-1.sqlite3"

app = typer.Typer()
app.command("backup")(backup_cmd.backup)
app.command("restore")(backup_cmd.restore)
app.command("export")(export_cmd.export)
app.command("verify")(export_cmd.verify)
app.add_typer(catalog_cmd.catalog_app, name="catalog")
app.add_typer(catalog_cmd.audit_app, name="audit")
runner = CliRunner()


def _run(*args: str) -> Result:
    return runner.invoke(app, list(args))


# -- what an installation holds, measured independently of backup -------------


@dataclass(frozen=True)
class Snapshot:
    """Everything the drill compares between the source and the restored installation."""

    field_counts: dict[str, dict[str, int]]  # "rp.measurement" -> field -> count
    field_types: dict[str, list[tuple[str, str]]]
    raw_digest: str
    rows: dict[str, int]
    audit_head: str


def _influxql(http: httpx.Client, db: str, query: str) -> list[dict[str, Any]]:
    response = http.post("/query", data={"q": query, "db": db, "epoch": "ns", "chunked": "true"})
    response.raise_for_status()
    series: list[dict[str, Any]] = []
    for line in response.text.splitlines():
        for result in orjson.loads(line).get("results", []):
            assert "error" not in result, result
            series += result.get("series", [])
    return series


def _influx_snapshot(
    url: str, db: str
) -> tuple[dict[str, dict[str, int]], dict[str, list[tuple[str, str]]], str]:
    with httpx.Client(base_url=url, timeout=60) as http:  # one TLS context, not one per query
        policies = [
            row[0] for s in _influxql(http, db, "SHOW RETENTION POLICIES") for row in s["values"]
        ]
        measurements = [
            row[0] for s in _influxql(http, db, "SHOW MEASUREMENTS") for row in s["values"]
        ]
        counts: dict[str, dict[str, int]] = {}
        types: dict[str, list[tuple[str, str]]] = {}
        for rp in policies:
            for m in measurements:
                found = _influxql(http, db, f'SELECT count(*) FROM "{rp}"."{m}"')
                if not found:
                    continue
                columns, values = found[0]["columns"], found[0]["values"][0]
                counts[f"{rp}.{m}"] = dict(zip(columns[1:], values[1:], strict=True))
                keys = _influxql(http, db, f'SHOW FIELD KEYS FROM "{rp}"."{m}"')
                types[f"{rp}.{m}"] = sorted((k, t) for k, t in keys[0]["values"])
        digest = hashlib.sha256()
        for m in measurements:
            rows = []
            for series in _influxql(http, db, f'SELECT * FROM "autogen"."{m}" GROUP BY *'):
                tags = sorted(series["tags"].items())
                rows += [repr((tags, series["columns"], row)) for row in series["values"]]
            for row in sorted(rows):
                digest.update(row.encode())
        return counts, types, digest.hexdigest()


def _catalog_rows(catalog_url: str) -> dict[str, int]:
    engine = create_catalog_engine(catalog_url)
    try:
        with catalog_session(engine) as session:
            return {
                name: session.execute(select(func.count()).select_from(table)).scalar_one()
                for name, table in Base.metadata.tables.items()
            }
    finally:
        engine.dispose()


def _snapshot(url: str, db: str, catalog_url: str) -> Snapshot:
    counts, types, digest = _influx_snapshot(url, db)
    rows = _catalog_rows(catalog_url)
    verified = _run("audit", "verify", "--catalog-url", catalog_url)
    assert verified.exit_code == 0, verified.output
    head = verified.stdout.split("head ")[1].strip()
    return Snapshot(counts, types, digest, rows, head)


# -- filling the source -----------------------------------------------------------------


async def _fill_influx(url: str, db: str, start_ms: int) -> int:
    lines: list[str] = []
    for index, (site, source, device, sensor) in enumerate(SENSORS):
        for step in range(DAYS * DAY_MS // STEP_MS):
            ts = start_ms + step * STEP_MS + index * 1000
            temp = (-20.0 if device == "FRZ-01" else 5.0) + ((step * 37 + index) % 101) / 37
            rh = 40.0 + step % 7 / 3 if sensor == "p2" else None
            reading = Reading(site, source, device, sensor, ts, temp, step, rh)
            lines.append(reading_line(reading, received_ms=ts + 1500))
    for site, source, device in sorted({sensor[:3] for sensor in SENSORS}):
        for step in range(DAYS * 4):
            status = DeviceStatus(
                site, source, device, start_ms + step * DAY_MS // 4, 87.5 - step, -71.0
            )
            lines.append(status_line(status))
    async with InfluxClient(url, db) as influx:
        await ensure_downsampling(influx)
        await influx.write_lines(lines)
        # A measurement of its own: every field type, escapes, a newline in a string, ns time.
        await influx.write_body(
            b'annotation,site=BSL,who=quinn\\ qa text="door \\"left\\" open,\n5\\\\6 min",'
            b"ok=true,minutes=6i,peak=9.25 " + str(start_ms * 1_000_000 + 123_456).encode(),
            precision="ns",
        )
        await downsample_range(influx, start_ms, start_ms + DAYS * DAY_MS)
    return len(lines)


def _fill_catalog(data_dir: Path) -> None:
    imported = _run("catalog", "import", str(DEMO_FLEET), "--data-dir", str(data_dir))
    assert imported.exit_code == 0, imported.output
    engine = create_catalog_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    seen = datetime.now(UTC) - timedelta(days=4)
    with catalog_session(engine) as session:
        for n, device in enumerate(("FRIDGE-02", "FRIDGE-01")):
            alert = NewAlert(
                alert_id=f"exc-BSL-{device}-p1",
                kind="excursion",
                severity="alarm",
                site="BSL",
                source="unit",
                device=device,
                sensor="p1",
                start=seen - timedelta(hours=1, microseconds=n * 7),
                peak_c=9.4,
            )
            open_alert(session, alert, at=seen)
        acknowledge_alert(
            session,
            "exc-BSL-FRIDGE-02-p1",
            actor="omar",
            at=seen + timedelta(minutes=4),
            comment="door shut",
        )
        password = "drill-password-" + hashlib.sha256(str(data_dir).encode()).hexdigest()[:12]
        register(password)
        set_password(session, user_id="quinn", password=password, actor="admin")
        register(create_token(session, user_id="quinn", actor="admin", label="drill").token)
    engine.dispose()


def _fill_data_dir(data_dir: Path) -> None:
    spool = Spool(data_dir / "spool" / SPOOL_WORKER, segment_bytes=64 * 1024, max_bytes=1 << 20)
    spool.append([["reading,device=D,sensor=p1,site=BSL,source=unit temp_c=5 1"], ["x v=2i 2"]])
    spool.sync()
    spool.close()
    store = StateStore(data_dir / DETECTOR_STATE)
    store.save({"BSL/unit/FRIDGE-02/p1": {"open": True, "peak_c": 9.4}})
    store.close()  # the WAL stays: the backup must take a consistent snapshot, not bytes
    DeadLetterStore(data_dir / "dead-letters").append(
        [
            DeadLetter(
                1_795_000_000_000,
                "decode",
                "coldchain/v1/BSL/unit/X/readings",
                "temp_c: NaN",
                b"\xff{",
            )
        ]
    )


# -- the drill --------------------------------------------------------------------------


@dataclass(frozen=True)
class Drill:
    backup_dir: Path
    export_file: Path
    expected: Snapshot
    points_written: int


@pytest.fixture(scope="module")
def drill(tmp_path_factory: pytest.TempPathFactory) -> Drill:
    """A filled installation, backed up, then destroyed (influxd stopped and deleted,
    catalog and data dir deleted): only the backup directory is left."""
    root = tmp_path_factory.mktemp("source")
    data_dir, db, backup_dir = root / "var", "coldchain", root / "backup"
    start_ms = to_ms(datetime.now(UTC) - timedelta(days=DAYS + 3)) // DAY_MS * DAY_MS
    catalog_url = f"sqlite:///{data_dir / 'catalog.sqlite3'}"
    with running_influxd(root / "influxd") as source:
        written = asyncio.run(_fill_influx(source.url, db, start_ms))
        _fill_catalog(data_dir)
        _fill_data_dir(data_dir)
        export_file = root / "LOT-0001.csv"
        exported = _run(
            "export", "LOT-0001", "--format", "csv", "-o", str(export_file),
            "--influx-url", source.url, "--influx-db", db, "--data-dir", str(data_dir),
        )  # fmt: skip
        assert exported.exit_code == 0, exported.output
        expected = _snapshot(source.url, db, catalog_url)
        made = _run(
            "backup", str(backup_dir), "--influx-url", source.url, "--influx-db", db,
            "--data-dir", str(data_dir), "--slice-hours", "24",
        )  # fmt: skip
        assert made.exit_code == 0, made.output
        assert "backup complete" in made.stdout
    shutil.rmtree(root / "influxd")
    shutil.rmtree(data_dir)
    return Drill(backup_dir, export_file, expected, written)


@pytest.fixture(scope="module")
def target_influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    """The new, empty influxd the backup is restored into."""
    with running_influxd(tmp_path_factory.mktemp("influxd-new")) as server:
        yield server


def _restore(drill: Drill, url: str, db: str, data_dir: Path, *extra: str) -> Result:
    return _run(
        "restore", str(drill.backup_dir), "--influx-url", url, "--influx-db", db,
        "--data-dir", str(data_dir), *extra,
    )  # fmt: skip


def _assert_restored(drill: Drill, url: str, db: str, catalog_url: str, data_dir: Path) -> None:
    restored = _snapshot(url, db, catalog_url)
    assert restored.field_counts == drill.expected.field_counts
    assert restored.field_types == drill.expected.field_types
    assert restored.raw_digest == drill.expected.raw_digest
    assert restored.rows == drill.expected.rows
    assert restored.audit_head == drill.expected.audit_head
    assert (
        restored.field_counts["autogen.reading"]["count_temp_c"]
        == len(SENSORS) * DAYS * DAY_MS // STEP_MS
    )
    assert set(restored.field_counts) >= {f"{rp}.reading" for rp in ("ds_1m", "ds_15m", "ds_1h")}
    with httpx.Client(base_url=url, timeout=60) as http:
        [note] = _influxql(http, db, "SELECT text, minutes FROM annotation")
    assert note["values"][0][1:] == ['door "left" open,\n5\\6 min', 6]
    assert note["values"][0][0] % 1_000_000 == 123_456  # nanoseconds kept
    # The signing key came back, owner-only, and still verifies what it signed before.
    key = data_dir / "keys" / "export-signing.key"
    assert stat.S_IMODE(key.stat().st_mode) == 0o600
    assert stat.S_IMODE(key.parent.stat().st_mode) == 0o700
    verified = _run("verify", str(drill.export_file), "--data-dir", str(data_dir))
    assert verified.exit_code == 0, verified.output
    # The spool replays what was not yet delivered; detector state and dead letters are back.
    spool = Spool(data_dir / "spool" / SPOOL_WORKER, segment_bytes=64 * 1024, max_bytes=1 << 20)
    batch = spool.read_batch(100)
    spool.close()
    assert batch is not None
    assert batch.line_count == 2
    store = StateStore(data_dir / DETECTOR_STATE)
    assert store.load() == [{"open": True, "peak_c": 9.4}]
    store.close()
    [letter] = DeadLetterStore(data_dir / "dead-letters").read()
    assert letter.payload == b"\xff{"
    # The restored catalog takes new audited changes (ids continue after the restored ones).
    engine = create_catalog_engine(catalog_url)
    with catalog_session(engine) as session:
        acknowledge_alert(session, "exc-BSL-FRIDGE-01-p1", actor="zoe", at=datetime.now(UTC))
    engine.dispose()
    assert _run("audit", "verify", "--catalog-url", catalog_url).exit_code == 0


def test_restore_drill_into_a_new_influxd_and_sqlite_catalog(
    drill: Drill, target_influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    result = _restore(drill, target_influxd.url, influx_db, data_dir)
    assert result.exit_code == 0, result.output
    assert "restore complete" in result.stdout
    manifest = orjson.loads((drill.backup_dir / "manifest.json").read_bytes())
    raw = [s for s in manifest["influx"]["series"] if s["retention_policy"] == "autogen"]
    assert sum(s["points"] for s in raw) == drill.points_written + 1  # + the annotation
    _assert_restored(
        drill, target_influxd.url, influx_db, f"sqlite:///{data_dir / 'catalog.sqlite3'}", data_dir
    )


def test_restore_drill_into_postgresql(
    drill: Drill,
    target_influxd: InfluxServer,
    influx_db: str,
    tmp_path: Path,
    postgres_server: PostgresServer,
) -> None:
    catalog_url = postgres_server.create_database()
    data_dir = tmp_path / "var"
    result = _restore(drill, target_influxd.url, influx_db, data_dir, "--catalog-url", catalog_url)
    assert result.exit_code == 0, result.output
    _assert_restored(drill, target_influxd.url, influx_db, catalog_url, data_dir)


def _databases(url: str) -> list[str]:
    with httpx.Client(base_url=url, timeout=60) as http:
        return [
            row[0] for s in _influxql(http, "_internal", "SHOW DATABASES") for row in s["values"]
        ]


def test_a_damaged_file_is_refused_before_anything_is_written(
    drill: Drill, target_influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    copy = tmp_path / "backup"
    shutil.copytree(drill.backup_dir, copy)
    damaged = copy / "influx" / "0001.lp.gz"
    data = bytearray(damaged.read_bytes())
    data[len(data) // 2] ^= 0x01
    damaged.write_bytes(bytes(data))
    data_dir = tmp_path / "var"
    result = _run(
        "restore", str(copy), "--influx-url", target_influxd.url, "--influx-db", influx_db,
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "influx/0001.lp.gz: damaged or altered" in result.stderr
    assert "nothing written" in result.stderr
    assert not data_dir.exists()
    assert influx_db not in _databases(target_influxd.url)
    # A changed count in the manifest is damage too: its own digest is in SHA256SUMS.
    shutil.copy(drill.backup_dir / "influx" / "0001.lp.gz", damaged)
    manifest = copy / "manifest.json"
    manifest.write_bytes(manifest.read_bytes().replace(b'"points": ', b'"points": 1', 1))
    again = _run(
        "restore", str(copy), "--influx-url", target_influxd.url, "--data-dir", str(data_dir)
    )
    assert again.exit_code == 1
    assert "manifest.json: damaged or altered" in again.stderr
    assert not data_dir.exists()


def test_a_target_that_holds_data_is_refused_unless_forced(
    drill: Drill, target_influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    data_dir = tmp_path / "var"
    catalog_url = f"sqlite:///{data_dir / 'catalog.sqlite3'}"
    assert _run("catalog", "import", str(DEMO_FLEET), "--data-dir", str(data_dir)).exit_code == 0
    rows_before = _catalog_rows(catalog_url)
    refused = _restore(drill, target_influxd.url, influx_db, data_dir)
    assert refused.exit_code == 2
    assert "restore refused, nothing written: catalog table" in refused.stderr
    assert "--force replaces it" in refused.stderr
    assert influx_db not in _databases(target_influxd.url)
    assert not (data_dir / "keys").exists()
    assert _catalog_rows(catalog_url) == rows_before

    forced = _restore(drill, target_influxd.url, influx_db, data_dir, "--force")
    assert forced.exit_code == 0, forced.output
    _assert_restored(drill, target_influxd.url, influx_db, catalog_url, data_dir)

    # Now InfluxDB and the data dir hold data too: each is named in the refusal.
    again = _restore(drill, target_influxd.url, influx_db, data_dir)
    assert again.exit_code == 2
    assert f"InfluxDB database {influx_db} already holds measurements" in again.stderr
    assert "keys/ already holds" in again.stderr


def test_backup_with_influxdb_unreachable_fails_and_leaves_no_backup(tmp_path: Path) -> None:
    data_dir, backup_dir = tmp_path / "var", tmp_path / "backup"
    assert _run("catalog", "import", str(DEMO_FLEET), "--data-dir", str(data_dir)).exit_code == 0
    result = _run(
        "backup", str(backup_dir), "--influx-url", f"http://127.0.0.1:{free_port()}",
        "--data-dir", str(data_dir),
    )  # fmt: skip
    assert result.exit_code == 1
    assert "backup failed" in result.stderr
    assert "does not answer" in result.stderr
    assert not backup_dir.exists()
