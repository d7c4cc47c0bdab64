from __future__ import annotations

from pathlib import Path

import pytest

from coldchain.errors import ConfigError
from coldchain.fleet import load_fleet

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
