"""Data-dir state into a backup and back: modes kept, SQLite taken as a snapshot (WAL
included), a spool's checkpoint before its segments, a target with state refused."""

from __future__ import annotations

import sqlite3
import stat
from pathlib import Path

import pytest

from backup import TargetNotEmpty
from backup.files import backup_data_dir, data_dir_holdings, restore_data_dir
from backup.manifest import sha256_file
from backup.output import open_output


def _mode(path: Path) -> int:
    return stat.S_IMODE(path.stat().st_mode)


@pytest.fixture
def source(tmp_path: Path) -> Path:
    data = tmp_path / "var"
    keys = data / "keys"
    keys.mkdir(parents=True, mode=0o700)
    (keys / "export-signing.key").write_bytes(b"-private-")
    (keys / "export-signing.key").chmod(0o600)
    (keys / "export-signing.pub").write_bytes(b"-public-")
    (keys / "export-signing.pub").chmod(0o644)
    spool = data / "spool" / "w1"
    spool.mkdir(parents=True)
    (spool / "00000000000000000001.seg").write_bytes(b"segment")
    (spool / "checkpoint").write_bytes(b'{"segment":1,"offset":0}')
    (spool / "checkpoint.tmp").write_bytes(b"half written")
    (data / "dead-letters").mkdir()
    (data / "dead-letters" / "2026-11-26.jsonl").write_bytes(b'{"reason":"x"}\n')
    (data / "metrics").mkdir()
    (data / "metrics" / "ingest-w1.json").write_bytes(b"{}")
    return data


def test_areas_are_copied_with_their_modes_and_come_back(source: Path, tmp_path: Path) -> None:
    root = tmp_path / "backup"
    section, entries = backup_data_dir(source, root)
    paths = [item.path for item in section.files]
    assert paths == [
        "keys/export-signing.key",
        "keys/export-signing.pub",
        "spool/w1/checkpoint",  # before the segments: a copy never replays too little
        "spool/w1/00000000000000000001.seg",
        "dead-letters/2026-11-26.jsonl",
    ]
    assert {entry.path for entry in entries} == {f"data/{path}" for path in paths}
    assert all(_mode(root / entry.path) == 0o600 for entry in entries)
    target = tmp_path / "new-var"
    assert restore_data_dir(root, target, section, replace=False) == 5
    assert _mode(target / "keys" / "export-signing.key") == 0o600
    assert _mode(target / "keys" / "export-signing.pub") == 0o644
    assert _mode(target / "keys") == 0o700
    assert (target / "spool" / "w1" / "checkpoint").read_bytes() == b'{"segment":1,"offset":0}'
    assert not (target / "metrics").exists()
    assert not list(target.rglob("*.tmp"))


def test_a_live_sqlite_state_is_copied_with_what_is_still_in_its_wal(
    source: Path, tmp_path: Path
) -> None:
    path = source / "detector" / "state.sqlite3"
    path.parent.mkdir()
    live = sqlite3.connect(path, isolation_level=None)
    live.execute("PRAGMA journal_mode=WAL")
    live.execute("PRAGMA wal_autocheckpoint=0")  # the rows stay in the -wal file only
    live.execute("CREATE TABLE sensor_state (key TEXT PRIMARY KEY, state BLOB)")
    live.execute("INSERT INTO sensor_state VALUES ('BSL/unit/F/p1', x'01')")
    root = tmp_path / "backup"
    section, _ = backup_data_dir(source, root)
    live.close()
    assert "detector/state.sqlite3-wal" not in [item.path for item in section.files]
    assert not list((root / "data" / "detector").glob("*.snapshot*"))
    target = tmp_path / "new-var"
    restore_data_dir(root, target, section, replace=False)
    with sqlite3.connect(target / "detector" / "state.sqlite3") as copy:
        assert copy.execute("SELECT key, state FROM sensor_state").fetchall() == [
            ("BSL/unit/F/p1", b"\x01")
        ]
    copy.close()


def test_a_data_dir_with_state_is_refused_and_replace_empties_the_areas(
    source: Path, tmp_path: Path
) -> None:
    root = tmp_path / "backup"
    section, _ = backup_data_dir(source, root)
    target = tmp_path / "new-var"
    (target / "spool" / "other").mkdir(parents=True)
    (target / "spool" / "other" / "00000000000000000009.seg").write_bytes(b"theirs")
    assert (
        data_dir_holdings(target)
        == f"data dir {target}: spool/ already holds spool/other/00000000000000000009.seg"
    )
    with pytest.raises(TargetNotEmpty, match="spool/ already holds"):
        restore_data_dir(root, target, section, replace=False)
    assert not (target / "keys").exists()
    restore_data_dir(root, target, section, replace=True)
    assert not (target / "spool" / "other").exists()
    assert (target / "keys" / "export-signing.key").read_bytes() == b"-private-"


def test_output_files_are_private_and_their_digest_is_what_is_on_disk(tmp_path: Path) -> None:
    with open_output(tmp_path, "influx/0000.lp.gz", compress=True) as out:
        out.write(b"m v=1 1\n")
    again = tmp_path / "again"
    with open_output(again, "influx/0000.lp.gz", compress=True) as same:
        same.write(b"m v=1 1\n")
    assert sha256_file(tmp_path / "influx" / "0000.lp.gz") == (out.entry.sha256, out.entry.bytes)
    assert out.entry.sha256 == same.entry.sha256  # mtime 0, no name: same data, same digest
    assert _mode(tmp_path / "influx" / "0000.lp.gz") == 0o600
    assert _mode(tmp_path / "influx") == 0o700
