"""deploy/docker-compose.yml and deploy/env.example: valid for Compose, every service
healthy-checked, all state on named volumes, no secret in a committed file, one broker
account per ingest worker, least-privilege users, InfluxDB as in influxdb-auth.conf."""

from __future__ import annotations

import re
import subprocess
import tomllib
from pathlib import Path
from typing import Any

import pytest

from coldchain.broker_auth import (
    IMPORT_ACCOUNT,
    SERVICE_ACCOUNTS,
    check_mosquitto_password,
    import_accounts,
    service_accounts,
)
from coldchain.influx_users import INFLUX_ACCOUNTS
from tests.support.deployfiles import (
    COMPOSE_FILE,
    DEPLOY,
    ENV_EXAMPLE,
    ROOT,
    MissingVariable,
    coldchain_args_in_shell,
    coldchain_services,
    compose_header_comment,
    environment,
    filled_env_example,
    load_compose,
    read_env_file,
)
from tests.support.needs import needed_program

#: Where each third-party image keeps its state.
STATE_PATHS = {
    "mosquitto": "/mosquitto/data",
    "influxdb": "/var/lib/influxdb",
    "postgres": "/var/lib/postgresql/data",
    "grafana": "/var/lib/grafana",
}
DATA_DIR = "/var/lib/coldchain"  # deploy/Dockerfile's COLDCHAIN_DATA_DIR
SHARED_VOLUMES = {"metrics"}  # every service's counters, read by the API


def _docker_compose() -> str:
    return needed_program("docker-compose", "docker-compose")


def _compose_config(env_file: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [_docker_compose(), "-f", str(COMPOSE_FILE), "--env-file", str(env_file), "config", "-q"],
        cwd=ROOT,
        capture_output=True,
        text=True,
        timeout=60,
        check=False,
    )


def _write_env(path: Path, values: dict[str, str]) -> Path:
    path.write_text("".join(f"{k}={v}\n" for k, v in values.items()), encoding="utf-8")
    return path


def test_docker_compose_accepts_the_file_with_a_filled_in_env(tmp_path: Path) -> None:
    result = _compose_config(_write_env(tmp_path / ".env", filled_env_example()))
    assert result.returncode == 0, result.stderr


def test_docker_compose_refuses_to_run_with_the_blank_example() -> None:
    """No default password: an operator who forgets one gets told which, not a weak
    default."""
    result = _compose_config(ENV_EXAMPLE)
    assert result.returncode != 0
    assert "in deploy/.env" in result.stderr
    with pytest.raises(MissingVariable):
        load_compose(read_env_file(ENV_EXAMPLE))


def _one_shots(compose: dict[str, Any]) -> set[str]:
    return {n for n, s in compose["services"].items() if s.get("restart") == "no"}


def test_every_service_has_a_health_check_or_is_a_one_shot_others_wait_for() -> None:
    compose = load_compose(filled_env_example())
    services = compose["services"]
    awaited = {
        name
        for service in services.values()
        for name, condition in (service.get("depends_on") or {}).items()
        if condition == {"condition": "service_completed_successfully"}
    }
    for name, service in services.items():
        if name in _one_shots(compose):
            # Its exit status is its health; the operator's tool runs on demand only.
            assert name in awaited or service.get("profiles") == ["admin"], name
            continue
        test = (service.get("healthcheck") or {}).get("test")
        assert test, f"{name}: no health check"
        assert test[0] in ("CMD", "CMD-SHELL"), name
        assert service.get("restart") == "unless-stopped", name
    for service in services.values():
        for name, condition in (service.get("depends_on") or {}).items():
            if condition == {"condition": "service_healthy"}:
                assert "healthcheck" in services[name], name


def _mounts(service: dict[str, Any]) -> list[tuple[str, str]]:
    return [tuple(str(v).split(":")[:2]) for v in service.get("volumes", [])]  # type: ignore[misc]


