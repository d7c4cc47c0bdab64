"""`coldchain simulate FLEET.yaml`: storage units and shipment loggers over MQTT or to a file."""

from __future__ import annotations

import asyncio
import time
from pathlib import Path
from typing import Annotated

import typer

from cli.options import ConfigFile, MqttUrl, build_settings, fail
from coldchain import times
from coldchain.errors import ConfigError, MqttPublishFailed
from coldchain.fleet import load_fleet
from simulators.durations import parse_duration_s, parse_rfc3339_ms
from simulators.engine import Simulation
from simulators.filesink import FileFormat
from simulators.plan import build_plan
from simulators.runner import CatchUp, RunStats, run_to_file, run_to_mqtt

__all__ = ["HISTORY_LINE", "simulate"]

_LOAD_BATCH_S = 3600.0
# What a catching-up run prints (`coldchain up` relays these lines from the run's log).
HISTORY_LINE = "history"
_PROGRESS_EVERY_S = 1.0


def _duration_ms(text: str) -> int:
    try:
        return round(parse_duration_s(text) * 1000)
    except ValueError as exc:
        raise typer.BadParameter(str(exc), param_hint="--duration") from exc


def _start_ms(text: str | None, duration_ms: int, backfill: bool) -> int:
    if text is not None:
        try:
            return parse_rfc3339_ms(text)
        except ValueError as exc:
            raise typer.BadParameter(str(exc), param_hint="--start") from exc
    now_ms = times.now_ms() // 60_000 * 60_000  # whole minutes: readings on round times
    return now_ms - duration_ms if backfill else now_ms


def simulate(
    fleet: Annotated[Path, typer.Argument(help="fleet file (YAML, docs/design.md §10)")],
    mqtt_url: MqttUrl = None,
    config: ConfigFile = None,
    speed: Annotated[
        float,
        typer.Option(
            "--speed", min=0, help="simulated seconds per second; 0 = as fast as possible"
        ),
    ] = 1.0,
    duration: Annotated[
        str, typer.Option("--duration", help="how much simulated time, e.g. 12h, 7d")
    ] = "1d",
    start: Annotated[
        str | None,
        typer.Option("--start", help="RFC 3339; default now, or now - duration when not paced"),
    ] = None,
    seed: Annotated[
        int | None,
        typer.Option("--seed", help="default: simulation.seed of the fleet file, else 0"),
    ] = None,
    ground_truth: Annotated[
        Path | None, typer.Option("--ground-truth", help="write injected events here (JSON lines)")
    ] = None,
    to_file: Annotated[
        Path | None, typer.Option("--to-file", help="write readings here instead of publishing")
    ] = None,
    file_format: Annotated[
        str, typer.Option("--file-format", help="lp (InfluxDB line protocol) or csv")
    ] = "lp",
    load: Annotated[
        bool,
        typer.Option(
            "--load", help="publish as fast as possible in large batches; print readings/s"
        ),
    ] = False,
    batch: Annotated[
        float | None,
        typer.Option(
            "--batch", min=0, help="seconds of a unit's readings per message (0 = each log)"
        ),
    ] = None,
    catch_up: Annotated[
        bool,
        typer.Option(
            "--catch-up",
            help="with --start in the past: publish as fast as possible until the simulation "
            "reaches now, then pace at --speed (one run fills the history and goes on live)",
        ),
    ] = False,
) -> None:
    """Simulate the fleet's storage units and shipment loggers, publishing over MQTT."""
    if file_format not in ("lp", "csv"):
        raise typer.BadParameter(
            f"expected lp or csv, got {file_format!r}", param_hint="--file-format"
        )
    fmt: FileFormat = "lp" if file_format == "lp" else "csv"
    span_ms = _duration_ms(duration)
    if catch_up and (load or to_file is not None):
        raise typer.BadParameter("not with --load or --to-file", param_hint="--catch-up")
    paced = speed > 0 and not load and to_file is None
    begin_ms = _start_ms(start, span_ms, backfill=not paced)
    settings = build_settings(config, mqtt_url=mqtt_url)
    try:
        plan = build_plan(load_fleet(fleet), begin_ms, begin_ms + span_ms, seed)
        sim = Simulation(
            plan, batch_s=batch if batch is not None else (_LOAD_BATCH_S if load else 0.0)
        )
    except ConfigError as exc:
        fail(f"fleet error: {exc}", 2)
    if to_file is not None:
        stats = run_to_file(sim, to_file, fmt, ground_truth)
        _report(stats, f"wrote {to_file}")
        return
    try:
        stats = asyncio.run(
            run_to_mqtt(
                sim,
                settings.mqtt,
                speed=0.0 if load else speed,
                ground_truth=ground_truth,
                catch_up=catch_up,
                progress=_CatchUpReport(speed) if catch_up else None,
            )
        )
    except MqttPublishFailed as exc:
        fail(f"simulate: {exc}", 1)
    _report(stats, f"published to {settings.mqtt!r}")


class _CatchUpReport:
    """One line a second while the history fills ("history: 14:00 of 24:00 simulated,
    120,345 readings"), then one summary line."""

    def __init__(self, speed: float) -> None:
        self._speed = speed
        self._last = 0.0

    def __call__(self, at: CatchUp) -> None:
        done = f"{_hours(at.done_ms)} of {_hours(at.span_ms)} simulated"
        if at.caught_up:
            pace = f"at {self._speed:g}x" if self._speed > 0 else "as fast as possible"
            typer.echo(
                f"{HISTORY_LINE} filled; simulating live {pace}: {done} in "
                f"{at.elapsed_s:.1f} s, {at.readings:,} readings in {at.messages:,} messages"
            )
        elif time.monotonic() - self._last >= _PROGRESS_EVERY_S:
            self._last = time.monotonic()
            typer.echo(f"{HISTORY_LINE}: {done}, {at.readings:,} readings")


def _hours(ms: int) -> str:
    minutes = ms // 60_000
    return f"{minutes // 60}:{minutes % 60:02d}"


def _report(stats: RunStats, what: str) -> None:
    typer.echo(
        f"{what}: {stats.readings} readings ({stats.distinct_readings} distinct) in "
        f"{stats.messages} messages, "
        f"{stats.truth_events} ground-truth events, {stats.elapsed_s:.1f} s, "
        f"{stats.readings_per_s:,.0f} readings/s"
    )
