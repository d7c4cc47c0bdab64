"""The InfluxDB data source and raw-InfluxQL panel targets for the foundation SDK.

grafana-foundation-sdk ships typed queries for many data sources but none for InfluxDB, so
this module adds the one target shape we use: a raw InfluxQL query (`rawQuery: true`), the
form Grafana stores when the query editor is in text mode. Raw queries can be run outside
Grafana, which is what `coldchain dashboards check` does.
"""

from __future__ import annotations

from typing import Final, Self

from grafana_foundation_sdk.cog import builder as cogbuilder
from grafana_foundation_sdk.cog import variants as cogvariants
from grafana_foundation_sdk.models import dashboard as model

__all__ = [
    "DATASOURCE",
    "DATASOURCE_NAME",
    "DATASOURCE_UID",
    "MIN_INTERVAL",
    "InfluxQuery",
    "InfluxTarget",
    "influx_annotation",
]

DATASOURCE_UID: Final = "coldchain-influxdb"
DATASOURCE_NAME: Final = "Coldchain InfluxDB"
DATASOURCE: Final = model.DataSourceRef(type_val="influxdb", uid=DATASOURCE_UID)
# The data source's `timeInterval`: the pipeline writes its counters every 5 s, so finer
# buckets would only be empty.
MIN_INTERVAL: Final = "10s"


class InfluxTarget(cogvariants.Dataquery):
    """A panel target holding raw InfluxQL; `alias` may use `$tag_<key>` like Grafana's."""

    def __init__(self, ref_id: str, query: str, alias: str | None = None) -> None:
        self.ref_id = ref_id
        self.query = query
        self.alias = alias

    def to_json(self) -> dict[str, object]:
        payload: dict[str, object] = {
            "refId": self.ref_id,
            "datasource": DATASOURCE,
            "query": self.query,
            "rawQuery": True,
            "resultFormat": "time_series",
        }
        if self.alias is not None:
            payload["alias"] = self.alias
        return payload


class InfluxQuery(cogbuilder.Builder[cogvariants.Dataquery]):
    """Builder of an `InfluxTarget`, so it plugs into `.with_target(...)` of any panel.

    Usage:
        TimeseriesBuilder().with_target(InfluxQuery("A", 'SELECT ... WHERE $timeFilter'))
    """

    def __init__(self, ref_id: str, query: str) -> None:
        self._internal = InfluxTarget(ref_id, query)

    def alias(self, alias: str) -> Self:
        self._internal.alias = alias
        return self

    def build(self) -> cogvariants.Dataquery:
        return self._internal


class _InfluxAnnotation(model.AnnotationQuery):
    """An annotation read by InfluxQL: the SDK's type lacks the query and column keys."""

    def __init__(self, name: str, query: str, color: str, text: str, tags: str) -> None:
        super().__init__(name=name, datasource=DATASOURCE, enable=True, icon_color=color)
        self.query = query
        self.text_column = text
        self.tags_column = tags

    def to_json(self) -> dict[str, object]:
        payload = super().to_json()
        # Grafana 9/10 read `target`; older ones the top-level keys. Both are written.
        payload["query"] = self.query
        payload["textColumn"] = self.text_column
        payload["tagsColumn"] = self.tags_column
        payload["target"] = {
            "refId": "Anno",
            "query": self.query,
            "rawQuery": True,
            "fromAnnotations": True,
            "textColumn": self.text_column,
            "tagsColumn": self.tags_column,
        }
        return payload


class _AnnotationBuilder(cogbuilder.Builder[model.AnnotationQuery]):
    def __init__(self, annotation: _InfluxAnnotation) -> None:
        self._internal = annotation

    def build(self) -> model.AnnotationQuery:
        return self._internal


def influx_annotation(
    name: str, query: str, *, color: str, text: str, tags: str
) -> cogbuilder.Builder[model.AnnotationQuery]:
    """An InfluxQL annotation: each row a marker, `text` column as text, `tags` as tags."""
    return _AnnotationBuilder(_InfluxAnnotation(name, query, color, text, tags))