def test_all_state_is_on_named_volumes_one_per_service() -> None:
    compose = load_compose(filled_env_example())
    declared = set(compose["volumes"])
    owners: dict[str, list[str]] = {}
    long_running = set(compose["services"]) - _one_shots(compose)
    for name, service in compose["services"].items():
        mounts = _mounts(service)
        for source, _target in mounts:
            if source.startswith(("./", "/")):
                if source.startswith("./"):  # relative to deploy/, like Compose
                    assert (DEPLOY / source).exists(), f"{name}: {source} missing"
                continue
            assert source in declared, f"{name}: volume {source} not declared"
            owners.setdefault(source, []).append(name)
        if name not in long_running:
            continue
        state = STATE_PATHS.get(name, DATA_DIR if name in coldchain_services(compose) else None)
        assert state is not None, f"{name}: where does it keep its state?"
        sources = [s for s, t in mounts if t == state]
        assert sources, f"{name}: nothing mounted at {state}"
        assert sources[0] in declared, f"{name}: {state} is not on a named volume"
    for volume, users in owners.items():
        if volume not in SHARED_VOLUMES:
            assert len(users) == 1, f"volume {volume} shared by {users}"
    assert set(owners) == declared, f"declared but unused: {declared - set(owners)}"


def test_no_secret_value_is_committed() -> None:
    raw = load_compose()
    for name, service in raw["services"].items():
        for key, value in environment(service).items():
            if value is None:
                continue
            if re.search(r"PASSWORD|SECRET", key):
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", value), f"{name}: {key}"
            for userinfo in re.findall(r"://([^/@\s]+)@", value):
                password = userinfo.partition(":")[2]
                assert re.fullmatch(r"\$\{[A-Z0-9_]+:\?[^}]*\}", password), f"{name}: {key}"
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name, value in re.findall(
        r"^#?\s*([A-Z0-9_]*(?:PASSWORD|SECRET)[A-Z0-9_]*)=(.*)$", text, re.M
    ):
        assert value.strip() == "", f"env.example gives {name} a value"
    assert "deploy/.env" in (ROOT / ".gitignore").read_text().splitlines()


def _mqtt_user(url: str) -> str:
    match = re.match(r"mqtts?://([^:@/]+)", url)
    assert match, url
    return match.group(1)


def test_each_ingest_worker_is_a_broker_account_of_its_own_on_one_shared_subscription() -> None:
    compose = load_compose(filled_env_example())
    workers = {
        name: environment(service)
        for name, service in coldchain_services(compose).items()
        if service["command"] == ["ingest"]
    }
    assert len(workers) >= 2
    client_ids = [env["COLDCHAIN_INGEST_CLIENT_ID"] for env in workers.values()]
    assert len(set(client_ids)) == len(client_ids)
    for env in workers.values():
        # The broker makes the user name the client id; the spool is named after the id.
        assert env["COLDCHAIN_INGEST_CLIENT_ID"] == _mqtt_user(str(env["COLDCHAIN_MQTT_URL"]))
    assert len({env["COLDCHAIN_INGEST_SHARED_GROUP"] for env in workers.values()}) == 1
    assert next(iter(workers.values()))["COLDCHAIN_INGEST_SHARED_GROUP"]
    # Exactly the accounts `coldchain broker config --ingest-workers N` creates.
    base = SERVICE_ACCOUNTS["ingest"]
    expected = {base} | {f"{base}-{n}" for n in range(2, len(workers) + 1)}
    assert set(client_ids) == expected
    documented = [
        args
        for args in coldchain_args_in_shell(compose_header_comment())
        if args[:2] == ["broker", "config"]
    ]
    assert documented, "the header should show `broker config`"
    assert documented[0][documented[0].index("--ingest-workers") + 1] == str(len(workers))


def test_each_service_logs_in_with_its_own_least_privilege_accounts() -> None:
    compose = load_compose(filled_env_example())
    services = compose["services"]
    env = {name: environment(service) for name, service in services.items()}
    assert _mqtt_user(str(env["detector"]["COLDCHAIN_MQTT_URL"])) == SERVICE_ACCOUNTS["detector"]
    assert env["detector"]["COLDCHAIN_DETECT_CLIENT_ID"] == SERVICE_ACCOUNTS["detector"]
    influx_user = {
        "ingest-1": "ingest",
        "ingest-2": "ingest",
        "detector": "ingest",  # write only: its counters and alert display points
        "api": "reader",
        "grafana": "reader",
        "influx-downsampling": "admin",
        "admin": "admin",
    }
    for name, role in influx_user.items():
        assert env[name]["COLDCHAIN_INFLUX_USERNAME"] == INFLUX_ACCOUNTS[role], name
    # No MQTT account for services that do not use the broker.
    assert "COLDCHAIN_MQTT_URL" not in env["api"]


