"""The Shipment and Pipeline health dashboards (dashboards 3 and 4)."""

from __future__ import annotations

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from coldchain.influx import valid_readings_condition
from coldchain.measurements import PIPELINE, READING
from dashboards.corrections import corrected_query, correction_note
from dashboards.influxql import InfluxQuery
from dashboards.inputs import BuildInputs
from dashboards.panels import custom_variable, grid, query_variable, thresholds, timeseries_panel

__all__ = [
    "BACKFILL_DELAY_MS",
    "PIPELINE_UID",
    "SHIPMENT_UID",
    "pipeline_dashboard",
    "shipment_dashboard",
]

SHIPMENT_UID = "coldchain-shipment"
PIPELINE_UID = "coldchain-pipeline"

# `:regex`: every value regex-escaped (a "/" too), several as an alternation, so a value
# crafted into the dashboard's URL stays inside the regex and cannot add a clause or a
# statement (never `:raw`; tests/unit/dashboards/test_variables.py).
_SHIPMENT_DEVICES = '"source" = \'logger\' AND "device" =~ /^${shipment:regex}$/'
_LOGGERS = f'{_SHIPMENT_DEVICES} AND "sensor" =~ /^$sensor$/ AND $timeFilter'
# A reading that arrived more than 10 min after it was taken came from a logger's memory.
BACKFILL_DELAY_MS = 600_000


def _shipment_variable(inputs: BuildInputs) -> dash.QueryVariable | dash.CustomVariable:
    if inputs.shipments:
        # One option per logger, labelled with its shipment, and the first shipment's
        # loggers selected: a shipment is its loggers, chosen as several values, since one
        # value holding an alternation could only be inserted unescaped.
        options = [
            (f"{s.shipment} {logger}", logger) for s in inputs.shipments for logger in s.loggers
        ]
        first = len(inputs.shipments[0].loggers)
        return custom_variable("shipment", "Shipment loggers", options, multi=True, selected=first)  # type: ignore[return-value]
    # Without a fleet file there is no shipment -> logger map: pick a logger directly.
    return query_variable(
        "shipment",
        "Shipment logger",
        f'SHOW TAG VALUES FROM "{READING}" WITH KEY = "device" WHERE "source" = \'logger\'',
    )  # type: ignore[return-value]


def shipment_dashboard(inputs: BuildInputs) -> dash.Dashboard:
    """A shipment's loggers along the lane (calibration-corrected): gaps stay gaps,
    backfilled readings marked."""
    corrections = inputs.corrections_of("logger")
    temps = (
        timeseries_panel(
            1,
            "Logger temperatures along the lane",
            "celsius",
            [
                InfluxQuery(
                    "A",
                    corrected_query(
                        '"temp_c"',
                        ["temp_c"],
                        f'"{READING}"',
                        f"{_LOGGERS} AND {valid_readings_condition(inputs.validity)}",
                        '"device", "sensor"',
                        corrections,
                    ),
                ).alias("$tag_device $tag_sensor")
            ],
            grid(0, 0, 24, 10),
        )
        # No point for longer than this: break the line (Grafana's "disconnect values").
        .insert_nulls(inputs.gap_ms)
        .show_points(common.VisibilityMode.ALWAYS)
        .point_size(3)
    )
    note = correction_note(corrections)
    if note is not None:
        temps.description(note)
    delay = (
        timeseries_panel(
            2,
            "Arrival delay: backfilled readings (orange) came from logger memory",
            "ms",
            [
                InfluxQuery(
                    "A",
                    f'SELECT "received_ms" FROM "{READING}" WHERE {_LOGGERS}'
                    ' GROUP BY "device", "sensor"',
                ).alias("received_ms")
            ],
            grid(0, 10, 24, 6),
        )
        .with_transformation(
            model.DataTransformerConfig(
                id_val="calculateField",
                options={
                    "mode": "binary",
                    "binary": {"left": "received_ms", "operator": "-", "right": "Time"},
                    "alias": "arrival delay",
                    "replaceFields": True,
                },
            )
        )
        .draw_style(common.GraphDrawStyle.BARS)
        .fill_opacity(80)
        .color_scheme(dash.FieldColor().mode(model.FieldColorModeId.THRESHOLDS))
        .thresholds(thresholds([(None, "green"), (BACKFILL_DELAY_MS, "orange")]))
        .insert_nulls(inputs.gap_ms)
    )
    return (
        dash.Dashboard("Cold chain: shipment")
        .uid(SHIPMENT_UID)
        .tags(["coldchain"])
        .time("now-24h", "now")
        .refresh("5m")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(_shipment_variable(inputs))
        .with_variable(
            query_variable(
                "sensor",
                "Sensor",
                f'SHOW TAG VALUES FROM "{READING}" WITH KEY = "sensor" WHERE {_SHIPMENT_DEVICES}',
                multi=True,
            )
        )
        .with_panel(temps)
        .with_panel(delay)
    )


