from __future__ import annotations

from datetime import UTC, date, datetime, timedelta, timezone
from pathlib import Path

import pytest

from coldchain.errors import ConfigError
from coldchain.fleet import load_fleet, moment_utc

DESIGN_EXAMPLE = """\
sponsors: [{id: ACME, name: Acme Pharma}]
users: [{id: alice, role: sponsor_viewer, sponsor: ACME}, {id: omar, role: warehouse_operator, sites: [BSL]}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - id: FRIDGE-01
        kind: refrigerator
        setpoint_c: 5.0
        log_interval_s: 60
        sensors: [{id: p1, calibration_due: 2027-03-01}, {id: p2, calibration_due: 2027-03-01}]
products:
  - id: VAX-1
    sponsor: ACME
    storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30,
              budget: {max_c: 25.0, hours: 24}}
batches: [{id: LOT-0001, product: VAX-1}]
shipments:
  - id: SHP-100
    origin: BSL
    destination: BSL
    loggers: [{id: LOG-100, sensors: [{id: p1}], log_interval_s: 600}]
placements:
  - {batch: LOT-0001, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z", to: "2026-11-10T08:00:00Z"}
  - {batch: LOT-0001, shipment: SHP-100, from: "2026-11-10T08:00:00Z"}
"""


def _write(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text)
    return path


def test_the_design_example_loads(tmp_path: Path) -> None:
    fleet = load_fleet(_write(tmp_path, DESIGN_EXAMPLE))
    assert fleet.sites[0].units[0].sensors[1].id == "p2"
    assert fleet.products[0].storage.budget is not None
    assert fleet.placements[1].to is None


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (("setpoint_c: 5.0", "setpoint_c: warm"), "line 9: sites.0.units.0.setpoint_c"),
        (("kind: refrigerator", "kind: toaster"), "line 8: sites.0.units.0.kind"),
        (("product: VAX-1}", "product: VAX-9}"), "unknown product 'VAX-9'"),
        (("unit: BSL/FRIDGE-01", "unit: BSL/FRIDGE-99"), "unknown unit 'BSL/FRIDGE-99'"),
        (("log_interval_s: 600", "log_intervall_s: 600"), "Extra inputs are not permitted"),
        (("min_c: 2.0", "min_c: 9.0"), "min_c 9.0 must be below max_c 8.0"),
    ],
)
def test_bad_fleet_files_name_the_line_and_field(
    tmp_path: Path, change: tuple[str, str], message: str
) -> None:
    with pytest.raises(ConfigError) as caught:
        load_fleet(_write(tmp_path, DESIGN_EXAMPLE.replace(*change)))
    assert message in str(caught.value)


def test_not_yaml_is_a_config_error(tmp_path: Path) -> None:
    with pytest.raises(ConfigError, match=r"fleet\.yaml"):
        load_fleet(_write(tmp_path, "sites: [unclosed"))


# Keys of the one judgement of a batch: split placements, sensor dates, offline loggers.

PROBE_SWAP = DESIGN_EXAMPLE.replace(
    "sensors: [{id: p1, calibration_due: 2027-03-01}, {id: p2, calibration_due: 2027-03-01}]",
    "sensors: [{id: p1, removed: 2026-11-05}, {id: p2},\n"
    "                  {id: p3, installed: 2026-11-05}]",
).replace(
    "loggers: [{id: LOG-100, sensors: [{id: p1}], log_interval_s: 600}]",
    "loggers: [{id: LOG-100, sensors: [{id: p1}], log_interval_s: 600, offline: true}]",
)


def test_new_keys_load_a_probe_swap_an_offline_logger_and_a_split(tmp_path: Path) -> None:
    split = PROBE_SWAP.replace(
        '  - {batch: LOT-0001, shipment: SHP-100, from: "2026-11-10T08:00:00Z"}\n',
        '  - {batch: LOT-0001, shipment: SHP-100, from: "2026-11-10T08:00:00Z", quantity: 40}\n',
    )
    fleet = load_fleet(_write(tmp_path, split))
    p1, p2, p3 = fleet.sites[0].units[0].sensors
    assert (p1.installed, p1.removed) == (None, date(2026, 11, 5))
    assert (p2.installed, p2.removed) == (None, None)
    assert (p3.installed, p3.removed) == (date(2026, 11, 5), None)
    assert fleet.shipments[0].loggers[0].offline is True
    assert [p.quantity for p in fleet.placements] == [None, 40]


def test_defaults_no_dates_online_logger_whole_batch(tmp_path: Path) -> None:
    fleet = load_fleet(_write(tmp_path, DESIGN_EXAMPLE))
    sensor = fleet.sites[0].units[0].sensors[0]
    assert (sensor.installed, sensor.removed) == (None, None)
    assert fleet.shipments[0].loggers[0].offline is False
    assert fleet.placements[0].quantity is None


