"""Scale-out on one machine: two ingest workers on a shared subscription and two
detector partitions by site, on a real mosquitto and influxd, under the simulator's load,
with one ingest worker and one detector partition killed (-9) and restarted mid-run, as
systemd's `Restart=always` would.

Must hold: every reading the simulator published is stored once; every alert exists once
(no two alerts for one episode), was announced on MQTT, and was raised by the partition
that owns its site; each partition kept state only for its own sites.
"""

from __future__ import annotations

import itertools
import re
import sqlite3
import subprocess
import sys
import time
from collections import defaultdict
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest
import yaml

from coldchain.catalog.schema import AlertRow
from simulators.fleetgen import generate_fleet
from tests.support.detector import AlertListener, DetectProcess, alerts
from tests.support.pipeline import IngestProcess, count_readings, wait_until
from tests.support.servers import InfluxServer, MosquittoServer, running_mosquitto

pytestmark = [pytest.mark.integration, pytest.mark.slow]

_REPO = Path(__file__).resolve().parents[2]
PARTITIONS = {"detect-a": ("S01", "S02"), "detect-b": ("S03", "S04")}


@pytest.fixture
def broker(tmp_path: Path) -> Iterator[MosquittoServer]:
    with running_mosquitto(tmp_path / "mosquitto") as server:
        yield server


def _catalog(tmp_path: Path) -> tuple[Path, str]:
    fleet = generate_fleet(units=80, shipments=6, sites=4, seed=7, faults_per_unit=0.5, span_days=1)
    path = tmp_path / "fleet.yaml"
    path.write_text(yaml.safe_dump(fleet, sort_keys=False))
    url = f"sqlite:///{tmp_path / 'catalog.sqlite3'}"
    subprocess.run(
        [sys.executable, "-m", "cli.main", "catalog", "import", str(path), "--catalog-url", url],
        check=True,
        cwd=_REPO,
        capture_output=True,
    )
    return path, url


def _state_sites(data_dir: Path, client_id: str) -> set[str]:
    path = data_dir / "detector" / f"{client_id}.sqlite3"
    with sqlite3.connect(path) as db:
        return {key.split("/", 1)[0] for (key,) in db.execute("SELECT key FROM sensor_state")}


def _overlapping(rows: list[AlertRow]) -> list[tuple[str, str]]:
    """Pairs of alerts of one sensor, kind and severity whose episodes overlap: the same
    excursion raised twice."""
    by_episode: dict[tuple[str, ...], list[AlertRow]] = defaultdict(list)
    for row in rows:
        by_episode[
            (row.site_id, row.source, row.device, row.sensor, row.kind, row.severity)
        ].append(row)
    pairs = []
    for group in by_episode.values():
        group.sort(key=lambda r: r.start_at)
        for earlier, later in itertools.pairwise(group):
            if earlier.end_at is None or later.start_at < earlier.end_at:
                pairs.append((earlier.id, later.id))
    return pairs


def test_two_ingest_workers_and_two_detector_partitions_survive_a_kill_each(
    broker: MosquittoServer, influxd: InfluxServer, influx_db: str, tmp_path: Path
) -> None:
    fleet, catalog = _catalog(tmp_path)
    httpx.post(f"{influxd.url}/query", data={"q": f'CREATE DATABASE "{influx_db}"'}, timeout=10)
    workers = [
        IngestProcess(
            broker.url,
            influxd.url,
            influx_db,
            tmp_path / f"ingest-{n}",
            client_id=f"ingest-{n}",
            shared_group="ingest",
        )
        for n in (1, 2)
    ]
    detectors = {
        client_id: DetectProcess(
            broker.url,
            catalog,
            tmp_path / client_id,
            env={
                "COLDCHAIN_DETECT_CLIENT_ID": client_id,
                "COLDCHAIN_DETECT_SITES": str(list(sites)).replace("'", '"'),
                "COLDCHAIN_INFLUX_URL": influxd.url,
                "COLDCHAIN_INFLUX_DB": influx_db,
            },
        )
        for client_id, sites in PARTITIONS.items()
    }
    listener = AlertListener(broker.port)
    simulator: subprocess.Popen[str] | None = None
    try:
        for worker in workers:
            worker.start()
        for detector in detectors.values():
            detector.start()
        simulator = subprocess.Popen(
            [
                sys.executable,
                "-m",
                "cli.main",
                "simulate",
                str(fleet),
                "--duration",
                "1d",
                "--load",
                "--mqtt-url",
                broker.url,
            ],
            cwd=_REPO,
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )

        def stored() -> int:
            return count_readings(influxd.url, influx_db)

        wait_until(lambda: stored() >= 20_000, 120, "the first readings to be stored")
        workers[0].kill9()  # ingest worker 1 dies mid-stream ...
        seen = stored()
        wait_until(lambda: stored() >= seen + 10_000, 120, "the survivor to keep ingesting")
        workers[0].start()  # ... and comes back, as Restart=always would bring it
        detectors["detect-a"].kill9()
        time.sleep(1.0)
        detectors["detect-a"].start()

        output, _ = simulator.communicate(timeout=300)
        assert simulator.returncode == 0, output
        published = re.search(r"\((\d+) distinct\)", output)
        assert published is not None, output
        expected = int(published.group(1))
        wait_until(lambda: stored() == expected, 180, f"all {expected} readings stored")
        time.sleep(2.0)
        assert stored() == expected, "more readings stored than published"
        assert workers[1].alive(), "the surviving worker stopped"

        def settled() -> bool:
            before = len(alerts(catalog))
            time.sleep(3.0)
            return len(alerts(catalog)) == before

        wait_until(settled, 120, "the detectors to finish the backlog")
        rows = alerts(catalog)
        assert rows, "the simulated faults raised no alert at all"
        assert _overlapping(rows) == []
        wait_until(
            lambda: {r.id for r in rows} <= {e["alert_id"] for e in listener.events},
            60,
            "every alert to be announced on MQTT",
        )
        for client_id, sites in PARTITIONS.items():
            assert _state_sites(tmp_path / client_id, client_id) <= set(sites)
            assert f"sites={','.join(sites)}" in detectors[client_id].log_text()
        print(
            f"scale-out: {expected} readings stored once, {len(rows)} alerts, "
            f"{len(listener.events)} alert events"
        )
    finally:
        if simulator is not None and simulator.poll() is None:
            simulator.kill()
        listener.close()
        for detector in detectors.values():
            detector.stop()
        for worker in workers:
            worker.stop()
