"""InfluxDB export and import details against a fake `/query` (httpx MockTransport): typed
fields, time slices, durations, expired points, and a backup that fails half-way leaving
nothing behind. The real round trip is the restore drill (tests/integration)."""

from __future__ import annotations

import gzip
from collections.abc import Iterator
from pathlib import Path
from urllib.parse import parse_qs

import httpx
import orjson
import pytest
from sqlalchemy import Engine

from backup import MANIFEST_NAME, TargetNotEmpty, create_backup
from backup.influx_dump import dump_influx
from backup.influx_load import _batches, _influxql_duration, go_duration_ns
from coldchain.catalog import create_catalog_engine, upgrade_catalog
from coldchain.errors import StoreUnavailable
from coldchain.influx import InfluxClient

HOUR_MS = 3_600_000
DAY_MS = 24 * HOUR_MS
START_MS = 1_795_000_000_000 - 1_795_000_000_000 % DAY_MS + 5 * HOUR_MS
COLUMNS = ["time", "note", "ok", "received_ms", "seq", "temp_c"]
FIELDS: list[list[object]] = [
    ["note", "string"],
    ["ok", "boolean"],
    ["received_ms", "integer"],
    ["seq", "integer"],
    ["temp_c", "float"],
]


def _points() -> list[list[object]]:
    """Every 12 h over 3 days, times in ns; the float 5.0 arrives as JSON `5`."""
    rows: list[list[object]] = []
    for step in range(6):
        t = (START_MS + step * 12 * HOUR_MS) * 1_000_000 + 7
        rows.append([t, None, None, 1_795_000_000_000 + step, step, 5 if step % 2 else 5.25])
    rows.append([rows[-1][0] + 1, 'say "hi", 5\\6', True, None, None, -0.1])  # type: ignore[operator]
    return rows


