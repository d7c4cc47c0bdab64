"""Every real Berlinger export parses into what the device wrote (SOURCE.md's figures)."""

from __future__ import annotations

import hashlib
from datetime import date, datetime

import pytest

from coldchain.loggers import AlarmRule, RunEvent, parse_logger_text
from coldchain.loggers.berlinger import BerlingerFormat
from coldchain.loggers.serialize import device_record, record_from_json, record_to_json
from tests.support.real_loggers import INTACT, real_file, real_path, real_text


@pytest.mark.parametrize("name", INTACT)
def test_every_real_file_parses_signed_and_consistent(name: str) -> None:
    parsed = real_file(name)
    assert parsed.format == "berlinger"
    assert parsed.sha256 == hashlib.sha256(real_path(name).read_bytes()).hexdigest()
    assert parsed.signature is not None
    assert "signature verified" in parsed.signature
    assert parsed.notes == ()  # no irregularity in any real export
    rows = sorted([r.row for r in parsed.readings] + [m.row for m in parsed.missing])
    assert rows == list(range(len(rows)))


@pytest.mark.parametrize(
    ("name", "model", "serial", "interval", "readings", "missing", "days"),
    [
        ("fridgetag2l", "Q-tag Fridge-tag 2 L", "130500109088", 5, 10_653, 0, 38),
        ("ultralow", "Q-tag Fridge-tag Ultra Low", "100800001215", 5, 835, 6, 4),
        ("fridgetag2_60d", "Q-tag Fridge-tag 2", "130400191542", None, 0, 0, 60),
        ("fridgetag2_4d", "Q-tag Fridge-tag 2", "130400191544", None, 0, 0, 4),
        ("qtag_run2", "Q-tag CLm doc LR", "RCPJ00010", 10, 124, 0, 0),
        ("qtag_run3", "Q-tag CLm doc LR", "RCPJ00010", 10, 424, 0, 0),
    ],
)
def test_header_and_counts(
    name: str,
    model: str,
    serial: str,
    interval: int | None,
    readings: int,
    missing: int,
    days: int,
) -> None:
    parsed = real_file(name)
    assert (parsed.device_model, parsed.serial, parsed.log_interval_min) == (
        model,
        serial,
        interval,
    )
    assert (len(parsed.readings), len(parsed.missing), len(parsed.daily)) == (
        readings,
        missing,
        days,
    )


def test_fridgetag_2l_rules_days_and_log() -> None:
    parsed = real_file("fridgetag2l")
    origin = "Q-tag Fridge-tag 2 L 130500109088 alarm"
    assert parsed.rules == (
        AlarmRule(0, "low", 2.0, 60.0, "consecutive", f"{origin} 0"),
        AlarmRule(1, "high", 8.0, 60.0, "consecutive", f"{origin} 1"),
    )
    first, last = parsed.readings[0], parsed.readings[-1]
    assert (first.local_time, first.temp_c, first.flagged) == (
        datetime(2022, 5, 2, 4, 44),
        26.3,
        True,
    )
    assert (last.local_time, last.temp_c, last.flagged) == (
        datetime(2022, 6, 8, 10, 11),
        5.7,
        False,
    )
    assert parsed.daily[0].day == date(2022, 5, 2)
    assert parsed.daily[-1].day == date(2022, 6, 8)
    day = next(d for d in parsed.daily if d.day == date(2022, 6, 6))
    assert (day.min_c, day.min_at, day.max_c, day.max_at, day.mean_c) == (
        -7.2,
        datetime(2022, 6, 6, 9, 50),
        30.3,
        datetime(2022, 6, 6, 15, 17),
        5.5,
    )
    cold, hot = day.alarm(0), day.alarm(1)
    assert cold is not None
    assert hot is not None
    assert (cold.minutes, cold.triggered_at) == (753, datetime(2022, 6, 6, 0, 0))
    assert (hot.minutes, hot.triggered_at) == (408, datetime(2022, 6, 6, 13, 35))
    may10 = next(d for d in parsed.daily if d.day == date(2022, 5, 10)).alarm(1)
    assert may10 is not None
    assert (may10.minutes, may10.triggered_at) == (147, None)
    assert parsed.activated_at == datetime(2022, 5, 2, 4, 44)
    assert parsed.created_at == datetime(2022, 6, 8, 10, 14)


def test_ultralow_ambient_timeouts_and_missing_rows() -> None:
    parsed = real_file("ultralow")
    day = parsed.daily[-1]
    hot = day.alarm(1)
    assert hot is not None
    assert (hot.minutes, hot.ambient_c) == (834, 14.9)
    assert [(t.sensor, t.minutes) for t in day.timeouts] == [("Ext", 17), ("Int", 0)]
    assert [m.local_time.strftime("%H:%M") for m in parsed.missing[:3]] == [
        "16:06",
        "16:11",
        "16:16",
    ]


def test_qtag_run2_rules_and_device_summary() -> None:
    parsed = real_file("qtag_run2")
    assert [(r.number, r.direction, r.mode, r.limit_c, r.delay_min) for r in parsed.rules] == [
        (1, "high", "consecutive", 8.0, 30.0),
        (2, "high", "cumulative", 8.0, 60.0),
        (4, "low", "cumulative", 2.0, 60.0),
        (5, "low", "consecutive", 2.0, 30.0),
    ]
    rule = parsed.rule(1)
    assert rule is not None
    assert rule.params() == {
        "direction": "high",
        "limit_c": 8.0,
        "delay_min": 30.0,
        "mode": "consecutive",
        "origin": "Q-tag CLm doc LR RCPJ00010 alarm 1",
    }
    run = parsed.run
    assert run is not None
    assert (run.min_c, run.min_at, run.max_c, run.max_at) == (
        0.9,
        datetime(2022, 11, 8, 12, 49),
        24.3,
        datetime(2022, 11, 9, 0, 19),
    )
    assert (run.mean_c, run.mkt_c, run.mkt_delta_h_kj_per_mol, run.run_number) == (
        5.4,
        10.5,
        83.0,
        2,
    )
    assert (run.started_at, run.stopped_at) == (
        datetime(2022, 11, 8, 4, 49),
        datetime(2022, 11, 9, 1, 28),
    )
    hot = run.events[0]
    assert hot == RunEvent(
        number=1,
        start=datetime(2022, 11, 8, 21, 50),
        minutes=219,
        triggered_at=datetime(2022, 11, 8, 22, 20),
        end=None,
        end_reported=True,
        extreme_c=24.5,
        extreme_at=datetime(2022, 11, 9, 1, 28),
    )
    assert hot.open
    cumulative = run.events[1]
    assert (cumulative.number, cumulative.end_reported, cumulative.open) == (2, False, False)
    assert [(e.number, e.minutes) for e in run.events] == [
        (1, 219),
        (2, 219),
        (4, 598),
        (5, 145),
        (5, 32),
        (5, 31),
    ]


def test_a_copy_with_lf_line_ends_is_the_same_report() -> None:
    """A copy converted to LF (git, mail) still verifies: the signature is over CRLF."""
    text = real_text("qtag_run2")
    assert parse_logger_text(text.replace("\r\n", "\n")).sha256 == parse_logger_text(text).sha256


def test_sniff_looks_at_the_first_line_only() -> None:
    assert BerlingerFormat().sniff(real_text("qtag_run3"))
    assert not BerlingerFormat().sniff("Serial Number,Date,Time,Temperature\r\n")


@pytest.mark.parametrize("name", INTACT)
def test_catalog_json_round_trip(name: str) -> None:
    record = device_record(real_file(name))
    assert record_from_json(record_to_json(record)) == record
