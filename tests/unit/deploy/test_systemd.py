"""deploy/systemd: units systemd accepts, each hardened and restarting, the templates
taking their identity from the instance."""

from __future__ import annotations

import subprocess
from pathlib import Path

import pytest

from tests.support.deployfiles import SYSTEMD, UNIT_EXECUTABLE, unit_files
from tests.support.needs import needed_program

#: Instance names to verify the templates under (`systemd-analyze verify` wants units).
INSTANCES = {"coldchain-ingest@.service": "1", "coldchain-detect@.service": "all"}


def _directives(path: Path) -> list[tuple[str, str]]:
    pairs = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line and not line.startswith(("#", ";", "[")) and "=" in line:
            key, _, value = line.partition("=")
            pairs.append((key.strip(), value.strip()))
    return pairs


def test_systemd_analyze_verify_accepts_every_unit(tmp_path: Path) -> None:
    """Syntax, known directives and values, dependencies, for real.

    `verify` also insists that ExecStart's program exists and is executable, and
    /usr/local/bin/coldchain exists only once installed (deploy/systemd/README.md). So
    the units are verified as copies whose ExecStart names a stub in a temporary folder,
    the only change; templates are copied under an instance name. A clean run prints
    nothing: `verify` reports an unknown directive on stderr yet exits 0, so any output
    fails the test."""
    verify = needed_program("systemd-analyze", "systemd")
    stub = tmp_path / "coldchain"
    stub.write_text("#!/bin/sh\nexit 0\n")
    stub.chmod(0o755)
    copies = []
    for unit in unit_files():
        instance = INSTANCES.get(unit.name)
        name = unit.name.replace("@.", f"@{instance}.") if instance else unit.name
        copy = tmp_path / name
        copy.write_text(unit.read_text(encoding="utf-8").replace(UNIT_EXECUTABLE, str(stub)))
        copies.append(str(copy))
    result = subprocess.run(
        [verify, "verify", *copies],
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
        cwd=tmp_path,
    )
    assert result.returncode == 0, result.stderr
    assert result.stdout + result.stderr == ""


SERVICES = sorted(SYSTEMD.glob("*.service"))


@pytest.mark.parametrize("unit", SERVICES, ids=lambda p: p.name)
def test_every_service_restarts_on_failure_and_is_hardened(unit: Path) -> None:
    directives = _directives(unit)
    required = {
        ("Type", "exec"),
        ("User", "coldchain"),
        ("Restart", "on-failure"),
        ("ProtectSystem", "strict"),
        ("ProtectHome", "yes"),
        ("PrivateTmp", "yes"),
        ("NoNewPrivileges", "yes"),
        ("StateDirectory", "coldchain"),
        ("ReadWritePaths", "/var/lib/coldchain"),
        ("CapabilityBoundingSet", ""),
        ("Environment", "COLDCHAIN_DATA_DIR=/var/lib/coldchain"),
        ("EnvironmentFile", "/etc/coldchain/coldchain.env"),
        ("PartOf", "coldchain.target"),
        ("WantedBy", "coldchain.target"),
    }
    assert required <= set(directives), required - set(directives)
    # Environment= before EnvironmentFile=: systemd lets the files override, so the
    # units' values are defaults an operator can change per instance.
    keys = [key for key, _ in directives]
    assert keys.index("Environment") < keys.index("EnvironmentFile")


def test_templates_take_their_identity_from_the_instance() -> None:
    ingest = set(_directives(SYSTEMD / "coldchain-ingest@.service"))
    assert ("EnvironmentFile", "/etc/coldchain/ingest-%i.env") in ingest
    detect = set(_directives(SYSTEMD / "coldchain-detect@.service"))
    assert ("EnvironmentFile", "/etc/coldchain/detect-%i.env") in detect
    # Distinct client ids by default, hence distinct state files per partition.
    assert ("Environment", "COLDCHAIN_DETECT_CLIENT_ID=coldchain-detect-%i") in detect


def test_the_readme_installs_every_unit_it_describes() -> None:
    readme = (SYSTEMD / "README.md").read_text(encoding="utf-8")
    for unit in unit_files():
        assert f"`{unit.name}`" in readme, unit.name
    assert "ln -sf /opt/coldchain/bin/coldchain " + UNIT_EXECUTABLE in readme
