"""Deployed as documented, the API reads InfluxDB as `coldchain-reader` (READ only) and still
answers a long history from the downsampled series: the retention policies come from the
setup (`coldchain influx setup-users`, an admin), and the API only asks whether they are
there. Before, its start tried to create them, the 403 read as "not ready", and every
history request scanned raw readings."""

from __future__ import annotations

from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
import typer
from typer.testing import CliRunner

from cli import broker_cmd
from cli.local_servers import LocalInflux
from coldchain.influx_users import InfluxAccount
from tests.support.api_world import World, api_world
from tests.support.influx_counter import QueryCounter
from tests.support.secrets_registry import register

pytestmark = pytest.mark.integration

_DB = "coldchain"
coldchain = typer.Typer()
coldchain.add_typer(broker_cmd.influx_app, name="influx")


def _secret(directory: Path, role: str) -> str:
    return (directory / "secrets" / f"influx-{role}.secret").read_text().strip()


@pytest.fixture(scope="module")
def counter() -> QueryCounter:
    return QueryCounter()


@pytest.fixture(scope="module")
def world(tmp_path_factory: pytest.TempPathFactory, counter: QueryCounter) -> Iterator[World]:
    directory = tmp_path_factory.mktemp("history-read-only")
    server = LocalInflux(directory / "influxd", auth_enabled=True)
    try:
        server.start()
        setup = CliRunner().invoke(
            coldchain,
            [
                *("influx", "setup-users", "--influx-url", server.url),
                *("--influx-db", _DB, "--data-dir", str(directory)),
            ],
        )
        assert setup.exit_code == 0, setup.output
        for role in ("admin", "ingest", "reader"):
            register(_secret(directory, role))
        with api_world(
            directory,
            server.url,
            _DB,
            settings_overrides={
                "influx_username": "coldchain-reader",
                "influx_password": _secret(directory, "reader"),
            },
            fill_as=InfluxAccount("coldchain-ingest", _secret(directory, "ingest")),
            influx_transport=counter,
        ) as built:
            yield built
    finally:
        server.stop()


def test_the_read_only_api_answers_ten_days_from_the_15_min_buckets(
    world: World, counter: QueryCounter
) -> None:
    counter.requests.clear()
    end = world.now
    answer = world.client.get(
        "/v1/sites/BSL/units/FRIDGE-01/history",
        params={"from": (end - timedelta(days=10)).isoformat(), "to": end.isoformat()},
        headers=world.headers("quinn"),
    )
    assert answer.status_code == 200, answer.text
    assert answer.json()["resolution"] == "15m"
    statements = [s for request in counter.requests for s in request]
    downsampled = [s for s in statements if f'FROM "{_DB}"."ds_15m"."reading"' in s]
    assert downsampled, statements
    points = [p for series in answer.json()["series"] for p in series["points"]]
    assert len(points) > 900  # 10 days of 15 min buckets per probe, not raw edges only