def _rate(ref: str, field: str, service: str, label: str) -> InfluxQuery:
    # Counters restart at 0 with the process; non_negative_derivative skips that drop.
    return InfluxQuery(
        ref,
        f'SELECT non_negative_derivative(max("{field}"), 1s) FROM "{PIPELINE}"'
        f" WHERE \"service\" = '{service}' AND $timeFilter"
        ' GROUP BY time($__interval), "worker" fill(none)',
    ).alias(f"{label} $tag_worker")


def _gauge(ref: str, aggregate: str, field: str, service: str, label: str) -> InfluxQuery:
    return InfluxQuery(
        ref,
        f'SELECT {aggregate}("{field}") FROM "{PIPELINE}"'
        f" WHERE \"service\" = '{service}' AND $timeFilter"
        ' GROUP BY time($__interval), "worker" fill(none)',
    ).alias(f"{label} $tag_worker")


def pipeline_dashboard(_: BuildInputs) -> dash.Dashboard:
    """The pipeline's own counters, written by each service as `pipeline` points."""
    panels = [
        timeseries_panel(
            1,
            "Readings/s received and lines/s written",
            "reqps",
            [
                _rate("A", "readings_received", "ingest", "received"),
                _rate("B", "lines_written", "ingest", "written"),
            ],
            grid(0, 0, 12, 8),
        ),
        timeseries_panel(
            2,
            "Spool depth",
            "bytes",
            [_gauge("A", "max", "spool_depth_bytes", "ingest", "spool")],
            grid(12, 0, 12, 8),
        ),
        timeseries_panel(
            3,
            "Dead letters per interval",
            "none",
            [
                InfluxQuery(
                    "A",
                    f'SELECT non_negative_difference(max("dead_letters")) FROM "{PIPELINE}"'
                    " WHERE \"service\" = 'ingest' AND $timeFilter"
                    ' GROUP BY time($__interval), "worker" fill(none)',
                ).alias("dead letters $tag_worker")
            ],
            grid(0, 8, 12, 8),
        ).draw_style(common.GraphDrawStyle.BARS),
        timeseries_panel(
            4,
            "InfluxDB write latency",
            "ms",
            [
                _gauge("A", "max", "write_latency_ms_p50", "ingest", "p50"),
                _gauge("B", "max", "write_latency_ms_max", "ingest", "max"),
            ],
            grid(12, 8, 12, 8),
        ),
        timeseries_panel(
            5,
            "Detector lag (event time behind wall clock)",
            "ms",
            [_gauge("A", "max", "detector_lag_ms", "detector", "lag")],
            grid(0, 16, 12, 8),
        ),
        timeseries_panel(
            6,
            "Notification outbox depth",
            "none",
            [_gauge("A", "max", "outbox_depth", "detector", "outbox")],
            grid(12, 16, 12, 8),
        ),
    ]
    board = (
        dash.Dashboard("Cold chain: pipeline health")
        .uid(PIPELINE_UID)
        .tags(["coldchain"])
        .time("now-6h", "now")
        .refresh("30s")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
    )
    for panel in panels:
        board = board.with_panel(panel)
    return board
