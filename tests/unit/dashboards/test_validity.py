"""Reading validity in the dashboards (docs/design.md §11): every panel that draws
temperatures from raw `reading` points ANDs the one condition of
`coldchain.influx.valid_readings_condition` into its WHERE (built from the settings' rule),
and the downsampled band leaves out buckets with an invalid min or max (the buckets are
computed from valid readings only: tests/integration/test_downsampling.py)."""

from __future__ import annotations

import re

from coldchain.config import Settings
from coldchain.downsampling import DEFAULT_VALIDITY, RESOLUTIONS, valid_buckets_condition
from coldchain.fleet import load_fleet
from coldchain.influx import valid_readings_condition
from coldchain.judgement.validity import ReadingValidity
from dashboards.inputs import BuildInputs, inputs_from_fleet
from dashboards.render import build_dashboards, dashboard_text, iter_targets
from tests.unit.dashboards.test_build import DEMO

CONDITION = '("temp_c" >= -100.0 AND "temp_c" <= 70.0 AND "temp_c" != -127.0 AND "temp_c" != 85.0)'
# Queries reading temperatures from raw readings (not `received_ms`, not the downsampled RPs).
_RAW_TEMPERATURES = re.compile(r'SELECT .*"temp_c"\)? .*FROM "reading"')


def _queries(inputs: BuildInputs) -> dict[str, str]:
    return {
        f"{uid} / {panel['title']}": str(target["query"])
        for uid, data in build_dashboards(inputs).items()
        for panel, target in iter_targets(data)
    }


def test_the_default_rule_is_the_one_of_the_settings_defaults() -> None:
    defaults = Settings.model_construct()  # the environment left out, as the build does
    assert ReadingValidity.from_settings(defaults) == DEFAULT_VALIDITY
    assert valid_readings_condition(DEFAULT_VALIDITY) == CONDITION


def test_every_raw_temperature_panel_filters_invalid_readings() -> None:
    for inputs in (BuildInputs(), inputs_from_fleet(load_fleet(DEMO))):
        queries = _queries(inputs)
        raw = {name: q for name, q in queries.items() if _RAW_TEMPERATURES.search(q)}
        assert set(raw) == {
            "coldchain-fleet / Current temperature (coloured by the unit's limits)",
            "coldchain-unit / Probe temperatures (every reading)",
            "coldchain-shipment / Logger temperatures along the lane",
        }
        for name, query in raw.items():
            assert f"AND {CONDITION} GROUP BY" in query, name


def test_the_band_leaves_out_buckets_with_an_invalid_min_or_max() -> None:
    (band,) = [
        q for name, q in _queries(BuildInputs()).items() if name.startswith("coldchain-unit / Min")
    ]
    assert valid_buckets_condition(DEFAULT_VALIDITY, RESOLUTIONS[0]) in band
    assert '"temp_c_max" != 85.0' in band


def test_other_validity_settings_give_other_conditions_and_stable_bytes() -> None:
    validity = ReadingValidity(error_values_c=(99.5,), probe_min_c=-55.0, probe_max_c=125.0)
    inputs = inputs_from_fleet(load_fleet(DEMO), validity=validity)
    probes = _queries(inputs)["coldchain-unit / Probe temperatures (every reading)"]
    assert '("temp_c" >= -55.0 AND "temp_c" <= 125.0 AND "temp_c" != 99.5)' in probes
    first = {uid: dashboard_text(d) for uid, d in build_dashboards(inputs).items()}
    again = {uid: dashboard_text(d) for uid, d in build_dashboards(inputs).items()}
    assert first == again
