"""`coldchain catalog import`, `audit verify`, `user add` and `token create` end to end."""

from __future__ import annotations

from pathlib import Path

from sqlalchemy import create_engine, text
from typer.testing import CliRunner

from cli.main import app
from tests.support.catalog import FLEET_YAML

runner = CliRunner()


def _run(*args: str, data_dir: Path, stdin: str | None = None) -> tuple[int, str, str]:
    result = runner.invoke(app, [*args, "--data-dir", str(data_dir)], input=stdin)
    return result.exit_code, result.stdout, result.stderr


def test_import_then_verify_then_tamper(data_dir: Path, fleet_file: Path) -> None:
    code, out, _ = _run("catalog", "import", str(fleet_file), data_dir=data_dir)
    assert code == 0, out
    assert "created 3 placement" in out
    code, out, _ = _run("catalog", "import", str(fleet_file), data_dir=data_dir)
    assert (code, out.strip()) == (0, "catalog already up to date: nothing changed")
    code, out, _ = _run("audit", "verify", data_dir=data_dir)
    assert code == 0
    assert out.startswith("audit trail intact: 23 entries")
    engine = create_engine(f"sqlite:///{data_dir / 'catalog.sqlite3'}")
    with engine.begin() as connection:
        connection.execute(text("UPDATE audit_log SET actor = 'mallory' WHERE seq = 3"))
    engine.dispose()
    code, _, err = _run("audit", "verify", data_dir=data_dir)
    assert code == 1
    assert "BROKEN at entry 3" in err


def test_bad_fleet_file_exits_non_zero_naming_the_line(data_dir: Path, tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(FLEET_YAML.replace("kind: cold_room", "kind: sauna"))
    code, _, err = _run("catalog", "import", str(bad), data_dir=data_dir)
    assert code == 2
    assert "line 17: sites.1.units.0.kind" in err


def test_user_add_and_token_create(data_dir: Path, fleet_file: Path) -> None:
    assert _run("catalog", "import", str(fleet_file), data_dir=data_dir)[0] == 0
    code, out, err = _run(
        "user",
        "add",
        "qa1",
        "--role",
        "qa",
        "--password-stdin",
        data_dir=data_dir,
        stdin="long enough secret\n",
    )
    assert (code, out.strip()) == (0, "user qa1 added (qa)"), err
    code, out, err = _run(
        "user",
        "add",
        "ops",
        "--role",
        "warehouse_operator",
        "--site",
        "BSL",
        "--site",
        "LYS",
        "--no-password",
        data_dir=data_dir,
    )
    assert code == 0, err
    code, out, _ = _run("token", "create", "qa1", data_dir=data_dir)
    assert code == 0
    assert out.strip().startswith("cct_")
    code, _, err = _run("token", "create", "nobody", data_dir=data_dir)
    assert code == 1
    assert "user 'nobody' not found" in err


def test_user_add_refuses_an_unbound_sponsor_viewer(data_dir: Path) -> None:
    code, _, err = _run(
        "user", "add", "v", "--role", "sponsor_viewer", "--no-password", data_dir=data_dir
    )
    assert code == 1
    assert "needs a sponsor" in err


def test_catalog_url_option_on_each_backend(
    catalog_url: str, fleet_file: Path, data_dir: Path
) -> None:
    args = ("--catalog-url", catalog_url)
    assert _run("catalog", "import", str(fleet_file), *args, data_dir=data_dir)[0] == 0
    code, out, _ = _run("audit", "verify", *args, data_dir=data_dir)
    assert (code, out.split(":")[0]) == (0, "audit trail intact")
    assert not (data_dir / "catalog.sqlite3").exists()
