from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from ingest.spool import Spool, SpoolBatch

_open: list[Spool] = []


@pytest.fixture(autouse=True)
def _close_spools() -> Iterator[None]:
    yield
    while _open:
        _open.pop().close()


def _spool(directory: Path, *, segment_bytes: int = 1 << 20, max_bytes: int = 1 << 30) -> Spool:
    spool = Spool(directory, segment_bytes=segment_bytes, max_bytes=max_bytes)
    _open.append(spool)
    return spool


def _drain(spool: Spool, max_lines: int = 10_000) -> list[str]:
    lines: list[str] = []
    while batch := spool.read_batch(max_lines):
        lines += batch.lines
        spool.commit(batch)
    return lines


def test_only_synced_records_are_readable(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append([["a 1", "a 2"], ["b 1"]])
    assert spool.read_batch(100) is None
    spool.sync()
    batch = spool.read_batch(100)
    assert batch is not None
    assert batch.lines == ["a 1", "a 2", "b 1"]


def test_batches_hold_whole_records_up_to_the_line_budget(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append([[f"r{i} {j}" for j in range(3)] for i in range(10)])
    spool.sync()
    first = spool.read_batch(5)
    assert first is not None
    assert len(first.lines) == 6  # two whole records: a record is never split


def test_undelivered_records_survive_a_restart(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append([["x 1"], ["x 2"]])
    spool.sync()
    first = spool.read_batch(1)
    assert first is not None
    spool.commit(first)
    spool.read_batch(1)  # read but never delivered: the process dies here
    reopened = _spool(tmp_path)
    assert _drain(reopened) == ["x 2"]
    assert reopened.depth_bytes == 0


def test_a_torn_tail_is_cut_at_open_and_appending_continues(tmp_path: Path) -> None:
    spool = _spool(tmp_path)
    spool.append([["kept 1"]])
    spool.sync()
    spool.close()
    [segment] = tmp_path.glob("*.seg")
    with segment.open("ab") as handle:
        handle.write(b"\x40\x00\x00\x00half a header and no payload")
    reopened = _spool(tmp_path)
    reopened.append([["kept 2"]])
    reopened.sync()
    assert _drain(reopened) == ["kept 1", "kept 2"]


def test_segments_rotate_and_delivered_ones_are_deleted(tmp_path: Path) -> None:
    spool = _spool(tmp_path, segment_bytes=64 * 1024)
    expected = [f"line {i} " + "x" * 100 for i in range(3000)]
    for start in range(0, len(expected), 100):
        spool.append([expected[start : start + 100]])
        spool.sync()
    assert len(list(tmp_path.glob("*.seg"))) > 3
    assert _drain(spool, 500) == expected
    assert len(list(tmp_path.glob("*.seg"))) == 1
    assert spool.depth_bytes == 0


def test_depth_counts_what_is_not_yet_delivered_and_marks_full(tmp_path: Path) -> None:
    spool = _spool(tmp_path, max_bytes=1024 * 1024)
    spool.append([["y" * 600_000], ["z" * 600_000]])
    spool.sync()
    assert spool.is_full
    batch = spool.read_batch(1)
    assert batch is not None
    spool.commit(batch)
    assert not spool.is_full
    assert spool.depth_bytes == pytest.approx(600_012, abs=16)


def test_a_damaged_record_is_handed_over_as_corrupt_bytes(tmp_path: Path) -> None:
    spool = _spool(tmp_path, segment_bytes=200)
    spool.append([["first " + "a" * 300]])
    spool.append([["second"]])
    spool.sync()
    spool.close()
    first_segment = sorted(tmp_path.glob("*.seg"))[0]
    data = bytearray(first_segment.read_bytes())
    data[20] ^= 0xFF  # flip a payload byte of a closed segment: disk damage, not a crash
    first_segment.write_bytes(bytes(data))
    reopened = _spool(tmp_path, segment_bytes=200)
    batch = reopened.read_batch(100)
    assert isinstance(batch, SpoolBatch)
    assert batch.lines == []
    assert batch.corrupt.startswith(bytes(data[:12]))
    reopened.commit(batch)
    assert _drain(reopened) == ["second"]
