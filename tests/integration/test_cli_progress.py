"""Long verbs on the command line (issue #19): `export`, `backup`, `restore`,
`catalog import` and `logger import` each end with a one-line summary on stdout, draw their
progress on stderr only when it is a terminal, and leave piped output free of control
characters. Against real influxd and mosquitto."""

from __future__ import annotations

import re
from collections.abc import AsyncIterator, Mapping
from pathlib import Path

import pytest
from typer.testing import CliRunner, Result

from cli.main import app
from tests.support.export_world import ExportWorld, iso, open_export_world, series, write
from tests.support.real_loggers import real_path
from tests.support.servers import InfluxServer, MosquittoServer

pytestmark = pytest.mark.integration

FLEET = f"""\
sponsors: [{{id: ACME, name: Acme Pharma}}]
sites:
  - id: BSL
    timezone: Europe/Zurich
    units:
      - {{id: FRIDGE-01, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60,
         sensors: [{{id: p1}}]}}
products:
  - id: VAX-1
    sponsor: ACME
    storage: {{min_c: 2.0, max_c: 8.0, alarm_delay_min: 30}}
batches: [{{id: LOT-1, product: VAX-1}}]
shipments:
  - {{id: SHP-1, origin: BSL, destination: BSL,
     loggers: [{{id: RCPJ00010, sensors: [{{id: t1}}], log_interval_s: 600}}]}}
placements:
  - {{batch: LOT-1, unit: BSL/FRIDGE-01, from: "{iso(0)}", to: "{iso(6)}"}}
"""
READINGS = 6 * 60  # one a minute for the placement's six hours

# What decides whether rich sees a terminal; None removes a variable set around the test.
PIPED: Mapping[str, str | None] = {"TTY_COMPATIBLE": None, "FORCE_COLOR": None}
TERMINAL: Mapping[str, str | None] = {"TTY_COMPATIBLE": "1", "TERM": "xterm-256color"}
CONTROL = re.compile(r"[\x1b\r]")
ESCAPE = re.compile(r"\x1b\[[0-9;?]*[A-Za-z]")
runner = CliRunner()


