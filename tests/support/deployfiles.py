"""Reading the deployment files the way their consumers do: Compose's `${...}`
interpolation, the `coldchain` command lines in compose, unit files and READMEs, and
resolving those against the real CLI."""

from __future__ import annotations

import functools
import re
from collections.abc import Iterator, Mapping
from pathlib import Path
from typing import Any

import typer
import yaml
from typer.core import TyperCommand, TyperGroup

from cli.main import app

ROOT = Path(__file__).resolve().parents[2]
DEPLOY = ROOT / "deploy"
COMPOSE_FILE = DEPLOY / "docker-compose.yml"
ENV_EXAMPLE = DEPLOY / "env.example"
SYSTEMD = DEPLOY / "systemd"
DOCKERFILE = DEPLOY / "Dockerfile"
#: The installed command the units run (deploy/systemd/README.md installs it there).
UNIT_EXECUTABLE = "/usr/local/bin/coldchain"


def unit_files() -> list[Path]:
    return sorted([*SYSTEMD.glob("*.service"), *SYSTEMD.glob("*.target")])


def read_env_file(path: Path) -> dict[str, str]:
    """`NAME=value` lines of an env file (no quotes or expansion: Compose 1.x reads it so)."""
    values: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.strip() and not line.lstrip().startswith("#") and "=" in line:
            name, _, value = line.partition("=")
            values[name.strip()] = value.strip()
    return values


def filled_env_example() -> dict[str, str]:
    """env.example with a dummy for every value an operator must fill in."""
    values = read_env_file(ENV_EXAMPLE)
    for name, value in values.items():
        if not value:
            values[name] = "/srv/coldchain/broker" if name.endswith("_DIR") else f"test-{name}"
    return values


_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?:(:?[-?])([^}]*))?\}")


class MissingVariable(LookupError):
    """A `${NAME:?message}` whose variable is unset or empty."""


def interpolate(text: str, env: Mapping[str, str]) -> str:
    """Compose's substitution: `$$`, `${NAME}`, `${NAME:-default}`, `${NAME:?error}`."""

    def replace(match: re.Match[str]) -> str:
        if match.group(0) == "$$":
            return "$"
        name, operator, argument = match.group(1), match.group(2), match.group(3)
        value = env.get(name)
        if operator in (":-", ":?") and not value:
            if operator == ":?":
                raise MissingVariable(f"{name}: {argument}")
            return argument
        return value or ""

    return _VARIABLE.sub(replace, text)


def load_compose(env: Mapping[str, str] | None = None) -> dict[str, Any]:
    """The compose file as YAML (anchors and `<<` merges applied), its strings
    interpolated with `env` when given."""
    data = yaml.safe_load(COMPOSE_FILE.read_text(encoding="utf-8"))
    assert isinstance(data, dict)
    return data if env is None else _interpolate_tree(data, env)


def _interpolate_tree(node: Any, env: Mapping[str, str]) -> Any:
    if isinstance(node, str):
        return interpolate(node, env)
    if isinstance(node, list):
        return [_interpolate_tree(item, env) for item in node]
    if isinstance(node, dict):
        return {key: _interpolate_tree(value, env) for key, value in node.items()}
    return node


def coldchain_services(compose: Mapping[str, Any]) -> dict[str, dict[str, Any]]:
    """The services running the image of deploy/Dockerfile."""
    return {
        name: service
        for name, service in compose["services"].items()
        if str(service.get("image", "")).startswith("coldchain:")
    }


def environment(service: Mapping[str, Any]) -> dict[str, str | None]:
    env = service.get("environment") or {}
    assert isinstance(env, dict), "environment: use the mapping form"
    return {str(k): (None if v is None else str(v)) for k, v in env.items()}


# -- `coldchain ...` command lines ----------------------------------------------------

#: Options of `docker compose run` that take a value (before the service name).
_RUN_OPTIONS_WITH_VALUE = {"-v", "--volume", "-e", "--env", "-u", "--user", "-w", "--workdir"}
_ASSIGNMENT = re.compile(r"^[A-Za-z_][A-Za-z0-9_]*=")


