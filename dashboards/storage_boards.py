"""The Fleet and Storage unit dashboards (dashboards 1 and 2)."""

from __future__ import annotations

import re

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.builders import stat, timeseries
from grafana_foundation_sdk.models import common
from grafana_foundation_sdk.models import dashboard as model

from coldchain.downsampling import RESOLUTIONS, valid_buckets_condition
from coldchain.influx import valid_readings_condition
from coldchain.measurements import ALERT, READING
from dashboards.corrections import corrected_query, correction_note
from dashboards.influxql import InfluxQuery, influx_annotation
from dashboards.inputs import BuildInputs
from dashboards.limits import threshold_steps
from dashboards.panels import (
    custom_variable,
    grid,
    query_variable,
    stat_panel,
    thresholds,
    timeseries_panel,
)

__all__ = ["FLEET_UID", "UNIT_UID", "fleet_dashboard", "unit_dashboard"]

FLEET_UID = "coldchain-fleet"
UNIT_UID = "coldchain-unit"

SITES = f'SHOW TAG VALUES FROM "{READING}" WITH KEY = "site"'
_UNIT_READINGS = (
    '"site" =~ /^$site$/ AND "source" = \'unit\' AND "device" =~ /^$unit$/'
    ' AND "sensor" =~ /^$sensor$/ AND $timeFilter'
)
_PROBE_TAGS = '"site", "device", "sensor"'
# Colour of a probe whose unit's limits are unknown (built without a fleet file).
_NO_LIMITS = [(None, "blue")]
# Buckets are corrected as the API's history chart corrects them (api/readings/calibration.py).
_BUCKET_NOTE = (
    " A bucket takes the correction in force at its start, as the history chart does: one"
    " that spans a certificate's calibration time is not corrected reading by reading."
)


def _limit_overrides(
    panel: stat.Panel | timeseries.Panel,
    inputs: BuildInputs,
    *,
    per_probe: bool,
    style: bool = False,
) -> None:
    """Per-unit thresholds matched on the series name `SITE/UNIT ...` (one dashboard for
    every unit: only the selected unit's series exist, so only its limits apply)."""
    for limits in inputs.limits:
        pattern = f"^{re.escape(limits.name)}" + (" " if per_probe else "$")
        props = [
            model.DynamicConfigValue("thresholds", thresholds(threshold_steps(limits)).build())
        ]
        if style:
            props.append(
                model.DynamicConfigValue(
                    "custom.thresholdsStyle", {"mode": common.GraphTresholdsStyleMode.DASHED.value}
                )
            )
        panel.override_by_regexp(pattern, props)


