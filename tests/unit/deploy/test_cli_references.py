"""Every `coldchain ...` the deployment files run or tell an operator to run exists, with
options that exist, and every COLDCHAIN_* variable they set is a setting: a renamed verb,
option or field fails here instead of in a container at 3 a.m."""

from __future__ import annotations

import os
import re
from pathlib import Path

import pytest

from cli.main import app
from coldchain.config import Settings
from tests.support.deployfiles import (
    COMPOSE_FILE,
    DEPLOY,
    ENV_EXAMPLE,
    ROOT,
    SYSTEMD,
    coldchain_args_in_shell,
    coldchain_services,
    compose_header_comment,
    environment,
    filled_env_example,
    load_compose,
    markdown_code,
    read_env_file,
    resolve_cli,
    unit_exec_args,
    unit_files,
)

#: docs/design.md §9, "Environment": the variables other people's scripts rely on.
SECTION_9 = (
    "COLDCHAIN_MQTT_URL",
    "COLDCHAIN_INFLUX_URL",
    "COLDCHAIN_INFLUX_DB",
    "COLDCHAIN_CATALOG_URL",
    "COLDCHAIN_DATA_DIR",
)
#: Not a Settings field: the root callback's `--log-level` reads it (cli/main.py).
NOT_SETTINGS = {"COLDCHAIN_LOG_LEVEL"}


def _command_lines() -> list[tuple[str, list[str]]]:
    compose = load_compose(filled_env_example())
    found: list[tuple[str, list[str]]] = []
    for name, service in coldchain_services(compose).items():
        found.append((f"compose {name}", [str(a) for a in service["command"]]))
        test = (service.get("healthcheck") or {}).get("test")
        if test:
            # `python -m cli.health_cmd ARGS` is `coldchain health ARGS` (cli/health_cmd.py).
            assert test[:4] == ["CMD", "python", "-m", "cli.health_cmd"], f"{name}: {test}"
            found.append((f"compose {name} healthcheck", ["health", *test[4:]]))
    sources = {
        "compose header": coldchain_args_in_shell(compose_header_comment()),
        "systemd README": coldchain_args_in_shell(markdown_code(SYSTEMD / "README.md")),
        "emqx README": coldchain_args_in_shell(markdown_code(DEPLOY / "emqx" / "README.md")),
    }
    for unit in unit_files():
        sources[unit.name] = unit_exec_args(unit)
    for where, commands in sources.items():
        found += [(where, args) for args in commands]
    return found


COMMAND_LINES = _command_lines()


def test_the_command_lines_are_found_where_expected() -> None:
    """Guards the extraction: a parser that found nothing would prove nothing."""
    places = {where for where, _ in COMMAND_LINES}
    assert {"compose header", "systemd README", "coldchain-ingest@.service"} <= places
    assert any(where.startswith("compose ") for where in places)
    found = {tuple(args[:2]) for _, args in COMMAND_LINES}
    expected = {
        ("ingest",),
        ("detect",),
        ("api", "--host"),
        ("api",),
        ("health", "ingest"),
        ("health", "detect"),
        ("health", "api"),
        ("catalog", "show"),
        ("catalog", "import"),
        ("influx", "setup-users"),
        ("dashboards", "setup-influx"),
        ("broker", "config"),
        ("gateway", "add"),
    }
    assert expected <= found


@pytest.mark.parametrize(
    ("where", "args"), COMMAND_LINES, ids=[f"{w}: {' '.join(a)}" for w, a in COMMAND_LINES]
)
def test_every_coldchain_command_in_the_deployment_files_exists(
    where: str, args: list[str]
) -> None:
    # resolve_cli raises for an unknown verb or option; what it found is the command the
    # line names (its leading words, down to a verb that runs), registered on the app.
    verb = resolve_cli(args).split()
    assert verb[0] == "coldchain"
    assert verb[1:] == args[: len(verb) - 1], f"{where}: {args} resolved to {verb}"
    registered = {c.name for c in app.registered_commands} | {g.name for g in app.registered_groups}
    assert verb[1] in registered, f"{where}: {args}"


def test_the_secrets_entrypoint_ends_in_coldchain_with_the_command() -> None:
    """Services with the secrets entrypoint still run `coldchain COMMAND`, so their
    `command:` is checked above as coldchain arguments."""
    compose = load_compose(filled_env_example())
    for name, service in coldchain_services(compose).items():
        entrypoint = service.get("entrypoint")
        if entrypoint is not None:
            assert entrypoint[:2] == ["/bin/sh", "-ec"], name
            assert entrypoint[2].rstrip().endswith('exec coldchain "$@"'), name


def _names(text: str) -> set[str]:
    return {name.rstrip("_") for name in re.findall(r"\bCOLDCHAIN_[A-Z0-9_]+", text)}


@pytest.mark.parametrize(
    "path",
    [COMPOSE_FILE, ENV_EXAMPLE, *unit_files(), SYSTEMD / "README.md"],
    ids=lambda p: str(Path(p).relative_to(ROOT)),
)
def test_every_coldchain_variable_is_a_setting(path: Path) -> None:
    fields = {f"COLDCHAIN_{name.upper()}" for name in Settings.model_fields}
    unknown = _names(path.read_text(encoding="utf-8")) - fields - NOT_SETTINGS
    assert not unknown, f"{path.name}: not fields of coldchain.config.Settings: {unknown}"


def test_env_example_lists_every_variable_of_design_section_9() -> None:
    text = ENV_EXAMPLE.read_text(encoding="utf-8")
    for name in SECTION_9:
        assert re.search(rf"^#?\s*{name}=", text, re.M), f"{name} missing from env.example"
    design = ROOT / "docs" / "design.md"
    section = design.read_text(encoding="utf-8").split("## 9.")[1].split("## 10.")[0]
    environment_item = section.split("- Reading payload")[0]
    assert _names(environment_item) == set(SECTION_9)


def test_settings_accept_every_value_env_example_sets_or_suggests(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    """The values as given, and the commented examples an operator will uncomment."""
    suggested = dict(
        re.findall(r"^#\s*(COLDCHAIN_[A-Z0-9_]+)=(\S.*)$", ENV_EXAMPLE.read_text(), re.M)
    )
    suggested = {k: v for k, v in suggested.items() if "<" not in v and "|" not in v}
    values = {k: v for k, v in read_env_file(ENV_EXAMPLE).items() if k.startswith("COLDCHAIN_")}
    _use_only(monkeypatch, values | suggested)
    settings = Settings.load()
    assert settings.notify_escalation == [["warehouse-lead@example.com"], ["qa-head@example.com"]]


def test_settings_accept_each_compose_services_environment(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    compose = load_compose(filled_env_example())
    for name, service in coldchain_services(compose).items():
        env = {k: v for k, v in environment(service).items() if v is not None}
        _use_only(monkeypatch, {k: v for k, v in env.items() if k.startswith("COLDCHAIN_")})
        Settings.load()
        # The data dir is the image's ENV, where every volume mounts (test_compose.py).
        assert "COLDCHAIN_DATA_DIR" not in env, name


def _use_only(monkeypatch: pytest.MonkeyPatch, values: dict[str, str]) -> None:
    for name in list(os.environ):
        if name.startswith("COLDCHAIN_"):
            monkeypatch.delenv(name)
    for name, value in values.items():
        monkeypatch.setenv(name, value)