def _logical_lines(text: str) -> Iterator[str]:
    """Physical lines with backslash continuations joined."""
    pending = ""
    for line in text.splitlines():
        if line.rstrip().endswith("\\"):
            pending += line.rstrip()[:-1] + " "
            continue
        yield pending + line
        pending = ""
    if pending:
        yield pending


def _shell_segments(line: str) -> Iterator[list[str]]:
    """Simple commands of a shell line: split at `;`, `|`, `&`, `(`, `)` and single
    quotes (a `sh -c '...'` string holds commands of its own); a `#` word starts a
    comment."""
    code = re.split(r"\s#", " " + line, maxsplit=1)[0]
    for segment in re.split(r"[;|&()']", code):
        words = [word.strip('"') for word in segment.split()]
        if words:
            yield words


def coldchain_args_in_shell(text: str) -> list[list[str]]:
    """The arguments of every `coldchain ...` (or `docker compose run ... admin ...`,
    whose entrypoint execs coldchain) in shell text."""
    found: list[list[str]] = []
    for line in _logical_lines(text):
        for words in _shell_segments(line):
            args = _coldchain_args(words)
            if args is not None:
                found.append(args)
    return found


def _coldchain_args(words: list[str]) -> list[str] | None:
    i = 0
    while i < len(words):  # skip what may precede the command: sudo -u U, env, A=b, exec
        if words[i] == "-u":
            i += 2
        elif words[i] in ("sudo", "exec", "env", "sh", "-c") or _ASSIGNMENT.match(words[i]):
            i += 1
        else:
            break
    rest = words[i:]
    if rest and (rest[0] == "coldchain" or rest[0].endswith("/coldchain")):
        return rest[1:]
    if rest[:2] == ["$C", "run"]:
        j = 2
        while j < len(rest) and rest[j].startswith("-"):
            j += 2 if rest[j] in _RUN_OPTIONS_WITH_VALUE else 1
        if j < len(rest) and rest[j] == "admin":
            return rest[j + 1 :]
    return None


def markdown_code(path: Path) -> str:
    """The fenced code blocks of a markdown file."""
    return "\n".join(
        re.findall(r"^```[^\n]*\n(.*?)^```", path.read_text(encoding="utf-8"), re.M | re.S)
    )


def compose_header_comment() -> str:
    """The comment block at the top of docker-compose.yml (its operator instructions)."""
    lines = []
    for line in COMPOSE_FILE.read_text(encoding="utf-8").splitlines():
        if not line.startswith("#"):
            break
        lines.append(line.lstrip("#"))
    return "\n".join(lines)


def unit_exec_args(path: Path) -> list[list[str]]:
    """The arguments after the coldchain executable of each `ExecStart=` of a unit."""
    found = []
    for line in path.read_text(encoding="utf-8").splitlines():
        if line.startswith("ExecStart="):
            words = line.removeprefix("ExecStart=").split()
            assert words[0] == UNIT_EXECUTABLE, f"{path.name}: {line}"
            found.append(words[1:])
    return found


@functools.cache
def _root_command() -> object:
    """The command tree; building it introspects every verb, so only once."""
    return typer.main.get_command(app)


class UnknownCommand(LookupError):
    """`coldchain ARGS` names a verb that does not exist."""


def resolve_cli(args: list[str]) -> str:
    """Walk `coldchain ARGS` down the real command tree (typer's own, which no longer
    uses click) and parse the leaf's options and arguments exactly as a run would, without
    running it. Returns the verb's path; raises UnknownCommand, or typer's usage errors
    (`typer.TyperException`: unknown option, missing or ill-typed value)."""
    command: object = _root_command()
    path = ["coldchain"]
    remaining = list(args)
    while isinstance(command, TyperGroup):
        if not remaining or remaining[0].startswith("-"):
            raise UnknownCommand(f"{' '.join(path)}: expected a sub-command, got {remaining}")
        name = remaining.pop(0)
        sub = command.get_command(typer.Context(command), name)
        if sub is None:
            raise UnknownCommand(f"{' '.join(path)}: no such command {name!r}")
        command, path = sub, [*path, name]
    assert isinstance(command, TyperCommand), f"{' '.join(path)}: {type(command)}"
    command.make_context(" ".join(path), remaining)
    return " ".join(path)
