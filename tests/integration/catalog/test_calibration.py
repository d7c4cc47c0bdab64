"""Calibration certificates in the catalog (#22): from the fleet file and `coldchain
calibration add|list`, audited, never rewritten; what the detector and the record load."""

from __future__ import annotations

from datetime import UTC, date, datetime
from pathlib import Path

import pytest
from sqlalchemy import Engine, select
from typer.testing import CliRunner

from cli.main import app
from coldchain.catalog import catalog_session, import_fleet
from coldchain.catalog.calibration import calibrations
from coldchain.catalog.schema import AuditEntryRow, CalibrationCertificateRow
from coldchain.errors import ConfigError
from coldchain.models import SensorKey
from coldchain.times import to_ms
from tests.support.catalog import FLEET_YAML

runner = CliRunner()
P1 = "{id: p1, calibration_due: 2027-03-01}"
CERTIFIED = (
    "{id: p1, calibration_due: 2027-03-01, calibration: [{certificate: CAL-123, lab: Metrolab,"
    " calibrated: 2026-03-01, due: 2027-03-01, offset_c: 0.3}]}"
)
FRIDGE_P1 = SensorKey("BSL", "unit", "FRIDGE-01", "p1")


def _fleet(tmp_path: Path, text: str) -> Path:
    path = tmp_path / "fleet.yaml"
    path.write_text(text, encoding="utf-8")
    return path


def test_fleet_file_certificates_are_recorded_once_and_audited(
    engine: Engine, tmp_path: Path
) -> None:
    fleet = _fleet(tmp_path, FLEET_YAML.replace(P1, CERTIFIED))
    report = import_fleet(engine, fleet, actor="test")
    assert report.created["calibration certificate"] == 1
    assert not import_fleet(engine, fleet, actor="test").changed
    with catalog_session(engine) as session:
        row = session.execute(select(CalibrationCertificateRow)).scalar_one()
        # midnight in Zurich
        assert row.calibrated_at == datetime(2026, 2, 28, 23, tzinfo=UTC)
        assert (row.due_on, row.offset_c, row.recorded_by) == (date(2027, 3, 1), 0.3, "test")
        entry = session.execute(
            select(AuditEntryRow).where(AuditEntryRow.entity == "calibration_certificate")
        ).scalar_one()
        assert entry.entity_id == "BSL/FRIDGE-01/p1/CAL-123"
        assert '"offset_c":0.3' in (entry.new_value or "")
        found = calibrations(session)
    bare, certificate = found[FRIDGE_P1].certificates
    assert (bare.certificate, bare.due_ms) == (None, to_ms(datetime(2027, 2, 28, 23, tzinfo=UTC)))
    assert (certificate.certificate, certificate.offset_c) == ("CAL-123", 0.3)


def test_a_certificate_is_never_rewritten_by_a_later_file(engine: Engine, tmp_path: Path) -> None:
    import_fleet(engine, _fleet(tmp_path, FLEET_YAML.replace(P1, CERTIFIED)), actor="test")
    rewritten = _fleet(tmp_path, FLEET_YAML.replace(P1, CERTIFIED.replace("0.3", "0.5")))
    with pytest.raises(ConfigError) as refused:
        import_fleet(engine, rewritten, actor="test")
    message = str(refused.value)
    assert "sites.0.units.0.sensors.0.calibration.0" in message
    assert "certificate CAL-123 is recorded with other offset_c" in message
    assert "never rewritten" in message


