"""The build: deterministic bytes, stable uids, provisioning that names only built things,
and a dashboards/README.md whose generated part matches the code."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import yaml

from coldchain.fleet import load_fleet
from dashboards.influxql import DATASOURCE_UID, MIN_INTERVAL
from dashboards.inputs import BuildInputs, inputs_from_fleet
from dashboards.render import (
    README_BEGIN,
    README_END,
    build_dashboards,
    generated_markdown,
    iter_targets,
    write_dashboards,
)

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "deploy" / "demo" / "fleet.yaml"
GRAFANA = REPO / "deploy" / "grafana"
UIDS = {"coldchain-fleet", "coldchain-unit", "coldchain-shipment", "coldchain-pipeline"}


def _demo() -> BuildInputs:
    return inputs_from_fleet(load_fleet(DEMO))


def _bytes(directory: Path) -> dict[str, bytes]:
    return {p.name: p.read_bytes() for p in sorted(directory.glob("*.json"))}


def test_two_builds_are_byte_identical(tmp_path: Path) -> None:
    write_dashboards(build_dashboards(_demo()), tmp_path / "a")
    write_dashboards(build_dashboards(_demo()), tmp_path / "b")
    assert _bytes(tmp_path / "a") == _bytes(tmp_path / "b")
    assert set(_bytes(tmp_path / "a")) == {f"{uid}.json" for uid in UIDS}


def test_uids_are_stable_with_and_without_a_fleet() -> None:
    assert set(build_dashboards(BuildInputs())) == UIDS
    assert set(build_dashboards(_demo())) == UIDS


def test_committed_dashboards_are_the_build_of_the_demo_fleet(tmp_path: Path) -> None:
    write_dashboards(build_dashboards(_demo()), tmp_path)
    assert _bytes(GRAFANA / "dashboards") == _bytes(tmp_path), (
        "rebuild: coldchain dashboards build -o deploy/grafana/dashboards "
        "--fleet deploy/demo/fleet.yaml --readme dashboards/README.md"
    )


def _datasource_refs(value: Any) -> set[str]:
    if isinstance(value, dict):
        found = {str(value["uid"])} if value.get("type") == "influxdb" and "uid" in value else set()
        return found.union(*(_datasource_refs(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_datasource_refs(v) for v in value))
    return set()


def test_provisioning_parses_and_names_only_what_the_build_contains() -> None:
    sources = yaml.safe_load((GRAFANA / "provisioning/datasources/coldchain.yaml").read_text())
    providers = yaml.safe_load((GRAFANA / "provisioning/dashboards/coldchain.yaml").read_text())
    assert sources["apiVersion"] == providers["apiVersion"] == 1
    (source,) = sources["datasources"]
    assert source["uid"] == DATASOURCE_UID
    assert source["type"] == "influxdb"
    assert source["jsonData"]["version"] == "InfluxQL"
    assert source["jsonData"]["timeInterval"] == MIN_INTERVAL
    assert source["url"] == "$COLDCHAIN_INFLUX_URL"
    (provider,) = providers["providers"]
    assert provider["type"] == "file"
    dashboards = build_dashboards(_demo())
    assert set().union(*(_datasource_refs(d) for d in dashboards.values())) == {DATASOURCE_UID}
    built = {json.loads(p.read_text())["uid"] for p in (GRAFANA / "dashboards").glob("*.json")}
    assert built == set(dashboards)


def test_every_panel_query_is_raw_influxql() -> None:
    for data in build_dashboards(_demo()).values():
        targets = list(iter_targets(data))
        assert targets, data["uid"]
        for panel, target in targets:
            assert target["rawQuery"] is True, panel["title"]
            assert target["query"].startswith("SELECT"), panel["title"]


def test_unit_limits_come_from_the_products_placed_there() -> None:
    unit = build_dashboards(_demo())["coldchain-unit"]
    overrides = unit["panels"][0]["fieldConfig"]["overrides"]
    fridge = next(o for o in overrides if o["matcher"]["options"] == "^BSL/FRIDGE\\-01 ")
    steps = fridge["properties"][0]["value"]["steps"]
    assert [(s["value"], s["color"]) for s in steps] == [
        (None, "red"),
        (2.0, "orange"),
        (2.5, "green"),
        (7.5, "orange"),
        (8.0, "red"),
    ]


def test_readme_panel_list_is_up_to_date() -> None:
    inputs = _demo()
    text = (REPO / "dashboards" / "README.md").read_text(encoding="utf-8")
    generated = text.split(README_BEGIN, 1)[1].split(README_END, 1)[0]
    assert generated == "\n" + generated_markdown(build_dashboards(inputs), inputs)
