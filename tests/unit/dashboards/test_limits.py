"""The dashboards' unit limits are the domain's (docs/design.md §11,
`coldchain.judgement.limits`): the detector's strictest combination, warning band and kind
defaults, so a chart's colours never disagree with an alarm."""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path

import pytest

from alerting.config import DetectorConfig
from coldchain.config import Settings
from coldchain.fleet import Fleet, Product, load_fleet
from coldchain.judgement.limits import KIND_DEFAULT_RANGES, Limits, strictest
from dashboards.limits import DEFAULT_ALERT_MARGIN_C, UnitLimits, unit_limits

REPO = Path(__file__).resolve().parents[3]
DEMO = REPO / "deploy" / "demo" / "fleet.yaml"

SHARED_FLEET = """\
sponsors: [{id: ACME, name: Acme}, {id: GLOBEX, name: Globex}]
sites:
  - id: BSL
    units:
      - {id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, sensors: [{id: p1}]}
      - {id: FRIDGE-02, kind: refrigerator, setpoint_c: 5.0, sensors: [{id: p1}]}
      - {id: FREEZER-01, kind: freezer, setpoint_c: -20.0, sensors: [{id: p1}]}
products:
  - {id: VAX-1, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
  - {id: BIO-7, sponsor: GLOBEX, storage: {min_c: 3.0, max_c: 7.0, alarm_delay_min: 15}}
  - {id: NARROW-1, sponsor: GLOBEX, storage: {min_c: 4.0, max_c: 5.0, alarm_delay_min: 15}}
batches: [{id: A1, product: VAX-1}, {id: B1, product: BIO-7}, {id: N1, product: NARROW-1}]
placements:
  - {batch: A1, unit: BSL/FRIDGE-01, from: "2026-11-01T08:00:00Z"}
  - {batch: B1, unit: BSL/FRIDGE-01, from: "2026-11-02T08:00:00Z"}
  - {batch: N1, unit: BSL/FRIDGE-02, from: "2026-11-02T08:00:00Z"}
"""


def _fleet(tmp_path: Path, text: str = SHARED_FLEET) -> Fleet:
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    return load_fleet(path)


def _by_unit(limits: list[UnitLimits]) -> dict[str, UnitLimits]:
    return {u.name: u for u in limits}


def test_a_shared_unit_has_the_detectors_strictest_limits(tmp_path: Path) -> None:
    fleet = _fleet(tmp_path)
    products = {p.id: p for p in fleet.products}
    fridge = _by_unit(unit_limits(fleet))["BSL/FRIDGE-01"]
    assert (fridge.action_min_c, fridge.action_max_c) == (3.0, 7.0)
    assert (fridge.alert_min_c, fridge.alert_max_c) == (3.5, 6.5)
    # The label is the domain's too, as the detector's alert `condition` names it.
    assert fridge.source == "products BIO-7 + VAX-1"
    assert fridge.source == strictest([_condition(products[p]) for p in ("VAX-1", "BIO-7")]).label


def test_an_empty_unit_takes_the_domains_kind_default(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    # The one table: change it there and the dashboards follow (no copy of their own).
    monkeypatch.setitem(KIND_DEFAULT_RANGES, "freezer", (-30.0, -18.0))
    freezer = _by_unit(unit_limits(_fleet(tmp_path)))["BSL/FREEZER-01"]
    assert (freezer.action_min_c, freezer.action_max_c) == (-30.0, -18.0)
    assert (freezer.alert_min_c, freezer.alert_max_c) == (-29.5, -18.5)
    assert freezer.source == "kind freezer"


@pytest.mark.parametrize("margin_c", [DEFAULT_ALERT_MARGIN_C, 0.1, 2.0])
@pytest.mark.parametrize("fleet_text", [SHARED_FLEET, None])
def test_alert_limits_are_the_detectors_warning_limits(
    tmp_path: Path, margin_c: float, fleet_text: str | None
) -> None:
    fleet = _fleet(tmp_path, fleet_text) if fleet_text else load_fleet(DEMO)
    detector = DetectorConfig.from_settings(Settings(detect_warning_margin_c=margin_c))
    for unit in unit_limits(fleet, margin_c):
        warning = detector.warning_limits(_limits(unit))
        assert (unit.alert_min_c, unit.alert_max_c) == (warning.low_c, warning.high_c), unit


def test_the_default_margin_is_the_detectors() -> None:
    assert Settings().detect_warning_margin_c == DEFAULT_ALERT_MARGIN_C


@dataclass(frozen=True)
class _Condition:
    id: str
    min_c: float
    max_c: float
    alarm_delay_min: float


def _condition(product: Product) -> _Condition:
    s = product.storage
    return _Condition(product.id, s.min_c, s.max_c, s.alarm_delay_min)


def _limits(unit: UnitLimits) -> Limits:
    return Limits(unit.action_min_c, unit.action_max_c, 0, unit.source)
