"""The downsampler's marks: what a write touched stays marked until it is recomputed, across
a crash, and a mark made while a round runs outlives that round."""

from __future__ import annotations

from pathlib import Path

from ingest.downsampler import DirtyHours, touched_hours

HOUR_MS = 3_600_000
T0 = 1_763_798_400_000  # a whole hour
U1 = "device=U1,site=BSL,source=unit"
LINES = "\n".join(
    [
        f"reading,device=U1,sensor=p1,site=BSL,source=unit temp_c=5.0,seq=1i {T0 + 60_000}",
        f"reading,device=U1,sensor=p2,site=BSL,source=unit temp_c=5.1,seq=2i {T0 + 120_000}",
        f"reading,device=U1,sensor=p1,site=BSL,source=unit temp_c=5.2,seq=3i {T0 + HOUR_MS}",
        f"device_status,device=U1,site=BSL,source=unit battery_pct=80i {T0}",
    ]
)


def test_a_batch_touches_each_hour_of_each_device_once_whatever_its_sensors() -> None:
    assert touched_hours(LINES) == {(T0, U1), (T0 + HOUR_MS, U1)}


def test_marks_survive_a_restart_until_cleared(tmp_path: Path) -> None:
    journal = tmp_path / "downsample.journal"
    with DirtyHours(journal) as dirty:
        dirty.mark(touched_hours(LINES))
    # ingest stopped (or crashed) before a round recomputed them
    with DirtyHours(journal) as again:
        counter, hours = again.snapshot()
        assert hours == {T0: {U1}, T0 + HOUR_MS: {U1}}
        again.clear(counter)
    with DirtyHours(journal) as cleared:
        assert len(cleared) == 0


def test_a_mark_made_during_a_round_outlives_the_round(tmp_path: Path) -> None:
    journal = tmp_path / "downsample.journal"
    with DirtyHours(journal) as dirty:
        dirty.mark({(T0, U1)})
        counter, _ = dirty.snapshot()
        dirty.mark({(T0, U1)})  # the write landed after the round's query ran
        dirty.clear(counter)
        assert dirty.snapshot()[1] == {T0: {U1}}
    with DirtyHours(journal) as again:  # journaled, not only in memory
        assert again.snapshot()[1] == {T0: {U1}}


def test_a_torn_last_journal_line_is_ignored(tmp_path: Path) -> None:
    journal = tmp_path / "downsample.journal"
    journal.write_text(f"m 1 {T0} {U1}\nm 2 {T0 + HOUR_MS}")
    with DirtyHours(journal) as dirty:
        assert dirty.snapshot()[1] == {T0: {U1}}
