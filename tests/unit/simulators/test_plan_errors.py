"""A bad `simulation:` key or fleet file is refused with the field named."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import pytest
from typer.testing import CliRunner

from coldchain.errors import ConfigError
from simulators.plan import build_plan
from tests.unit.simulators.factories import DAY_MS, START_MS, fleet, shipment, unit


def _plan(**kwargs: Any) -> None:
    build_plan(fleet(**kwargs), START_MS, START_MS + DAY_MS)


@pytest.mark.parametrize(
    ("kwargs", "message"),
    [
        (
            {"units": [unit(faults=[{"kind": "meteor", "at": "1h"}])]},
            "sites[0].units[0](F1).simulation.faults.0.kind",
        ),
        (
            {"units": [unit(faults=[{"kind": "stuck_sensor", "at": "1h", "sensor": "p9"}])]},
            "sites[0].units[0](F1).simulation.faults[0].sensor: unknown sensor 'p9'",
        ),
        (
            {"units": [unit(faults=[{"kind": "power_outage", "at": "soon"}])]},
            "simulation.faults.0.at",
        ),
        (
            {"units": [unit(thermal={"ua_w_per_kk": 2})]},
            "simulation.thermal.ua_w_per_kk: Extra inputs are not permitted",
        ),
        ({"units": [unit(log_interval_s=45)]}, "units[0](F1).log_interval_s: 45"),
        (
            {"units": [unit(faults=[{"kind": "gateway_offline", "at": 0}])]},
            "faults[0].kind: gateway_offline is not a fault of a unit",
        ),
        ({"units": [unit(probes={"p7": {"offset_c": 1}})]}, "probes: unknown sensor 'p7'"),
        ({"shipments": [shipment(lane=[])]}, "shipments[0](SHP-1).simulation.lane"),
        (
            {"shipments": [shipment(faults=[{"kind": "low_battery", "at": 0, "logger": "X"}])]},
            "shipments[0](SHP-1).simulation.faults[0].logger: unknown logger 'X'",
        ),
        (
            {"faults": [{"kind": "gateway_offline", "site": "NOPE", "at": 0}]},
            "simulation.faults[0].site: unknown site 'NOPE'",
        ),
        ({"sites": {"NOPE": {"gateway": "g"}}}, "simulation.sites.NOPE: unknown site"),
    ],
)
def test_bad_simulation_keys_name_the_field(kwargs: dict[str, Any], message: str) -> None:
    with pytest.raises(ConfigError) as caught:
        _plan(**kwargs)
    assert message in str(caught.value)


def test_cli_refuses_a_bad_fleet_file_with_the_field_and_exit_2(tmp_path: Path) -> None:
    import typer

    from cli.simulate_cmd import simulate

    app = typer.Typer()
    app.command()(simulate)
    bad = tmp_path / "fleet.yaml"
    bad.write_text(
        "sites:\n  - id: BSL\n    units:\n      - id: F1\n        kind: fridge\n"
        "        setpoint_c: 5\n        sensors: [{id: p1}]\n"
    )
    result = CliRunner().invoke(app, [str(bad), "--to-file", str(tmp_path / "x.lp")])
    assert result.exit_code == 2
    assert "line 5: sites.0.units.0.kind" in result.output


def test_cli_writes_history_and_ground_truth_to_files(tmp_path: Path) -> None:
    import orjson
    import typer

    from cli.simulate_cmd import simulate

    app = typer.Typer()
    app.command()(simulate)
    out, truth = tmp_path / "h.csv", tmp_path / "truth.jsonl"
    demo = Path(__file__).resolve().parents[3] / "deploy" / "demo" / "fleet.yaml"
    result = CliRunner().invoke(
        app,
        [
            str(demo),
            "--to-file",
            str(out),
            "--file-format",
            "csv",
            "--duration",
            "1d",
            "--start",
            "2026-01-01T00:00:00Z",
            "--ground-truth",
            str(truth),
        ],
    )
    assert result.exit_code == 0, result.output
    lines = out.read_text().splitlines()
    assert lines[0].startswith("site,source,device,sensor,ts_ms,temp_c")
    assert len(lines) > 2000
    events = [orjson.loads(line) for line in truth.read_text().splitlines()]
    kinds = {e["kind"] for e in events}
    assert {
        "excursion",
        "compressor_failure",
        "sensor_fault",
        "connectivity_gap",
        "gateway_offline",
        "defrost",
    } <= kinds
    first = min(
        e["start_ms"]
        for e in events
        if e["kind"] == "excursion" and e["device"] == "FRIDGE-02" and e["alarm_expected"]
    )
    # The demo's compressor fails 19 h into the story; the fridge leaves 2–8 °C within the hour.
    assert 19 * 3_600_000 < first - 1_767_225_600_000 < 20 * 3_600_000