class FakeInflux:
    """Answers the statements the export sends; `fail_on_slice` breaks the Nth slice."""

    def __init__(self, fail_on_slice: int | None = None) -> None:
        self.slices: list[tuple[int, int]] = []
        self.fail_on_slice = fail_on_slice
        self.points = _points()

    def __call__(self, request: httpx.Request) -> httpx.Response:
        if request.url.path == "/ping":
            return httpx.Response(204)
        q = parse_qs(request.content.decode())["q"][0]
        if q == "SHOW RETENTION POLICIES":
            columns = ["name", "duration", "shardGroupDuration", "replicaN", "default"]
            return self._series("", columns, [["autogen", "0s", "168h0m0s", 1, True]])
        if q == "SHOW CONTINUOUS QUERIES":
            return httpx.Response(200, json={"results": [{"statement_id": 0}]})
        if q == "SHOW MEASUREMENTS":
            return self._series("measurements", ["name"], [["reading"]])
        if q.startswith("SHOW FIELD KEYS"):
            return self._series("reading", ["fieldKey", "fieldType"], FIELDS)
        if q.endswith("LIMIT 1"):
            edge = self.points[0] if "ASC" in q else self.points[-1]
            return self._series("reading", COLUMNS, [[int(edge[0]) // 1_000_000, *edge[1:]]])  # type: ignore[call-overload]
        lo, hi = (int(part.split("ms")[0]) for part in q.split("time >= ")[1].split(" AND time < "))
        self.slices.append((lo, hi))
        if self.fail_on_slice is not None and len(self.slices) == self.fail_on_slice:
            raise httpx.ConnectError("connection refused", request=request)
        rows = [row for row in self.points if lo * 1_000_000 <= int(row[0]) < hi * 1_000_000]  # type: ignore[call-overload]
        tags = {"device": "D", "sensor": "", "site": "B", "source": "unit"}
        body = (
            {
                "results": [
                    {
                        "statement_id": 0,
                        "series": [
                            {"name": "reading", "tags": tags, "columns": COLUMNS, "values": rows}
                        ],
                    }
                ]
            }
            if rows
            else {"results": [{"statement_id": 0}]}
        )
        return httpx.Response(200, content=orjson.dumps(body) + b"\n")

    @staticmethod
    def _series(name: str, columns: list[str], values: list[list[object]]) -> httpx.Response:
        series = {"name": name, "columns": columns, "values": values}
        return httpx.Response(200, json={"results": [{"statement_id": 0, "series": [series]}]})


def _client(fake: FakeInflux, url: str = "http://influx.test:8086") -> InfluxClient:
    return InfluxClient(url, "coldchain", transport=httpx.MockTransport(fake))


async def test_fields_keep_their_types_and_each_day_is_one_query(tmp_path: Path) -> None:
    fake = FakeInflux()
    async with _client(fake) as influx:
        section, [entry] = await dump_influx(influx, tmp_path, slice_ms=DAY_MS)
    [series] = section.series
    assert (series.retention_policy, series.measurement, series.points) == ("autogen", "reading", 7)
    assert series.first_ns == fake.points[0][0]
    assert series.last_ns == fake.points[-1][0]
    assert len(fake.slices) == 3  # 05:00 on day 0 to 17:00 on day 2: one query per day
    assert all(hi - lo == DAY_MS and lo % DAY_MS == 0 for lo, hi in fake.slices)
    lines = gzip.decompress((tmp_path / entry.path).read_bytes()).decode().splitlines()
    t0 = fake.points[0][0]
    assert (
        lines[0]
        == f"reading,device=D,site=B,source=unit received_ms=1795000000000i,seq=0i,temp_c=5.25 {t0}"
    )
    assert lines[1].startswith(
        "reading,device=D,site=B,source=unit received_ms=1795000000001i,seq=1i,temp_c=5 "
    )
    assert lines[-1].endswith(
        f'note="say \\"hi\\", 5\\\\6",ok=true,temp_c=-0.1 {fake.points[-1][0]}'
    )


@pytest.fixture
def catalog(tmp_path: Path) -> Iterator[Engine]:
    engine = create_catalog_engine(f"sqlite:///{tmp_path / 'catalog.sqlite3'}")
    upgrade_catalog(engine)
    yield engine
    engine.dispose()


async def test_influxdb_failing_half_way_leaves_no_backup(catalog: Engine, tmp_path: Path) -> None:
    fake = FakeInflux(fail_on_slice=2)
    target = tmp_path / "backup"
    async with _client(fake) as influx:
        with pytest.raises(StoreUnavailable, match="ConnectError"):
            await create_backup(
                target, catalog_engine=catalog, influx=influx, data_dir=tmp_path / "var"
            )
    assert len(fake.slices) == 2
    assert not target.exists()
    # Into an existing empty directory: emptied again, the directory itself kept.
    target.mkdir()
    async with _client(FakeInflux(fail_on_slice=1)) as influx:
        with pytest.raises(StoreUnavailable):
            await create_backup(
                target, catalog_engine=catalog, influx=influx, data_dir=tmp_path / "var"
            )
    assert target.is_dir()
    assert list(target.iterdir()) == []


async def test_a_backup_names_its_sources_without_passwords(
    catalog: Engine, tmp_path: Path
) -> None:
    target = tmp_path / "backup"
    url = "http://svc:" + "pw-0123456789" + "@influx.test:8086"  # split: not a scan hit
    async with _client(FakeInflux(), url) as influx:
        manifest = await create_backup(
            target, catalog_engine=catalog, influx=influx, data_dir=tmp_path / "var"
        )
    assert manifest.sources.influx_url == "http://svc@influx.test:8086"
    assert b"pw-0123456789" not in (target / MANIFEST_NAME).read_bytes()
    assert manifest.influx.series[0].points == 7
    async with _client(FakeInflux()) as influx:
        with pytest.raises(TargetNotEmpty, match="is not an empty directory"):
            await create_backup(
                target, catalog_engine=catalog, influx=influx, data_dir=tmp_path / "var"
            )


@pytest.mark.parametrize(
    ("text", "ns", "influxql"),
    [
        ("0s", 0, "INF"),
        ("2160h0m0s", 2160 * 3_600_000_000_000, "7776000s"),
        ("1h30m0.5s", None, None),
        ("1m30s", 90_000_000_000, "90s"),
    ],
)
def test_durations_as_influxdb_prints_them(text: str, ns: int | None, influxql: str | None) -> None:
    if ns is None:
        with pytest.raises(ValueError, match="not a duration"):
            go_duration_ns(text)
        return
    assert go_duration_ns(text) == ns
    assert _influxql_duration(text) == influxql


def test_points_past_the_retention_horizon_are_skipped_and_counted(tmp_path: Path) -> None:
    path = tmp_path / "0000.lp.gz"
    path.write_bytes(gzip.compress(b'm s="a b" 100\nm v=1 200\nm v=2 300\n'))
    assert list(_batches(path, horizon_ns=250)) == [(b"m v=2 300", 1, 2)]
    assert list(_batches(path, horizon_ns=None)) == [(b'm s="a b" 100\nm v=1 200\nm v=2 300', 3, 0)]


def test_a_string_value_may_span_lines(tmp_path: Path) -> None:
    """InfluxDB keeps a newline inside a string field; the point does not end there."""
    first = b'm,t=a\\ "b s="x\ny, \\"z\\"\n1",n=1i 100'  # a quote in a tag value opens nothing
    path = tmp_path / "0000.lp.gz"
    path.write_bytes(gzip.compress(first + b"\nm v=1 200\n"))
    assert list(_batches(path, horizon_ns=None)) == [(first + b"\nm v=1 200", 2, 0)]
    assert list(_batches(path, horizon_ns=150)) == [(b"m v=1 200", 1, 1)]
    path.write_bytes(gzip.compress(b'm s="never closed\n'))
    with pytest.raises(ValueError, match="ends inside a string"):
        list(_batches(path, horizon_ns=None))
