"""Session-wide real servers; each test that writes gets its own database or topic root."""

from __future__ import annotations

import logging
import uuid
from collections.abc import Iterator
from pathlib import Path

import pytest

from tests.support.servers import InfluxServer, MosquittoServer, running_influxd, running_mosquitto

pytest_plugins = ["tests.support.catalog", "tests.support.api_world"]


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


class _RecordKeeper(logging.Handler):
    """Keeps the text of every log record, for the secret scan at the end of the run."""

    def __init__(self) -> None:
        super().__init__(logging.DEBUG)
        self.texts: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        try:
            self.texts.append(self.format(record))
        except Exception:  # a record that cannot be formatted cannot leak either
            self.texts.append(repr(record.msg))


@pytest.fixture(scope="session", autouse=True)
def _no_secret_in_logs(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Issue 10: no log line written during the suite holds a secret. Scans every record
    of the project's loggers (at INFO, the deployed level, even where tests do not show
    them) and every `*.log` file the servers and service processes wrote under the run's
    temporary folder; fails at the end of the session naming the place, not the secret."""
    from tests.support.secrets_registry import find_secrets, registered

    keeper = _RecordKeeper()
    keeper.setFormatter(logging.Formatter("%(name)s %(message)s"))
    root = logging.getLogger()
    root.addHandler(keeper)
    packages = ["coldchain", "ingest", "alerting", "api", "simulators", "cli", "dashboards"]
    raised = [logging.getLogger(p) for p in packages if logging.getLogger(p).level == 0]
    for logger in raised:
        logger.setLevel(logging.INFO)
    try:
        yield
    finally:
        root.removeHandler(keeper)
        for logger in raised:
            logger.setLevel(logging.NOTSET)
    values = registered()
    leaks = [f"log record {text[:60]!r}: {find_secrets(text, values)}" for text in keeper.texts]
    leaks = [leak for leak in leaks if not leak.endswith(": []")]
    for path in sorted(tmp_path_factory.getbasetemp().rglob("*.log")):
        for number, line in enumerate(path.read_text(errors="replace").splitlines(), 1):
            found = find_secrets(line, values)
            if found:
                leaks.append(f"{path}:{number}: {found}")
    if leaks:
        pytest.fail("secrets in logs written during the tests:\n" + "\n".join(leaks[:20]))


@pytest.hookimpl(hookwrapper=True)
def pytest_runtest_makereport() -> Iterator[None]:
    """A skipped test is a failed one: `make test` going green must mean every test ran,
    so a missing program or file, or a skip slipped in by a later change, shows as red."""
    outcome = yield
    report: pytest.TestReport = outcome.get_result()  # type: ignore[attr-defined]
    if report.skipped and not hasattr(report, "wasxfail"):
        report.outcome = "failed"
        report.longrepr = f"skipped, which this suite does not allow: {report.longrepr}"
