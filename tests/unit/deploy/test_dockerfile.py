"""deploy/Dockerfile and .dockerignore: a slim Python base, the project only (no tests,
benchmarks or dev extras), a non-root user, `coldchain` as the entrypoint."""

from __future__ import annotations

import json
import re
import shlex
import tomllib

from tests.support.deployfiles import DOCKERFILE, ROOT


def _instructions() -> list[tuple[str, str]]:
    """(INSTRUCTION, arguments) with continuations joined and comments dropped."""
    joined = re.sub(r"\\\n(?:\s*#.*\n)*", " ", DOCKERFILE.read_text(encoding="utf-8"))
    result = []
    for line in joined.splitlines():
        if line.strip() and not line.lstrip().startswith("#"):
            instruction, _, arguments = line.strip().partition(" ")
            result.append((instruction.upper(), arguments.strip()))
    return result


def _stages() -> list[list[tuple[str, str]]]:
    stages: list[list[tuple[str, str]]] = []
    for instruction, arguments in _instructions():
        if instruction == "FROM":
            stages.append([])
        stages[-1].append((instruction, arguments))
    return stages


def _packages() -> set[str]:
    pyproject = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    return {p.rstrip("*") for p in pyproject["tool"]["setuptools"]["packages"]["find"]["include"]}


def test_every_stage_starts_from_a_slim_python() -> None:
    images = [args.split()[0] for stage in _stages() for ins, args in stage if ins == "FROM"]
    assert images
    for image in images:
        assert re.fullmatch(r"python:3\.\d+-slim", image), image


def test_the_final_image_installs_only_the_projects_wheel() -> None:
    *build, final = _stages()
    installs = [args for ins, args in final if ins == "RUN" and "pip install" in args]
    assert len(installs) == 1
    words = shlex.split(installs[0].split("&&")[0])
    assert words[:2] == ["pip", "install"]
    targets = [w for w in words[2:] if not w.startswith("-")]
    options = [w for w in words[2:] if w.startswith("-")]
    assert targets == ["/tmp/wheels/coldchain-*.whl"]
    assert set(options) <= {"--no-cache-dir"}  # no -r, -e, --extra-index-url, ...
    assert "[" not in installs[0]  # no extras such as [dev]
    # The wheel: the project alone (--no-deps), built from the packages pyproject lists.
    wheel_runs = [args for stage in build for ins, args in stage if ins == "RUN"]
    assert any(re.search(r"pip wheel .*--no-deps .*\.$", run) for run in wheel_runs)
    copied = {
        source
        for stage in build
        for ins, args in stage
        if ins == "COPY"
        for source in args.split()[:-1]  # COPY SOURCE... DEST
    }
    assert copied == {"pyproject.toml", "README.md"} | _packages()
    assert not any("tests" in args or "benchmarks" in args for _, args in _instructions())


def test_the_image_runs_coldchain_as_an_unprivileged_user() -> None:
    final = _stages()[-1]
    users = [args for ins, args in final if ins == "USER"]
    assert users
    assert users[-1].split(":")[0] not in ("root", "0")
    entrypoints = [args for ins, args in final if ins == "ENTRYPOINT"]
    assert json.loads(entrypoints[-1]) == ["coldchain"]
    env = " ".join(args for ins, args in final if ins == "ENV")
    assert "COLDCHAIN_DATA_DIR=/var/lib/coldchain" in env


def test_dockerignore_admits_only_what_the_build_needs() -> None:
    """An allow-list, so var/ (secrets, catalog), .venv/, tests/ and deploy/.env never
    reach the builder."""
    lines = [
        line.strip()
        for line in (ROOT / ".dockerignore").read_text(encoding="utf-8").splitlines()
        if line.strip() and not line.startswith("#")
    ]
    assert lines[0] == "*"
    admitted = {line[1:].rstrip("/") for line in lines if line.startswith("!")}
    assert admitted == {"pyproject.toml", "README.md"} | _packages()
