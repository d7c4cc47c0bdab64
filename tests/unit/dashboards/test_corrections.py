"""Calibration corrections in the dashboards (#22): which certificates a build bakes in (the
fleet file's, or the catalog's when given), the certificate periods a query is cut into,
the panels that say which certificate corrects them, and `build`'s catalog errors. That the
queries return the corrected values on InfluxDB: tests/integration/
test_dashboards_calibration.py."""

from __future__ import annotations

import json
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

import numpy as np
import pytest
import yaml
from typer.testing import CliRunner

from cli.dashboards_cmd import dashboards_app
from coldchain.catalog import catalog_session, create_catalog_engine
from coldchain.catalog.calibration import (
    NewCertificate,
    calibrations,
    find_probe,
    record_certificate,
)
from coldchain.fleet import Fleet
from coldchain.judgement.calibration import SINCE_EVER_MS, Calibration, Certificate
from coldchain.models import SensorKey
from dashboards.corrections import CertificatePeriod, certificate_periods
from dashboards.inputs import BuildInputs, fleet_corrections, inputs_from_fleet
from dashboards.render import build_dashboards, generated_markdown, iter_targets
from tests.support.catalog import catalog_from_fleet

DAY = 86_400_000
BARE = Certificate(None, None, SINCE_EVER_MS, 10 * DAY)
FIRST = Certificate("CAL-1", "Metrolab", 5 * DAY, 20 * DAY, 0.3)
SECOND = Certificate("CAL-2", "Metrolab", 15 * DAY, 40 * DAY)

FLEET_YAML = """\
sponsors: [{id: ACME, name: Acme}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - id: F1
        kind: refrigerator
        setpoint_c: 5.0
        sensors:
          - id: p1
            calibration_due: 2026-06-01
            calibration:
              - {certificate: CAL-1, lab: Metrolab, calibrated: 2026-11-02, due: 2027-11-02,
                 offset_c: 0.5}
          - id: p2
            calibration:
              - {certificate: CAL-9, lab: Metrolab, calibrated: 2026-11-02, due: 2027-11-02}
shipments:
  - id: SHP-1
    origin: BSL
    destination: BSL
    loggers:
      - id: LOG-1
        sensors:
          - id: p1
            calibration:
              - {certificate: CAL-L, lab: Metrolab, calibrated: 2026-11-01, due: 2027-11-01,
                 offset_c: -0.3}
              - {certificate: CAL-M, lab: Metrolab, calibrated: 2026-11-20, due: 2027-11-20}
"""
UNIT_P1 = SensorKey("BSL", "unit", "F1", "p1")
LOGGER_P1 = SensorKey("BSL", "logger", "LOG-1", "p1")
# 2026-11-02 00:00 in Zurich (CET, +01:00).
CAL_1_MS = 1_793_574_000_000


def _fleet(text: str = FLEET_YAML) -> Fleet:
    return Fleet.model_validate(yaml.safe_load(text))


def _panels(inputs: BuildInputs) -> dict[str, dict[str, Any]]:
    return {
        f"{uid} / {panel['title']}": panel
        for uid, data in build_dashboards(inputs).items()
        for panel, _ in iter_targets(data)
    }


def test_periods_cut_the_timeline_where_each_certificate_is_calibrated() -> None:
    calibration = Calibration.of([SECOND, BARE, FIRST])
    periods = certificate_periods(calibration)
    assert periods == (
        CertificatePeriod(None, 5 * DAY, 0.0, None),
        CertificatePeriod(5 * DAY, 15 * DAY, 0.3, "CAL-1"),
        CertificatePeriod(15 * DAY, None, 0.0, "CAL-2"),
    )
    # each period's offset is the rule's at its first and its last millisecond
    for period in periods:
        first = SINCE_EVER_MS + 1 if period.start_ms is None else period.start_ms
        last = 2**62 if period.end_ms is None else period.end_ms - 1
        times = np.array([first, last], dtype=np.int64)
        assert calibration.offsets(times).tolist() == [period.offset_c] * 2


def test_before_the_first_certificate_readings_are_as_sent() -> None:
    assert certificate_periods(Calibration.of([FIRST])) == (
        CertificatePeriod(None, 5 * DAY, 0.0, None),
        CertificatePeriod(5 * DAY, None, 0.3, "CAL-1"),
    )


def test_the_fleet_file_gives_the_corrections_the_catalog_records_on_import(
    tmp_path: Path,
) -> None:
    found = fleet_corrections(_fleet())
    # p2's certificate gives no correction: its readings stay as sent
    assert set(found) == {UNIT_P1, LOGGER_P1}
    assert found[UNIT_P1].at(CAL_1_MS) == Certificate(
        "CAL-1", "Metrolab", CAL_1_MS, CAL_1_MS + 365 * DAY, 0.5
    )
    engine = create_catalog_engine(catalog_from_fleet(tmp_path, FLEET_YAML))
    try:
        with catalog_session(engine) as session:
            recorded = calibrations(session)
    finally:
        engine.dispose()
    assert found == {k: c for k, c in recorded.items() if c.corrects}


def test_certificates_without_a_correction_change_no_query() -> None:
    data = yaml.safe_load(FLEET_YAML)
    sensors = [s for site in data["sites"] for u in site["units"] for s in u["sensors"]]
    sensors += [s for sh in data["shipments"] for lg in sh["loggers"] for s in lg["sensors"]]
    for sensor in sensors:
        for certificate in sensor.get("calibration", []):
            certificate["offset_c"] = 0.0
    uncorrected = Fleet.model_validate(data)
    for sensor in sensors:
        sensor.pop("calibration", None)
    assert fleet_corrections(uncorrected) == {}
    assert build_dashboards(inputs_from_fleet(uncorrected)) == build_dashboards(
        inputs_from_fleet(Fleet.model_validate(data))
    )