def test_a_fleet_file_certificate_due_before_its_calibration_is_refused_naming_the_line(
    tmp_path: Path, data_dir: Path
) -> None:
    bad = _fleet(
        tmp_path, FLEET_YAML.replace(P1, CERTIFIED.replace("due: 2027-03-01", "due: 2026-01-01"))
    )
    result = runner.invoke(app, ["catalog", "import", str(bad), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "line 12: sites.0.units.0.sensors.0.calibration.0" in result.stderr
    assert "due 2026-01-01 must be after calibrated 2026-03-01" in result.stderr


def _cli(data_dir: Path, *args: str) -> tuple[int, str, str]:
    result = runner.invoke(app, ["calibration", *args, "--data-dir", str(data_dir)])
    return result.exit_code, result.stdout, result.stderr


ADD = ("--certificate", "CAL-9", "--lab", "Metrolab", "--calibrated", "2026-06-01")


def test_calibration_add_and_list(data_dir: Path, fleet_file: Path) -> None:
    assert (
        runner.invoke(
            app, ["catalog", "import", str(fleet_file), "--data-dir", str(data_dir)]
        ).exit_code
        == 0
    )
    code, out, err = _cli(
        data_dir, "add", "SHP-100/LOG-100/p1", *ADD, "--due", "2027-06-01", "--offset-c", "-0.2"
    )
    assert (code, out.strip()) == (0, "recorded certificate CAL-9 of SHP-100/LOG-100/p1"), err
    code, out, _ = _cli(
        data_dir, "add", "SHP-100/LOG-100/p1", *ADD, "--due", "2027-06-01", "--offset-c", "-0.2"
    )
    assert (code, out.strip()) == (
        0,
        "certificate CAL-9 of SHP-100/LOG-100/p1 is recorded already: nothing changed",
    )
    code, out, _ = _cli(data_dir, "list")
    assert code == 0
    (line,) = out.strip().splitlines()
    assert line.startswith(
        "SHP-100/LOG-100/p1\tCAL-9\tlab Metrolab\tcalibrated 2026-06-01\tdue 2027-06-01\t"
        "correction -0.2 °C\trecorded "
    )
    code, out, err = _cli(
        data_dir, "add", "BSL/FRIDGE-01/p2", *ADD, "--due", "2027-06-01", "--actor", "omar"
    )
    assert code == 0, err
    lines = _cli(data_dir, "list", "BSL/FRIDGE-01/p2")[1].strip().splitlines()
    assert len(lines) == 1
    assert lines[0].startswith("BSL/FRIDGE-01/p2\tCAL-9\t")
    assert lines[0].endswith(" by omar")
    assert "\tcorrection none\t" in lines[0]
    code, out, _ = _cli(data_dir, "list", "BSL/FRIDGE-01/p1")
    assert (code, out.strip()) == (0, "no calibration certificates recorded")


@pytest.mark.parametrize(
    ("args", "error"),
    [
        (
            ("BSL/FRIDGE-01/p9", *ADD, "--due", "2027-06-01"),
            "calibration add: no probe BSL/FRIDGE-01/p9 in the catalog",
        ),
        (
            ("FRIDGE-01/p1", *ADD, "--due", "2027-06-01"),
            "calibration add: 'FRIDGE-01/p1': expected SITE/UNIT/SENSOR or SHIPMENT/LOGGER/SENSOR",
        ),
        (
            ("BSL/FRIDGE-01/p1", *ADD, "--due", "June"),
            "--due 'June': expected a date like 2026-03-01",
        ),
        (
            ("BSL/FRIDGE-01/p1", *ADD, "--due", "2026-05-01"),
            "calibration add: BSL/FRIDGE-01/p1: certificate CAL-9: due 2026-05-01 is not after "
            "calibrated 2026-06-01",
        ),
        (
            ("BSL/FRIDGE-01/p1", *ADD, "--due", "2027-06-01", "--actor", "nobody"),
            "--actor 'nobody' is not a catalog user",
        ),
    ],
)
def test_calibration_add_refuses_with_exit_2(
    data_dir: Path, fleet_file: Path, args: tuple[str, ...], error: str
) -> None:
    assert (
        runner.invoke(
            app, ["catalog", "import", str(fleet_file), "--data-dir", str(data_dir)]
        ).exit_code
        == 0
    )
    code, _, err = _cli(data_dir, "add", *args)
    assert code == 2
    assert error in err


def test_calibration_add_never_rewrites_a_recorded_certificate(
    data_dir: Path, fleet_file: Path
) -> None:
    assert (
        runner.invoke(
            app, ["catalog", "import", str(fleet_file), "--data-dir", str(data_dir)]
        ).exit_code
        == 0
    )
    assert _cli(data_dir, "add", "BSL/FRIDGE-01/p1", *ADD, "--due", "2027-06-01")[0] == 0
    code, _, err = _cli(data_dir, "add", "BSL/FRIDGE-01/p1", *ADD, "--due", "2027-07-01")
    assert code == 2
    assert (
        "certificate CAL-9 is recorded with other due_on: certificates are recorded, never" in err
    )
    code, _, err = _cli(data_dir, "list", "BSL/FRIDGE-01/p9")
    assert (code, err.strip()) == (2, "calibration list: no probe BSL/FRIDGE-01/p9 in the catalog")


def test_a_certificate_listed_twice_for_one_probe_is_refused_naming_the_line(
    tmp_path: Path, data_dir: Path
) -> None:
    twice = CERTIFIED.replace(
        "]}", ", {certificate: CAL-123, lab: Other, calibrated: 2026-04-01, due: 2027-04-01}]}"
    )
    bad = _fleet(tmp_path, FLEET_YAML.replace(P1, twice))
    result = runner.invoke(app, ["catalog", "import", str(bad), "--data-dir", str(data_dir)])
    assert result.exit_code == 2
    assert "line 12: sites.0.units.0.sensors.0" in result.stderr
    assert "calibration: certificate CAL-123 listed twice" in result.stderr