@pytest.fixture
async def world(
    influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> AsyncIterator[ExportWorld]:
    async with open_export_world(FLEET, influxd.url, influx_db, tmp_path) as world:
        await write(world, series("FRIDGE-01", 0, 6, lambda _: 5.0))
        yield world


def _run(env: Mapping[str, str | None], *args: str) -> Result:
    result = runner.invoke(app, list(args), env=env)
    assert result.exit_code == 0, result.stdout + result.stderr
    return result


def _export(world: ExportWorld, out: Path, env: Mapping[str, str | None]) -> Result:
    return _run(
        env,
        "export", "LOT-1", "--format", "csv", "-o", str(out),
        "--influx-url", world.influx_url, "--influx-db", world.influx_db,
        "--catalog-url", world.catalog_url, "--data-dir", str(world.data_dir),
    )  # fmt: skip


def _last_line(result: Result) -> str:
    return result.stdout.splitlines()[-1]


def _drawn(result: Result) -> str:
    """What a terminal shows of stderr's progress lines, colours and cursor moves left out."""
    return ESCAPE.sub("", result.stderr)


def _clean(result: Result) -> None:
    assert not CONTROL.search(result.stdout), result.stdout
    assert not CONTROL.search(result.stderr), result.stderr


def test_export_ends_with_its_summary_and_piped_output_has_no_progress_bar(
    world: ExportWorld, tmp_path: Path
) -> None:
    result = _export(world, tmp_path / "lot-1.csv", PIPED)
    assert re.fullmatch(
        rf"exported LOT-1 as csv: {READINGS} readings in \d+\.\d s, sha256 [0-9a-f]{{64}}",
        _last_line(result),
    )
    assert result.stdout.startswith("exported batch LOT-1 as csv to ")  # the line scripts read
    _clean(result)


def test_on_a_terminal_the_export_counts_its_readings_on_stderr(
    world: ExportWorld, tmp_path: Path
) -> None:
    result = _export(world, tmp_path / "lot-1.csv", TERMINAL)
    assert "\x1b[" in result.stderr
    assert re.search(rf"readings ━+ {READINGS}/{READINGS} 0:00:\d\d", _drawn(result))
    assert not CONTROL.search(result.stdout)


def test_backup_and_restore_end_with_their_summaries_without_a_progress_bar_when_piped(
    world: ExportWorld, influx_db: str, tmp_path: Path
) -> None:
    backup_dir = tmp_path / "backup"
    made = _run(
        PIPED,
        "backup", str(backup_dir), "--influx-url", world.influx_url,
        "--influx-db", world.influx_db, "--catalog-url", world.catalog_url,
        "--data-dir", str(world.data_dir),
    )  # fmt: skip
    assert "backup complete" in made.stdout
    backed = re.fullmatch(
        rf"backed up to {re.escape(str(backup_dir))}: (\d+) catalog rows, {READINGS} points, "
        r"\d+ data-dir files in \d+\.\d s",
        _last_line(made),
    )
    assert backed is not None, made.stdout
    _clean(made)
    target = tmp_path / "restored"
    restored = _run(
        PIPED,
        "restore", str(backup_dir), "--influx-url", world.influx_url,
        "--influx-db", f"{influx_db}_restored",
        "--catalog-url", f"sqlite:///{target / 'catalog.sqlite3'}", "--data-dir", str(target),
    )  # fmt: skip
    assert "restore complete" in restored.stdout
    assert re.fullmatch(
        rf"restored from {re.escape(str(backup_dir))}: {backed[1]} catalog rows, {READINGS} "
        r"points, \d+ data-dir files in \d+\.\d s",
        _last_line(restored),
    ), restored.stdout
    _clean(restored)


def test_catalog_import_ends_with_its_summary_without_a_progress_bar_when_piped(
    data_dir: Path, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET, encoding="utf-8")
    result = _run(PIPED, "catalog", "import", str(fleet), "--data-dir", str(data_dir))
    assert result.stdout.splitlines() == [
        "created 1 batch; created 1 logger; created 1 placement; created 1 product; "
        "created 1 product_condition; created 2 sensor; created 1 shipment; created 1 site; created 1 sponsor; "
        "created 1 unit"
    ]
    _clean(result)


def test_on_a_terminal_the_catalog_import_counts_the_fleets_objects(
    data_dir: Path, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET, encoding="utf-8")
    result = _run(TERMINAL, "catalog", "import", str(fleet), "--data-dir", str(data_dir))
    # sponsor, site, unit, product, batch, shipment, placement
    assert re.search(r"fleet objects ━+ 7/7 0:00:\d\d", _drawn(result))


def test_logger_import_ends_with_its_summary_without_a_progress_bar_when_piped(
    mosquitto: MosquittoServer, data_dir: Path, tmp_path: Path
) -> None:
    fleet = tmp_path / "fleet.yaml"
    fleet.write_text(FLEET, encoding="utf-8")
    _run(PIPED, "catalog", "import", str(fleet), "--data-dir", str(data_dir))
    path = real_path("qtag_run2")
    result = _run(
        PIPED,
        "logger", "import", str(path), "--shipment", "SHP-1", "--mqtt-url", mosquitto.url,
        "--data-dir", str(data_dir), "--timeout", "20",
    )  # fmt: skip
    assert "imported: 124 readings in 1 messages acknowledged by the broker" in result.stdout
    assert re.fullmatch(
        rf"imported {re.escape(path.name)} to shipment SHP-1 \(BSL/logger/RCPJ00010/t1\): "
        r"124 readings in \d+\.\d s",
        _last_line(result),
    ), result.stdout
    _clean(result)