def test_panels_of_corrected_temperatures_name_the_certificate() -> None:
    panels = _panels(inputs_from_fleet(_fleet()))
    unit = "BSL/F1 p1 corrected per certificate CAL-1 (+0.5 °C from 2026-11-01T23:00:00.000Z)"
    logger = (
        "LOG-1 p1 corrected per certificate CAL-L"
        " (-0.3 °C from 2026-10-31T23:00:00.000Z until 2026-11-19T23:00:00.000Z)"
    )
    described = {name: p["description"] for name, p in panels.items() if p.get("description")}
    assert set(described) == {
        "coldchain-fleet / Current temperature (coloured by the unit's limits)",
        "coldchain-unit / Probe temperatures (every reading)",
        "coldchain-unit / Min / max / mean per $resolution (downsampled, for long ranges)",
        "coldchain-shipment / Logger temperatures along the lane",
    }
    for name, text in described.items():
        assert (logger if name.startswith("coldchain-shipment") else unit) in text, name
        assert "CAL-9" not in text
        assert "CAL-M" not in text
    assert "a bucket takes the correction in force at its start" in (
        described[
            "coldchain-unit / Min / max / mean per $resolution (downsampled, for long ranges)"
        ].lower()
    )


def test_corrected_queries_read_each_certificate_period_once() -> None:
    panels = _panels(inputs_from_fleet(_fleet()))
    [probes] = panels["coldchain-unit / Probe temperatures (every reading)"]["targets"]
    query = probes["query"]
    assert query.count("(SELECT ") == 3  # the other probes, p1 before CAL-1, p1 under CAL-1
    assert '"temp_c" + 0.5 AS "temp_c" FROM "reading"' in query
    assert query.endswith(
        f'time >= {CAL_1_MS}ms) WHERE $timeFilter GROUP BY "site", "device", "sensor"'
    )
    [logger] = panels["coldchain-shipment / Logger temperatures along the lane"]["targets"]
    assert '"temp_c" - 0.3 AS "temp_c"' in logger["query"]
    [delay] = panels[
        "coldchain-shipment / Arrival delay: backfilled readings (orange) came from logger memory"
    ]["targets"]
    assert "(SELECT" not in delay["query"]  # arrival times are not temperatures


def test_the_generated_readme_lists_the_corrections_baked_in() -> None:
    inputs = inputs_from_fleet(_fleet())
    markdown = generated_markdown(build_dashboards(inputs), inputs)
    assert "### Calibration corrections baked into the build" in markdown
    assert "| unit BSL/F1 p1 | CAL-1 | +0.5 °C | from 2026-11-01T23:00:00.000Z |" in markdown
    assert (
        "| logger LOG-1 p1 | CAL-L | -0.3 °C "
        "| from 2026-10-31T23:00:00.000Z until 2026-11-19T23:00:00.000Z |"
    ) in markdown


def _build(tmp_path: Path, *args: str) -> tuple[int, str, dict[str, Any]]:
    out = tmp_path / "built"
    result = CliRunner().invoke(dashboards_app, ["build", "-o", str(out), *args])
    unit = out / "coldchain-unit.json"
    data = json.loads(unit.read_text()) if unit.exists() else {}
    return result.exit_code, result.output, data


def test_build_from_the_catalog_takes_its_certificates_over_the_fleet_file(
    tmp_path: Path,
) -> None:
    url = catalog_from_fleet(tmp_path, FLEET_YAML)
    engine = create_catalog_engine(url)
    try:
        with catalog_session(engine) as session:  # as `coldchain calibration add` records it
            record_certificate(
                session,
                find_probe(session, "BSL/F1/p2"),
                NewCertificate("CAL-10", "Metrolab", date(2026, 11, 3), date(2027, 11, 3), 0.2),
                actor="test",
                at=datetime.now(UTC),
            )
    finally:
        engine.dispose()
    fleet = tmp_path / "fleet.yaml"
    code, output, from_fleet = _build(tmp_path, "--fleet", str(fleet))
    assert code == 0, output
    assert "calibration corrections of 2 probes, from the fleet file" in output
    assert "CAL-10" not in str(from_fleet)
    code, output, from_catalog = _build(tmp_path, "--fleet", str(fleet), "--catalog-url", url)
    assert code == 0, output
    assert "calibration corrections of 3 probes, from the catalog" in output
    assert "BSL/F1 p2 corrected per certificate CAL-10" in str(from_catalog)
    assert '"temp_c" + 0.2 AS "temp_c"' in str(from_catalog)


@pytest.mark.parametrize(
    ("url", "code", "message"),
    [
        ("no-such-scheme://x", 2, "refused: catalog_url: "),
        ("sqlite:///{tmp}/empty.sqlite3", 1, "catalog error: catalog schema missing"),
    ],
)
def test_build_says_why_it_cannot_read_the_catalog(
    tmp_path: Path, url: str, code: int, message: str
) -> None:
    exit_code, output, built = _build(tmp_path, "--catalog-url", url.format(tmp=tmp_path))
    assert exit_code == code, output
    assert message in output
    assert built == {}  # nothing written