def fleet_dashboard(inputs: BuildInputs) -> dash.Dashboard:
    """Every unit of the chosen sites at a glance: probes (calibration-corrected), open
    alerts, silent units."""
    site_filter = '"site" =~ /^$site$/ AND "source" = \'unit\' AND $timeFilter'
    # An error code (85 °C) is not the unit's temperature: the last valid reading is.
    valid = valid_readings_condition(inputs.validity)
    corrections = inputs.corrections_of("unit")
    current = stat_panel(
        1,
        "Current temperature (coloured by the unit's limits)",
        "celsius",
        [
            InfluxQuery(
                "A",
                corrected_query(
                    'last("temp_c")',
                    ["temp_c"],
                    f'"{READING}"',
                    f"{site_filter} AND {valid}",
                    _PROBE_TAGS,
                    corrections,
                ),
            ).alias("$tag_site/$tag_device $tag_sensor")
        ],
        grid(0, 0, 24, 10),
    ).thresholds(thresholds(_NO_LIMITS))
    note = correction_note(corrections)
    if note is not None:
        current.description(note)
    _limit_overrides(current, inputs, per_probe=True)
    open_alerts = (
        stat_panel(
            2,
            "Open alerts",
            "none",
            [
                InfluxQuery(
                    "A",
                    # No time filter: an alert opened before the range is still open.
                    'SELECT sum("is_open") FROM (SELECT last("is_open") AS "is_open"'
                    f' FROM "{ALERT}" WHERE "site" =~ /^$site$/ GROUP BY "alert_id")',
                ).alias("open alerts")
            ],
            grid(0, 10, 6, 6),
        )
        .thresholds(thresholds([(None, "green"), (1, "red")]))
        .no_value("0")
    )
    silent = (
        stat_panel(
            3,
            "Units with no data: minutes since the last reading arrived",
            "m",
            [
                InfluxQuery(
                    "A",
                    'SELECT (${__to} - last("received_ms")) / 60000'
                    f' FROM "{READING}" WHERE {site_filter} GROUP BY "site", "device"',
                ).alias("$tag_site/$tag_device")
            ],
            grid(6, 10, 18, 6),
        )
        .time_from("7d")
        .decimals(0)
        .thresholds(thresholds([(None, "green"), (10, "orange"), (30, "red")]))
    )
    return (
        dash.Dashboard("Cold chain: fleet")
        .uid(FLEET_UID)
        .tags(["coldchain"])
        .time("now-6h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(query_variable("site", "Site", SITES, multi=True))
        .with_panel(current)
        .with_panel(open_alerts)
        .with_panel(silent)
    )


def _band_overrides(panel: timeseries.Panel, inputs: BuildInputs) -> None:
    """Fill between each probe's max and min, so the band shows what a mean would hide."""
    for unit, sensors in inputs.sensors.items():
        for sensor in sensors:
            panel.override_by_name(
                f"{unit} {sensor} max",
                [
                    model.DynamicConfigValue("custom.fillBelowTo", f"{unit} {sensor} min"),
                    model.DynamicConfigValue("custom.fillOpacity", 20),
                ],
            )
    panel.override_by_regexp(
        " (min|max)$",
        [model.DynamicConfigValue("custom.lineStyle", {"fill": "dash", "dash": [4, 4]})],
    )


def unit_dashboard(inputs: BuildInputs) -> dash.Dashboard:
    """One storage unit: every probe, its limits, the downsampled band, alerts; only
    readings (and buckets) that are temperatures by `inputs.validity`, calibration-corrected
    (`inputs.corrections`)."""
    valid = valid_readings_condition(inputs.validity)
    valid_buckets = valid_buckets_condition(inputs.validity, RESOLUTIONS[0])
    corrections = inputs.corrections_of("unit")
    note = correction_note(corrections)
    probes = timeseries_panel(
        1,
        "Probe temperatures (every reading)",
        "celsius",
        [
            InfluxQuery(
                "A",
                corrected_query(
                    '"temp_c"',
                    ["temp_c"],
                    f'"{READING}"',
                    f"{_UNIT_READINGS} AND {valid}",
                    _PROBE_TAGS,
                    corrections,
                ),
            ).alias("$tag_site/$tag_device $tag_sensor")
        ],
        grid(0, 0, 24, 10),
    ).thresholds(thresholds(_NO_LIMITS))
    _limit_overrides(probes, inputs, per_probe=True, style=True)
    band = (
        timeseries_panel(
            2,
            "Min / max / mean per $resolution (downsampled, for long ranges)",
            "celsius",
            [
                InfluxQuery(
                    "A",
                    corrected_query(
                        'min("temp_c_min") AS "min", max("temp_c_max") AS "max",'
                        ' mean("temp_c_mean") AS "mean"',
                        ["temp_c_min", "temp_c_max", "temp_c_mean"],
                        f'"ds_$resolution"."{READING}"',
                        f"{_UNIT_READINGS} AND {valid_buckets}",
                        f"time($__interval), {_PROBE_TAGS} fill(null)",
                        corrections,
                    ),
                ).alias("$tag_site/$tag_device $tag_sensor $col")
            ],
            grid(0, 10, 24, 10),
        )
        .interval("$resolution")
        .thresholds(thresholds(_NO_LIMITS))
    )
    if note is not None:
        probes.description(note)
        band.description(note + _BUCKET_NOTE)
    _limit_overrides(band, inputs, per_probe=True, style=True)
    _band_overrides(band, inputs)
    alerts = influx_annotation(
        "Alerts",
        f'SELECT "summary", "kind", "state", "severity" FROM "{ALERT}"'
        ' WHERE "site" =~ /^$site$/ AND "device" =~ /^$unit$/ AND $timeFilter',
        color="red",
        text="summary",
        tags="kind,state,severity",
    )
    return (
        dash.Dashboard("Cold chain: storage unit")
        .uid(UNIT_UID)
        .tags(["coldchain"])
        .time("now-24h", "now")
        .refresh("1m")
        .timezone("browser")
        .tooltip(model.DashboardCursorSync.CROSSHAIR)
        .with_variable(query_variable("site", "Site", SITES))
        .with_variable(
            query_variable(
                "unit",
                "Unit",
                f'SHOW TAG VALUES FROM "{READING}" WITH KEY = "device"'
                ' WHERE "site" =~ /^$site$/ AND "source" = \'unit\'',
            )
        )
        .with_variable(
            query_variable(
                "sensor",
                "Sensor",
                f'SHOW TAG VALUES FROM "{READING}" WITH KEY = "sensor"'
                ' WHERE "site" =~ /^$site$/ AND "device" =~ /^$unit$/',
                multi=True,
            )
        )
        .with_variable(
            custom_variable(
                "resolution", "Downsampled", [("15m", "15m"), ("1m", "1m"), ("1h", "1h")]
            )
        )
        .annotation(alerts)
        .with_panel(probes)
        .with_panel(band)
    )
