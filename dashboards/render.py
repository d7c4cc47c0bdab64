"""Dashboards to JSON files and the reviewer's Markdown panel list, byte for byte the same
for the same inputs (sorted keys, fixed ids and positions, no timestamps)."""

from __future__ import annotations

import json
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any, Final

from grafana_foundation_sdk.builders import dashboard as dash
from grafana_foundation_sdk.cog.encoder import JSONEncoder

from dashboards.corrections import corrections_table
from dashboards.inputs import BuildInputs
from dashboards.ops_boards import pipeline_dashboard, shipment_dashboard
from dashboards.storage_boards import fleet_dashboard, unit_dashboard

__all__ = [
    "BUILDERS",
    "README_BEGIN",
    "README_END",
    "build_dashboards",
    "iter_targets",
    "panel_table",
    "update_readme",
    "write_dashboards",
]

BUILDERS: Final[tuple[Callable[[BuildInputs], dash.Dashboard], ...]] = (
    fleet_dashboard,
    unit_dashboard,
    shipment_dashboard,
    pipeline_dashboard,
)
README_BEGIN: Final = "<!-- BEGIN GENERATED: coldchain dashboards build -->"
README_END: Final = "<!-- END GENERATED -->"


def build_dashboards(inputs: BuildInputs) -> dict[str, dict[str, Any]]:
    """Every dashboard as Grafana JSON (plain dicts), keyed by its uid."""
    result: dict[str, dict[str, Any]] = {}
    for builder in BUILDERS:
        model = builder(inputs).build()
        data: dict[str, Any] = json.loads(json.dumps(model, cls=JSONEncoder))
        result[str(data["uid"])] = data
    return result


def dashboard_text(data: dict[str, Any]) -> str:
    return json.dumps(data, indent=2, sort_keys=True, ensure_ascii=False) + "\n"


def write_dashboards(dashboards: dict[str, dict[str, Any]], directory: Path) -> list[Path]:
    """`{uid}.json` per dashboard; files of other names in `directory` are left alone."""
    directory.mkdir(parents=True, exist_ok=True)
    paths = []
    for uid, data in sorted(dashboards.items()):
        path = directory / f"{uid}.json"
        path.write_text(dashboard_text(data), encoding="utf-8")
        paths.append(path)
    return paths


def iter_targets(data: dict[str, Any]) -> Iterator[tuple[dict[str, Any], dict[str, Any]]]:
    """(panel, target) for every panel query, rows' nested panels included."""
    for panel in data.get("panels") or []:
        for inner in [panel, *(panel.get("panels") or [])]:
            for target in inner.get("targets") or []:
                yield inner, target


def _cell(text: str) -> str:
    return "`" + text.replace("|", "\\|").replace("`", "'") + "`" if text else ""


def _steps(thresholds: dict[str, Any] | None) -> str:
    if not thresholds:
        return ""
    parts = []
    for step in thresholds.get("steps", []):
        value = step.get("value")
        parts.append(f"{step['color']}" if value is None else f"≥{value:g} {step['color']}")
    return ", ".join(parts)


def _override_summary(panel: dict[str, Any]) -> str:
    overrides = (panel.get("fieldConfig") or {}).get("overrides") or []
    units = [
        o["matcher"]["options"]
        for o in overrides
        if any(p["id"] == "thresholds" for p in o.get("properties", []))
    ]
    return f"; per unit: {len(units)} overrides" if units else ""


def panel_table(data: dict[str, Any]) -> str:
    """One dashboard's panels as Markdown: title, query, unit, thresholds."""
    variables = ", ".join(f"`${v['name']}`" for v in data["templating"].get("list", [])) or "none"
    lines = [
        f"### {data['title']} (`{data['uid']}`)",
        "",
        f"Variables: {variables}. Default range: {data['time']['from']} to {data['time']['to']}.",
        "",
        "| panel | query | unit | thresholds |",
        "|---|---|---|---|",
    ]
    for panel, target in iter_targets(data):
        defaults = (panel.get("fieldConfig") or {}).get("defaults") or {}
        lines.append(
            f"| {panel['title']} | {_cell(target['query'])} | {defaults.get('unit', '')} "
            f"| {_steps(defaults.get('thresholds'))}{_override_summary(panel)} |"
        )
    for annotation in data.get("annotations", {}).get("list", []):
        if "query" in annotation:
            lines.append(f"| annotation: {annotation['name']} | {_cell(annotation['query'])} | | |")
    return "\n".join(lines) + "\n"


def limits_table(inputs: BuildInputs) -> str:
    if not inputs.limits:
        return "No fleet file: no per-unit limits (probes shown in blue).\n"
    lines = [
        "| unit | action limits °C | alert limits °C | from |",
        "|---|---|---|---|",
        *(
            f"| {u.name} | {u.action_min_c:g} … {u.action_max_c:g} "
            f"| {u.alert_min_c:g} … {u.alert_max_c:g} | {u.source} |"
            for u in inputs.limits
        ),
    ]
    return "\n".join(lines) + "\n"


def generated_markdown(dashboards: dict[str, dict[str, Any]], inputs: BuildInputs) -> str:
    """The generated part of dashboards/README.md."""
    parts = [panel_table(data) for data in dashboards.values()]
    return "\n".join(
        [
            *parts,
            "### Unit limits baked into the build",
            "",
            limits_table(inputs),
            "### Calibration corrections baked into the build",
            "",
            corrections_table(inputs.corrections),
        ]
    )


def update_readme(path: Path, generated: str) -> bool:
    """Replace the text between the markers of `path`; True when the file changed."""
    text = path.read_text(encoding="utf-8") if path.exists() else ""
    block = f"{README_BEGIN}\n{generated}{README_END}"
    if README_BEGIN in text and README_END in text:
        head, _, rest = text.partition(README_BEGIN)
        _, _, tail = rest.partition(README_END)
        new = head + block + tail
    else:
        new = text + ("\n" if text else "") + block + "\n"
    if new == text:
        return False
    path.write_text(new, encoding="utf-8")
    return True
