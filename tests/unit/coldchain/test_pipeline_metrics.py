from __future__ import annotations

from pathlib import Path

import orjson
import pytest

from coldchain.pipeline_metrics import (
    STALE_INTERVALS,
    Snapshot,
    metrics_file,
    read_metrics,
    read_snapshot,
)

NOW = 1_763_800_000_000


def _write(data_dir: Path, name: str, content: bytes) -> Path:
    path = data_dir / "metrics" / f"{name}.json"
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(content)
    return path


def test_read_metrics_finds_what_publish_metrics_writes(tmp_path: Path) -> None:
    path = metrics_file(tmp_path, "ingest", "w1")
    path.parent.mkdir(parents=True)
    path.write_bytes(orjson.dumps({"lines_written": 7, "time_ms": NOW}))
    assert read_metrics(tmp_path) == {"ingest-w1": Snapshot({"lines_written": 7, "time_ms": NOW})}


def test_read_metrics_is_in_name_order_and_filters_by_service(tmp_path: Path) -> None:
    for name in ("ingest-b", "detector-a", "ingest-a"):
        _write(tmp_path, name, orjson.dumps({"time_ms": NOW}))
    assert list(read_metrics(tmp_path)) == ["detector-a", "ingest-a", "ingest-b"]
    assert list(read_metrics(tmp_path, "ingest")) == ["ingest-a", "ingest-b"]
    assert list(read_metrics(tmp_path, "detector")) == ["detector-a"]


def test_read_metrics_leaves_out_what_is_not_a_snapshot(tmp_path: Path) -> None:
    _write(tmp_path, "ingest-ok", orjson.dumps({"time_ms": NOW}))
    _write(tmp_path, "ingest-half", b'{"time_ms": 17')  # being written by hand, say
    _write(tmp_path, "ingest-list", b"[1, 2]")
    (tmp_path / "metrics" / "ingest-next.tmp").write_bytes(b"{}")  # the writer's temp file
    assert list(read_metrics(tmp_path)) == ["ingest-ok"]


def test_read_metrics_without_a_directory_is_empty(tmp_path: Path) -> None:
    assert read_metrics(tmp_path) == {}


def test_read_snapshot_says_why_it_cannot(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError):
        read_snapshot(tmp_path / "metrics" / "ingest-w.json")
    with pytest.raises(ValueError, match="not a JSON object"):
        read_snapshot(_write(tmp_path, "ingest-list", b"[]"))
    with pytest.raises(orjson.JSONDecodeError):
        read_snapshot(_write(tmp_path, "ingest-half", b"{half"))


def test_the_time_written_is_time_ms_and_nothing_else() -> None:
    assert Snapshot({"time_ms": NOW}).written_ms == NOW
    assert Snapshot({}).written_ms is None
    assert Snapshot({"time_ms": True}).written_ms is None
    assert Snapshot({"time_ms": float(NOW)}).written_ms is None
    assert Snapshot({"time_ms": str(NOW)}).written_ms is None


def test_age_counts_from_time_ms_and_a_clock_stepped_back_is_fresh() -> None:
    snapshot = Snapshot({"time_ms": NOW})
    assert snapshot.age_s(NOW + 2_500) == 2.5
    assert snapshot.age_s(NOW - 5_000) == 0.0
    assert Snapshot({}).age_s(NOW) is None


def test_stale_after_the_intervals_or_without_a_time() -> None:
    limit_ms = STALE_INTERVALS * 2_000
    snapshot = Snapshot({"time_ms": NOW})
    assert not snapshot.stale(NOW + limit_ms, 2.0)
    assert snapshot.stale(NOW + limit_ms + 1, 2.0)
    assert Snapshot({"messages_received": 3}).stale(NOW, 2.0)