def test_influxdb_runs_with_the_settings_of_influxdb_auth_conf() -> None:
    """The container takes the config as INFLUXDB_<SECTION>_<KEY> variables; everything
    but the host install's paths and loopback binds must match the file."""
    conf = tomllib.loads((DEPLOY / "influxdb" / "influxdb-auth.conf").read_text())
    settings = [
        (f"INFLUXDB_{section}_{key}", key, value)
        for section, table in conf.items()
        if isinstance(table, dict)
        for key, value in table.items()
    ] + [
        (f"INFLUXDB_{key}", key, value)
        for key, value in conf.items()
        if not isinstance(value, dict)
    ]
    expected = {
        variable.upper().replace("-", "_"): str(value).lower()
        if isinstance(value, bool)
        else str(value)
        for variable, key, value in settings
        if key not in ("dir", "wal-dir", "bind-address")
    }
    assert expected["INFLUXDB_HTTP_AUTH_ENABLED"] == "true"
    actual = environment(load_compose()["services"]["influxdb"])
    assert {k: actual.get(k) for k in expected} == expected


def test_grafana_gets_every_variable_its_provisioning_reads() -> None:
    provisioning = DEPLOY / "grafana" / "provisioning" / "datasources" / "coldchain.yaml"
    wanted = set(re.findall(r"\$(COLDCHAIN_[A-Z_]+)", provisioning.read_text()))
    assert wanted
    grafana = environment(load_compose(filled_env_example())["services"]["grafana"])
    assert wanted <= {k for k, v in grafana.items() if v}


def test_the_secrets_entrypoint_gives_the_broker_exactly_the_env_passwords(
    tmp_path: Path,
) -> None:
    """What `docker compose run --rm admin broker config ...` hashes, without Docker: the
    entrypoint's shell script writes the secret files (a stub stands in for `coldchain`),
    then the accounts `broker config` writes to `passwd` are built from them."""
    values = filled_env_example()
    admin = load_compose(values)["services"]["admin"]
    bin_dir = tmp_path / "bin"
    bin_dir.mkdir()
    (bin_dir / "coldchain").write_text('#!/bin/sh\necho "$@" > "$COLDCHAIN_DATA_DIR/args"\n')
    (bin_dir / "coldchain").chmod(0o755)
    data_dir = tmp_path / "data"
    data_dir.mkdir()
    env = {k: v for k, v in environment(admin).items() if v is not None and "_PASSWORD" in k}
    env |= {"PATH": f"{bin_dir}:/usr/bin:/bin", "COLDCHAIN_DATA_DIR": str(data_dir)}
    script = admin["entrypoint"][2]
    subprocess.run(
        [
            "/bin/sh",
            "-ec",
            script,
            "coldchain-secrets",
            "broker",
            "config",
            "--ingest-workers",
            "2",
        ],
        env=env,
        check=True,
        timeout=30,
    )
    assert (data_dir / "args").read_text() == "broker config --ingest-workers 2\n"
    accounts = [*service_accounts(data_dir, ingest_workers=2), *import_accounts(data_dir)]
    hashes = {a.username: a.password_hash for a in accounts}
    passwords = {
        SERVICE_ACCOUNTS["ingest"]: values["MQTT_INGEST_PASSWORD"],
        f"{SERVICE_ACCOUNTS['ingest']}-2": values["MQTT_INGEST_2_PASSWORD"],
        SERVICE_ACCOUNTS["detector"]: values["MQTT_DETECTOR_PASSWORD"],
        SERVICE_ACCOUNTS["api"]: values["MQTT_API_PASSWORD"],
        IMPORT_ACCOUNT: values["MQTT_IMPORT_PASSWORD"],
    }
    assert set(hashes) == set(passwords)
    for user, password in passwords.items():
        assert check_mosquitto_password(password, hashes[user]), user
    secrets = data_dir / "secrets"
    assert {p.stat().st_mode & 0o777 for p in secrets.iterdir()} == {0o600}
    influx = {p.name for p in secrets.glob("influx-*.secret")}
    assert influx == {"influx-admin.secret", "influx-ingest.secret", "influx-reader.secret"}
