"""QA export of a long record: wall time and peak RSS of `coldchain export` on 5 million
1-minute readings (a year over several placements), side by side with its floor, against
targets of 15 s and 300 MB for CSV. Prints figures; asserts nothing.

Starts its own influxd, fills it with line protocol in batches of 50,000 lines, builds a
catalog with one batch placed in `--placements` fridges of `--sensors` probes each, one
after the other. Then:

- the floor: InfluxDB alone answering the same readings as CSV into a file, i.e. the
  export's own requests (one per probe and placement, a statement per 7-day window,
  chunked) as a plain `/query` with `Accept: application/csv`, uncompressed, streamed to
  disk (not fsynced); measured before and after the export, whose time is compared with
  the mean of the two;
- the export (and `verify`) as a child process, so its peak RSS is its own (getrusage of
  children).

    python -m benchmarks.bench_export [--readings 5000000] [--placements 5] [--sensors 10]
        [--format csv]
"""

from __future__ import annotations

import argparse
import asyncio
import resource
import subprocess
import sys
import tempfile
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

from sqlalchemy import Engine

from api.export.record import load_batch_record, sensor_request
from coldchain.catalog import create_catalog_engine, import_fleet, upgrade_catalog
from coldchain.influx import InfluxClient
from tests.support.servers import running_influxd

_START = datetime(2025, 1, 1, tzinfo=UTC)
_BATCH_LINES = 50_000
_CLI = (
    "import typer\n"
    "from cli import export_cmd\n"
    "app = typer.Typer()\n"
    "app.command('export')(export_cmd.export)\n"
    "app.command('verify')(export_cmd.verify)\n"
    "app()\n"
)


def _fleet(placements: int, sensors: int, minutes: int) -> str:
    probes = ", ".join(f"{{id: p{n}}}" for n in range(1, sensors + 1))
    units = "\n".join(
        f"      - {{id: FR-{u}, kind: refrigerator, setpoint_c: 5.0, log_interval_s: 60, "
        f"sensors: [{probes}]}}"
        for u in range(1, placements + 1)
    )
    links = "\n".join(
        f'  - {{batch: LOT-B, unit: BSL/FR-{u}, from: "{_iso(u - 1, minutes)}", '
        f'to: "{_iso(u, minutes)}"}}'
        for u in range(1, placements + 1)
    )
    return (
        "sponsors: [{id: ACME, name: Acme}]\n"
        "sites:\n  - id: BSL\n    timezone: Europe/Zurich\n    units:\n"
        f"{units}\n"
        "products:\n  - {id: VAX, sponsor: ACME, storage: {min_c: 2.0, max_c: 8.0, "
        "alarm_delay_min: 30, budget: {max_c: 25.0, hours: 24}}}\n"
        "batches: [{id: LOT-B, product: VAX}]\n"
        f"placements:\n{links}\n"
    )


def _iso(index: int, minutes: int) -> str:
    return (_START + timedelta(minutes=index * minutes)).isoformat().replace("+00:00", "Z")


async def _fill(url: str, placements: int, sensors: int, minutes: int) -> int:
    """Write every reading; a slow daily swing and a few warm spells, so there is work."""
    start_ms = int(_START.timestamp() * 1000)
    written = 0
    async with InfluxClient(url, "bench", timeout_s=120) as influx:
        await influx.create_database()
        lines: list[str] = []
        for u in range(1, placements + 1):
            base = start_ms + (u - 1) * minutes * 60_000
            for p in range(1, sensors + 1):
                tags = f"reading,device=FR-{u},sensor=p{p},site=BSL,source=unit temp_c="
                for m in range(minutes):
                    warm = 4.0 if m % 50_000 < 40 else 0.0
                    temp = 5.0 + ((m + p) % 1440) / 1440 + warm
                    lines.append(f"{tags}{temp:.2f} {base + m * 60_000}")
                    if len(lines) == _BATCH_LINES:
                        await influx.write_body("\n".join(lines).encode())
                        written += len(lines)
                        lines = []
        if lines:
            await influx.write_body("\n".join(lines).encode())
            written += len(lines)
    return written


async def _floor(url: str, engine: Engine, path: Path) -> float:
    """Seconds for InfluxDB to answer the export's requests as CSV into `path`."""
    record = load_batch_record(engine, batch="LOT-B", viewer=None, now=datetime.now(UTC))
    began = time.perf_counter()
    async with InfluxClient(url, "bench", timeout_s=120) as influx:
        with path.open("wb") as sink:
            for placement in record.placements:
                for sensor in placement.sensors:
                    request = sensor_request(
                        sensor, start_ms=placement.start_ms, end_ms=placement.until_ms
                    )
                    async with influx.raw_query(request, accept="application/csv") as answer:
                        async for piece in answer.pieces:
                            sink.write(piece)
    return time.perf_counter() - began


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--readings", type=int, default=5_000_000)
    parser.add_argument("--placements", type=int, default=5)
    parser.add_argument("--sensors", type=int, default=10)
    parser.add_argument("--format", default="csv", choices=("csv", "json", "pdf"))
    args = parser.parse_args()
    minutes = args.readings // (args.placements * args.sensors)
    with tempfile.TemporaryDirectory(prefix="bench-export-") as tmp:
        work = Path(tmp)
        with running_influxd(work / "influxd") as server:
            began = time.perf_counter()
            total = asyncio.run(_fill(server.url, args.placements, args.sensors, minutes))
            print(f"filled {total:,} readings in {time.perf_counter() - began:.1f} s")
            catalog = f"sqlite:///{work / 'catalog.sqlite3'}"
            engine = create_catalog_engine(catalog)
            upgrade_catalog(engine)
            (work / "fleet.yaml").write_text(_fleet(args.placements, args.sensors, minutes))
            import_fleet(engine, work / "fleet.yaml", actor="bench")
            floor_csv = work / "floor.csv"
            floors = [asyncio.run(_floor(server.url, engine, floor_csv))]
            out = work / f"record.{args.format}"
            common = ["--catalog-url", catalog, "--data-dir", str(work / "var")]
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", _CLI, "export", "LOT-B", "--format", args.format,
                 "-o", str(out), "--influx-url", server.url, "--influx-db", "bench", *common],
                check=True,
            )  # fmt: skip
            wall = time.perf_counter() - began
            peak_mib = resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss / 1024
            floors.append(asyncio.run(_floor(server.url, engine, floor_csv)))
            engine.dispose()
            floor = sum(floors) / len(floors)
            print(
                f"floor: InfluxDB answering the same requests as CSV into a file: "
                f"{floors[0]:.1f} s before, {floors[1]:.1f} s after the export "
                f"({floor_csv.stat().st_size / 1e6:,.0f} MB)"
            )
            print(
                f"export {args.format}: {total:,} readings in {wall:.1f} s "
                f"({total / wall:,.0f} readings/s) = {wall / floor:.2f} × the floor, "
                f"peak RSS {peak_mib:.0f} MiB, file {out.stat().st_size / 1e6:,.0f} MB "
                f"(targets: 15 s, 300 MB)"
            )
            began = time.perf_counter()
            subprocess.run(
                [sys.executable, "-c", _CLI, "verify", str(out), "--data-dir", str(work / "var")],
                check=True,
            )
            print(f"verify: {time.perf_counter() - began:.1f} s")


if __name__ == "__main__":
    main()
