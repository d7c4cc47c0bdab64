"""`ingest.conflicts`: a refused re-send as a `reading_conflict` line."""

from __future__ import annotations

import hashlib

from ingest.conflicts import conflict_lines
from ingest.duplicates import BatchReadings

KEY = "reading,device=U3,sensor=p1,site=BSL,source=unit"
STORED = f"{KEY} temp_c=5.1,seq=4i,received_ms=10i 1000"
RESENT = f"{KEY} temp_c=7.3,seq=4i,received_ms=20i 1000"


def test_two_different_resends_are_two_points_of_the_readings_series_at_its_millisecond() -> None:
    other = RESENT.replace("7.3", "4.4").replace("20i", "30i")
    checked = BatchReadings("\n".join([STORED, RESENT, other])).sort_out([])
    assert checked.lines == [STORED]
    first, second = conflict_lines(checked.conflicts)
    series = "reading_conflict,device=U3,sensor=p1,site=BSL,source=unit"
    digest = hashlib.sha256(RESENT.encode()).hexdigest()
    assert first.rsplit(" ", 1)[0] == (
        f'{series} temp_c=7.3,seq=4i,received_ms=20i,stored_temp_c=5.1,line_sha256="{digest}"'
    )
    assert second.split(" ")[0] == series  # one series per sensor, however many re-sends
    times = [int(line.rsplit(" ", 1)[1]) for line in (first, second)]
    assert [t // 1_000_000 for t in times] == [1000, 1000]
    assert times[0] != times[1]  # neither overwrites the other


def test_a_replayed_resend_gives_the_same_point_again() -> None:
    once = conflict_lines(BatchReadings(f"{STORED}\n{RESENT}").sort_out([]).conflicts)
    again = conflict_lines(BatchReadings(f"{STORED}\n{RESENT}").sort_out([]).conflicts)
    assert once == again
