"""Template variables cannot change what a query asks: no shipped dashboard inserts a
variable unescaped (`:raw`), and a value crafted into a dashboard URL stays inside its
regex literal. Grafana is for the CMO's staff: the shipped compose file gives no anonymous,
public or self-registered access."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest

from dashboards.inputs import BuildInputs
from dashboards.macros import TimeRange, VariableValue, interpolate
from dashboards.render import build_dashboards
from tests.support.deployfiles import environment, filled_env_example, load_compose

REPO = Path(__file__).resolve().parents[3]
BUILT = sorted((REPO / "deploy" / "grafana" / "dashboards").glob("*.json"))
SPAN = TimeRange("now-6h", "now", 0, 21_600_000)
# A regex literal of InfluxQL, escapes included: what a variable may change, and only that.
_REGEX_LITERAL = re.compile(r"/(?:[^/\\\n]|\\.)*/")
CRAFTED = (
    'x)$/ OR "device" =~ /.*',
    "x$/; SELECT * FROM reading",
    "x\\/ OR 1=1 /",
)


def _queries(data: Any) -> list[str]:
    """Every query text of a dashboard: panel targets and variable queries."""
    if isinstance(data, dict):
        found = [v for k, v in data.items() if k == "query" and isinstance(v, str)]
        return found + [q for v in data.values() for q in _queries(v)]
    if isinstance(data, list):
        return [q for v in data for q in _queries(v)]
    return []


@pytest.mark.parametrize("path", BUILT, ids=lambda p: p.name)
def test_no_shipped_dashboard_inserts_a_variable_raw(path: Path) -> None:
    queries = _queries(json.loads(path.read_text()))
    assert queries
    assert not [q for q in queries if ":raw}" in q or "[[" in q]


def test_no_dashboard_built_without_a_fleet_inserts_a_variable_raw() -> None:
    for data in build_dashboards(BuildInputs()).values():
        assert not [q for q in _queries(data) if ":raw}" in q or "[[" in q]


@pytest.mark.parametrize("crafted", CRAFTED)
@pytest.mark.parametrize("multi", [False, True])
def test_a_crafted_shipment_value_stays_inside_its_regex(crafted: str, multi: bool) -> None:
    shipment = json.loads((REPO / "deploy/grafana/dashboards/coldchain-shipment.json").read_text())
    sensor = VariableValue(("p1",), multi=True)
    for query in _queries(shipment):
        chosen = (crafted, "LOG-100") if multi else (crafted,)
        variables = {"shipment": VariableValue(chosen, multi=multi), "sensor": sensor}
        benign = {"shipment": VariableValue(("LOG-100",)), "sensor": sensor}
        attacked = interpolate(query, variables, SPAN, 60_000)
        expected = interpolate(query, benign, SPAN, 60_000)
        # Outside the regex literals the query is the same: no clause, no statement added.
        assert _REGEX_LITERAL.sub("/…/", attacked) == _REGEX_LITERAL.sub("/…/", expected)


def test_grafana_is_shipped_for_staff_only() -> None:
    grafana = environment(load_compose(filled_env_example())["services"]["grafana"])
    assert grafana["GF_AUTH_ANONYMOUS_ENABLED"] == "false"
    assert grafana["GF_USERS_ALLOW_SIGN_UP"] == "false"
    assert grafana["GF_PUBLIC_DASHBOARDS_ENABLED"] == "false"
    assert grafana["GF_SNAPSHOTS_EXTERNAL_ENABLED"] == "false"
    assert grafana["GF_USERS_VIEWERS_CAN_EDIT"] == "false"
