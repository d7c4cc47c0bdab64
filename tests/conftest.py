"""Session-wide real servers; each test that writes gets its own database or topic root."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.servers import InfluxServer, MosquittoServer, running_influxd, running_mosquitto


@pytest.fixture(scope="session")
def mosquitto(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path_factory.mktemp("mosquitto")) as server:
        yield server


@pytest.fixture(scope="session")
def influxd(tmp_path_factory: pytest.TempPathFactory) -> Iterator[InfluxServer]:
    with running_influxd(tmp_path_factory.mktemp("influxd")) as server:
        yield server


@pytest.fixture
def influx_db() -> str:
    """A database name of this test's own, so tests never see each other's points."""
    return f"test_{uuid.uuid4().hex[:12]}"


@pytest.fixture(autouse=True)
def _fail_on_logged_exception(caplog: pytest.LogCaptureFixture) -> Iterator[None]:
    """A test fails when code under test only logged an exception instead of raising it."""
    yield
    logged = [r for r in caplog.get_records("call") if r.exc_info and r.levelno >= logging.ERROR]
    if logged:
        pytest.fail(f"exception logged during test: {logged[0].getMessage()}")


@pytest.fixture
def data_dir(tmp_path: Path) -> Path:
    path = tmp_path / "var"
    path.mkdir()
    return path