def test_a_date_is_midnight_at_the_site_an_rfc3339_time_its_own_instant() -> None:
    zurich = "Europe/Zurich"
    assert moment_utc(date(2026, 11, 5), zurich) == datetime(2026, 11, 4, 23, tzinfo=UTC)
    assert moment_utc(date(2026, 7, 5), zurich) == datetime(2026, 7, 4, 22, tzinfo=UTC)
    assert moment_utc(date(2026, 11, 5), "UTC") == datetime(2026, 11, 5, tzinfo=UTC)
    offset = datetime(2026, 11, 5, 8, tzinfo=timezone(timedelta(hours=1)))
    assert moment_utc(offset, zurich) == datetime(2026, 11, 5, 7, tzinfo=UTC)


def _placement_quantity(quantity: str) -> str:
    return DESIGN_EXAMPLE.replace(
        'from: "2026-11-10T08:00:00Z"}\n', f'from: "2026-11-10T08:00:00Z", quantity: {quantity}}}\n'
    )


@pytest.mark.parametrize(
    ("text", "message"),
    [
        # The quantity of a placement: a positive integer, nothing that merely looks like one.
        (
            _placement_quantity("0"),
            "line 25: placements.1.quantity: Input should be greater than 0",
        ),
        (
            _placement_quantity("-3"),
            "line 25: placements.1.quantity: Input should be greater than 0",
        ),
        (
            _placement_quantity("2.5"),
            "line 25: placements.1.quantity: Input should be a valid integer",
        ),
        (
            _placement_quantity('"40"'),
            "line 25: placements.1.quantity: Input should be a valid integer",
        ),
        (
            _placement_quantity("true"),
            "line 25: placements.1.quantity: Input should be a valid integer",
        ),
        # A sensor's dates.
        (
            PROBE_SWAP.replace("{id: p2}", "{id: p2, installed: 2026-11-05, removed: 2026-11-01}"),
            "line 11: sites.0.units.0.sensors.1.removed: removed 2026-11-01 is not after "
            "installed 2026-11-05",
        ),
        (
            PROBE_SWAP.replace("{id: p2}", "{id: p2, installed: 2026-11-05, removed: 2026-11-05}"),
            "line 11: sites.0.units.0.sensors.1.removed: removed 2026-11-05 is not after "
            "installed 2026-11-05",
        ),
        (
            # Midnight in Zurich is 23:00 UTC the day before: 22:30Z is before it.
            PROBE_SWAP.replace(
                "{id: p2}", '{id: p2, installed: 2026-11-05, removed: "2026-11-04T22:30:00Z"}'
            ),
            "line 11: sites.0.units.0.sensors.1.removed: removed 2026-11-04T22:30:00+00:00 is "
            "not after installed 2026-11-05",
        ),
        (
            PROBE_SWAP.replace("{id: p2}", '{id: p2, installed: "2026-11-05T08:00:00"}'),
            "line 11: sites.0.units.0.sensors.1.installed: Value error, needs a time zone "
            "offset or Z (or give a date)",
        ),
        (
            PROBE_SWAP.replace("{id: p2}", "{id: p2, removed: soon}"),
            "line 11: sites.0.units.0.sensors.1.removed: Value error, expected a date "
            "(2026-11-05) or an RFC 3339 time with its offset (2026-11-05T08:00:00+01:00)",
        ),
        (
            PROBE_SWAP.replace(
                "loggers: [{id: LOG-100, sensors: [{id: p1}]",
                "loggers: [{id: LOG-100, sensors: [{id: p1, installed: 2026-11-05, "
                "removed: 2026-10-05}]",
            ),
            "line 23: shipments.0.loggers.0.sensors.0.removed: removed 2026-10-05 is not after "
            "installed 2026-11-05",
        ),
        (
            PROBE_SWAP.replace("timezone: Europe/Zurich", "timezone: Mars/Olympus"),
            "line 11: sites.0.units.0.sensors.0: unknown time zone 'Mars/Olympus' for the "
            "dates of p1",
        ),
        # An offline logger says so with a boolean.
        (
            PROBE_SWAP.replace("offline: true", 'offline: "maybe"'),
            "line 23: shipments.0.loggers.0.offline: Input should be a valid boolean",
        ),
    ],
)
def test_bad_new_keys_name_the_line_and_field(tmp_path: Path, text: str, message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        load_fleet(_write(tmp_path, text))
    assert f"{tmp_path / 'fleet.yaml'}: {message}" in str(caught.value)
