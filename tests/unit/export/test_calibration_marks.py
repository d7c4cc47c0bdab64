"""Readings past calibration marked row by row (#22): walk.py cuts each chunk where the
mark changes (`past_due_parts`), and each part's mark is exactly what the rule says of each
of its readings (`Calibration.past_due`, the certificate in force); the formats' rows carry
it after the `invalid` cell, an invalid reading keeping its reason only."""

from __future__ import annotations

from datetime import UTC, datetime
from itertools import pairwise

import numpy as np
import orjson
from hypothesis import given
from hypothesis import strategies as st

from api.export import csv_format, json_format
from api.export.calibration import past_due_mark, past_due_parts
from api.export.rows import reading_rows
from coldchain.config import Settings
from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration, Certificate
from coldchain.judgement.validity import ReadingValidity

H = 3_600_000
#: A bare due date, then CAL-1 (in force from hour 10, due hour 20), then CAL-2 (from 30).
BARE = Certificate(None, None, SINCE_EVER_MS, 5 * H)
CAL_1 = Certificate("CAL-1", "Metrolab", 10 * H, 20 * H)
CAL_2 = Certificate("CAL-2", "Metrolab", 30 * H, 60 * H)
PROBE = Calibration.of([BARE, CAL_1, CAL_2])
VALIDITY = ReadingValidity.from_settings(Settings())


def _parts(times: list[int]) -> list[tuple[list[int], Certificate | None]]:
    chunk = np.array(times, dtype=np.int64)
    return [
        (chunk[part].tolist(), certificate)
        for part, certificate in past_due_parts(PROBE, chunk, PROBE.due_ms(chunk))
    ]


def test_a_chunk_is_cut_where_the_certificate_in_force_or_its_past_due_state_changes() -> None:
    hours = [0, 4, 5, 9, 10, 19, 20, 29, 30, 59, 60, 61]
    assert _parts([h * H for h in hours]) == [
        ([0, 4 * H], None),
        ([5 * H, 9 * H], BARE),  # the bare due date passed, no certificate yet
        ([10 * H, 19 * H], None),  # CAL-1 in force, within its due date
        ([20 * H, 29 * H], CAL_1),
        ([30 * H, 59 * H], None),  # CAL-2 supersedes: no longer past calibration
        ([60 * H, 61 * H], CAL_2),
    ]


def test_a_chunk_within_its_calibration_is_one_unmarked_part() -> None:
    assert _parts([10 * H, 11 * H, 19 * H]) == [([10 * H, 11 * H, 19 * H], None)]


@given(st.lists(st.integers(-10 * H, 80 * H), min_size=1, max_size=60))
def test_each_parts_mark_is_what_the_rule_says_of_each_of_its_readings(times: list[int]) -> None:
    times.sort()
    parts = _parts(times)
    assert [t for chunk, _ in parts for t in chunk] == times
    past = PROBE.past_due(np.array(times, dtype=np.int64)).tolist()
    marks = [certificate for chunk, certificate in parts for _ in chunk]
    assert marks == [PROBE.at(t) if p else None for t, p in zip(times, past, strict=True)]
    # no two neighbouring parts carry the same mark: cut only where it changes
    assert all(a[1] != b[1] for a, b in pairwise(parts))


def test_the_mark_names_the_due_date_as_the_sites_local_date() -> None:
    due = int(datetime(2027, 2, 28, 23, 0, tzinfo=UTC).timestamp() * 1000)  # Zurich midnight
    certificate = Certificate("CAL-9", "Metrolab", 0, due)
    assert past_due_mark(certificate, "Europe/Zurich") == "past calibration due 2027-03-01"
    assert past_due_mark(certificate, "UTC") == "past calibration due 2027-02-28"


def _rows(fmt: str, mark: str | None) -> list[bytes]:
    """Three readings (a temperature, an error code, a temperature) as `fmt`'s rows."""
    times = np.array([0, 60_000, 120_000], dtype=np.int64)
    temps = np.array([5.1, 85.0, 5.2])
    if fmt == "csv":
        text = reading_rows(
            times,
            temps,
            "UTC",
            head=b"1,",
            mid=b",",
            sep=b",",
            tail=b"\n",
            note=csv_format._note(VALIDITY, mark),
        )
        return text.splitlines()
    text = reading_rows(
        times,
        temps,
        "UTC",
        head=b',["',
        mid=b'","',
        sep=b'",',
        tail=b"]",
        note=json_format._note(VALIDITY, mark),
    )
    return [orjson.dumps(row) for row in orjson.loads(b"[" + text[1:] + b"]")]


def test_a_csv_row_past_calibration_says_so_in_its_last_cell_an_invalid_one_its_reason() -> None:
    mark = "past calibration due 2027-03-01"
    assert _rows("csv", mark) == [
        b"1,1970-01-01T00:00:00.000Z,1970-01-01T00:00:00.000+00:00,5.1,,past calibration due "
        b"2027-03-01",
        "1,1970-01-01T00:01:00.000Z,1970-01-01T00:01:00.000+00:00,85.0,error code 85 °C,".encode(),
        b"1,1970-01-01T00:02:00.000Z,1970-01-01T00:02:00.000+00:00,5.2,,past calibration due "
        b"2027-03-01",
    ]
    assert [row.rsplit(b",", 2)[1:] for row in _rows("csv", None)] == [
        [b"", b""],
        ["error code 85 °C".encode(), b""],
        [b"", b""],
    ]


def test_a_json_row_past_calibration_has_the_mark_fifth_an_invalid_one_its_reason_fourth() -> None:
    marked = [orjson.loads(row) for row in _rows("json", "past calibration due 2027-03-01")]
    assert [row[2:] for row in marked] == [
        [5.1, None, "past calibration due 2027-03-01"],
        [85.0, "error code 85 °C"],
        [5.2, None, "past calibration due 2027-03-01"],
    ]
    plain = [orjson.loads(row) for row in _rows("json", None)]
    assert [row[2:] for row in plain] == [[5.1], [85.0, "error code 85 °C"], [5.2]]
