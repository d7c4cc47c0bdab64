"""The live view's status judges by the domain's rules (docs/design.md §11): the warning band
of `warning_band_c`, reading validity, and for a sponsor only their own products' limits."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from alerting.config import DetectorConfig
from api.access.model import AlertItem, Device, Limits, LivePlace, Location
from api.readings.live import LiveJudge, LiveReading, PlaceLive, place_status
from coldchain.config import Settings
from coldchain.influx import valid_readings_condition
from coldchain.judgement.limits import Limits as JudgedLimits
from coldchain.judgement.validity import ReadingValidity
from coldchain.models import SensorKey

NOW_MS = 1_800_000_000_000
SETTINGS = Settings()
VALIDITY = ReadingValidity.from_settings(SETTINGS)
STAFF = LiveJudge(VALIDITY, SETTINGS.detect_warning_margin_c, SETTINGS.api_no_data_intervals)
SPONSOR = LiveJudge(
    VALIDITY, SETTINGS.detect_warning_margin_c, SETTINGS.api_no_data_intervals, True
)
DEVICE = Device("BSL", "unit", "FRIDGE-01", ("p1", "p2"), 60)
VAX = Limits(2.0, 8.0, "2-8 °C", ("VAX-1",))  # the sponsor's own product
STRICTEST = Limits(3.0, 7.0, "2-8 °C + 3-7 °C", ("BIO-7", "VAX-1"))


def _place(limits: Limits | None, *alerts: AlertItem) -> LivePlace:
    location = Location("unit", "BSL/FRIDGE-01", "BSL", None, (DEVICE,))
    return LivePlace(location, ("LOT-1",), ("VAX-1",), limits, None, tuple(alerts))


def _alert(
    kind: str = "excursion",
    severity: str = "alarm",
    *,
    peak_c: float | None = 7.4,
    sensor: str = "p1",
    detail: dict[str, object] | None = None,
    limit_c: float | None = None,
) -> AlertItem:
    at = datetime(2027, 1, 15, tzinfo=UTC)
    return AlertItem(
        alert_id=f"{kind}-{severity}-{sensor}",
        kind=kind,
        severity=severity,
        state="open",
        site="BSL",
        source="unit",
        device="FRIDGE-01",
        sensor=sensor,
        start=at,
        end=None,
        peak_c=peak_c,
        retrospective=False,
        updated_at=at,
        detail=detail or {},
        limit_c=limit_c,
    )


def _live(
    place: LivePlace, p1: float | None, p2: float | None = 5.0, judge: LiveJudge = STAFF
) -> PlaceLive:
    readings = {
        SensorKey("BSL", "unit", "FRIDGE-01", sensor): LiveReading(NOW_MS - 30_000, value)
        for sensor, value in (("p1", p1), ("p2", p2))
        if value is not None
    }
    return place_status(place, readings, now_ms=NOW_MS, judge=judge)


def _p1(live: PlaceLive) -> tuple[str, float | None, str | None]:
    sensor = next(s for s in live.sensors if s.sensor == "p1")
    return sensor.status, sensor.temp_c, sensor.fault


# -- the warning band is the detector's (warning_band_c), not a plain margin ------------


def test_a_narrow_range_keeps_a_band_where_all_is_well() -> None:
    # 2-3 °C: the band is a quarter of the range (0.25 °C), not the 0.5 °C margin, so
    # 2.4 °C is ok (a plain 0.5 °C margin left no ok value in a 1 °C range at all).
    narrow = Limits(2.0, 3.0, "2-3 °C", ("NARROW-1",))
    assert _p1(_live(_place(narrow), 2.4, 2.5))[0] == "ok"
    assert _p1(_live(_place(narrow), 2.2, 2.5))[0] == "warning"
    assert _live(_place(narrow), 2.4, 2.5).status == "ok"


@pytest.mark.parametrize(
    "limits",
    [
        VAX,
        STRICTEST,
        Limits(2.0, 3.0, "", ()),
        Limits(-25.0, -15.0, "", ()),
        Limits(0, 0.4, "", ()),
    ],
)
def test_tile_warning_agrees_with_the_detectors_warning_limits(limits: Limits) -> None:
    warning = DetectorConfig.from_settings(SETTINGS).warning_limits(
        JudgedLimits(limits.min_c, limits.max_c, 0, "")
    )
    step = (limits.max_c - limits.min_c) / 40
    values = [limits.min_c - step + i * step for i in range(43)]
    for value in values:
        inside_range = limits.min_c <= value <= limits.max_c
        expected = "ok" if warning.direction(value) == 0 else "warning" if inside_range else "alarm"
        assert _p1(_live(_place(limits), value))[0] == expected, value


# -- an invalid reading is never shown as the temperature -------------------------------


@pytest.mark.parametrize(
    ("value", "reason"),
    [
        (85.0, "error code 85 °C"),
        (-127.0, "error code -127 °C"),
        (150.0, "outside the probe's range -100…70 °C"),
    ],
)
def test_an_invalid_latest_reading_is_a_fault_without_temperature(
    value: float, reason: str
) -> None:
    live = _live(_place(VAX), value)
    assert _p1(live) == ("fault", None, reason)
    sensor = next(s for s in live.sensors if s.sensor == "p1")
    assert sensor.reading is not None  # its time still says the probe reports
    assert live.status == "fault"  # worse than no_data, ok and warning
    assert _live(_place(VAX), value, None).status == "fault"


def test_an_alarm_outranks_a_fault_and_still_hides_the_invalid_value() -> None:
    live = _live(_place(VAX, _alert(sensor="p2", peak_c=9.0)), 85.0)
    assert _p1(live) == ("fault", None, "error code 85 °C")
    assert live.status == "alarm"
    with_alarm_on_p1 = _live(_place(VAX, _alert(peak_c=9.0)), 85.0)
    assert _p1(with_alarm_on_p1) == ("alarm", None, "error code 85 °C")


def test_an_open_sensor_fault_alert_is_a_fault() -> None:
    stuck = _alert("sensor_fault", peak_c=None, detail={"reason": "stuck", "value_c": 5.0})
    assert _p1(_live(_place(VAX, stuck), 5.0)) == ("fault", 5.0, "sensor fault: stuck")
    device_wide = _alert("sensor_fault", peak_c=None, sensor="*")
    assert _live(_place(VAX, device_wide), 5.0).status == "fault"


def test_a_stale_invalid_reading_is_no_data_and_still_hidden() -> None:
    key = SensorKey("BSL", "unit", "FRIDGE-01", "p1")
    old = {key: LiveReading(NOW_MS - 3_600_000, 85.0)}
    live = place_status(_place(VAX), old, now_ms=NOW_MS, judge=STAFF)
    assert _p1(live) == ("no_data", None, "error code 85 °C")


def test_sparkline_clause_keeps_only_temperatures() -> None:
    clause = valid_readings_condition(VALIDITY)
    assert clause == (
        '("temp_c" >= -100.0 AND "temp_c" <= 70.0 AND "temp_c" != -127.0 AND "temp_c" != 85.0)'
    )


# -- a sponsor's tile: their own limits, not another sponsor's tighter ones ---------------


def test_sponsor_tile_ignores_an_alarm_raised_under_another_products_tighter_limits() -> None:
    # 7.4 °C is beyond BIO-7's 7 °C (the unit's strictest) but inside VAX-1's 2-8 °C and
    # outside its warning band (2.5-7.5): for VAX-1's sponsor nothing is wrong.
    theirs = _alert(peak_c=7.4)
    sponsor = _live(_place(VAX, theirs), 7.4, judge=SPONSOR)
    assert sponsor.status == "ok"
    assert _p1(sponsor) == ("ok", 7.4, None)
    assert sponsor.alerts == []  # not listed on the tile either
    staff = _live(_place(STRICTEST, theirs), 7.4, judge=STAFF)
    assert staff.status == "alarm"
    assert staff.alerts == [theirs]


def test_sponsor_tile_counts_an_alarm_whose_peak_left_their_own_range() -> None:
    ours = _alert(peak_c=8.6)
    live = _live(_place(VAX, ours), 6.0, judge=SPONSOR)
    assert live.status == "alarm"
    assert live.alerts == [ours]


def test_sponsor_tile_lowers_an_alarm_that_only_reached_their_warning_band() -> None:
    near = _alert(peak_c=7.8)  # beyond 7.5 (their alert limit), inside 8 (their range)
    live = _live(_place(VAX, near), 6.0, judge=SPONSOR)
    assert live.status == "warning"
    assert live.alerts == [near]
    warning = _alert(severity="warning", peak_c=8.6)  # never raised above its own severity
    assert _live(_place(VAX, warning), 6.0, judge=SPONSOR).status == "warning"


def test_sponsor_tile_judges_forecasts_under_another_products_limits_by_their_own() -> None:
    forecast = _alert("forecast", "warning", peak_c=6.8, detail={"eta_min": 12}, limit_c=7.0)
    assert _live(_place(VAX, forecast), 6.8, judge=SPONSOR).status == "ok"
    assert _live(_place(STRICTEST, forecast), 6.8, judge=STAFF).status == "warning"


@pytest.mark.parametrize("kind", ["forecast", "excursion"])
def test_sponsor_tile_counts_an_alert_raised_at_their_own_limit_whatever_its_peak(
    kind: str,
) -> None:
    # A forecast heads for the sponsor's own limit (8 °C) with its peak still in range: the
    # sponsor sees the warning the staff sees, not "ok".
    alert = _alert(kind, "warning", peak_c=6.8, detail={"eta_min": 12}, limit_c=8.0)
    assert _live(_place(VAX, alert), 6.8, judge=SPONSOR).status == "warning"
    assert _live(_place(VAX, alert), 6.8, judge=STAFF).status == "warning"


@pytest.mark.parametrize(
    ("kind", "severity", "status"),
    [
        ("missing_data", "alarm", "alarm"),
        ("rate_of_change", "warning", "warning"),
        ("low_battery", "warning", "warning"),
        ("sensor_fault", "alarm", "fault"),
    ],
)
def test_alerts_about_the_device_count_for_sponsors_too(
    kind: str, severity: str, status: str
) -> None:
    alert = _alert(kind, severity, peak_c=None)
    live = _live(_place(VAX, alert), 5.0, judge=SPONSOR)
    assert live.status == status
    assert live.alerts == [alert]


# -- an offline (USB) logger is awaiting its upload, not silent --------------------------


@pytest.mark.parametrize(("offline", "status"), [(True, "awaiting_upload"), (False, "no_data")])
def test_a_travelling_offline_logger_is_awaiting_upload_not_no_data(
    offline: bool, status: str
) -> None:
    logger = Device("BSL", "logger", "TAG-1", ("t",), 300, offline=offline)
    location = Location("shipment", "SHP-1", "BSL", None, (logger,))
    place = LivePlace(location, ("LOT-1",), ("VAX-1",), VAX, None, ())
    live = place_status(place, {}, now_ms=NOW_MS, judge=STAFF)
    assert (live.status, [s.status for s in live.sensors]) == (status, [status])
