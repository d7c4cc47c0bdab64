"""Large generated fleets validate and simulate."""

from __future__ import annotations

from pathlib import Path

from coldchain.fleet import Fleet, load_fleet
from simulators.fleetgen import generate_fleet, main
from simulators.plan import build_plan
from tests.unit.simulators.factories import DAY_MS, START_MS


def test_generated_fleet_has_200_units_and_20_shipments_and_validates() -> None:
    fleet = Fleet.model_validate(generate_fleet(units=200, shipments=20, seed=1))
    plan = build_plan(fleet, START_MS, START_MS + 7 * DAY_MS)
    assert len(plan.units) == 200
    assert len(plan.shipments) == 20
    assert plan.faults
    assert generate_fleet(seed=1) == generate_fleet(seed=1)


def test_fleetgen_writes_a_loadable_file(tmp_path: Path) -> None:
    out = tmp_path / "fleet.yaml"
    main(["--units", "30", "--shipments", "3", "-o", str(out)])
    assert sum(len(s.units) for s in load_fleet(out).sites) == 30
