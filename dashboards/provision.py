"""Push the data source and the built dashboards into a running Grafana (HTTP API).

A thin path beside file provisioning (deploy/grafana/): for a Grafana someone else runs.
grafana-client's and its HTTP library's exceptions become `ProvisionError` here, and only here.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any, Final

from coldchain.config import Settings
from coldchain.errors import ColdchainError
from dashboards.influxql import DATASOURCE_NAME, DATASOURCE_UID

__all__ = ["FOLDER_UID", "ProvisionError", "datasource_body", "provision"]

FOLDER_UID: Final = "coldchain"
_FOLDER_TITLE: Final = "Cold chain"


class ProvisionError(ColdchainError):
    """Grafana refused or could not be reached; the message names the step and uid."""


def datasource_body(settings: Settings) -> dict[str, Any]:
    """The InfluxQL data source of the `COLDCHAIN_INFLUX_*` settings, with the stable uid
    every dashboard references (the same as deploy/grafana/provisioning/datasources)."""
    body: dict[str, Any] = {
        "uid": DATASOURCE_UID,
        "name": DATASOURCE_NAME,
        "type": "influxdb",
        "access": "proxy",
        "url": settings.influx_url,
        "jsonData": {"dbName": settings.influx_db, "httpMode": "POST", "version": "InfluxQL"},
    }
    if settings.influx_username:
        body["user"] = settings.influx_username
        body["secureJsonData"] = {"password": settings.influx_password or ""}
    return body


def provision(
    grafana_url: str, token: str, settings: Settings, dashboards: Mapping[str, dict[str, Any]]
) -> list[str]:
    """Upsert the data source, the folder and every dashboard; returns what was done."""
    # Imported here: the CLI's other verbs need not load grafana-client.
    from grafana_client.api import GrafanaApi
    from grafana_client.client import GrafanaClientError, GrafanaException

    api: Any = GrafanaApi.from_url(grafana_url, credential=token)
    done: list[str] = []
    step = "data source"
    try:
        body = datasource_body(settings)
        try:
            api.datasource.get_datasource_by_uid(DATASOURCE_UID)
            api.datasource.update_datasource_by_uid(DATASOURCE_UID, body)
            done.append(f"updated data source {DATASOURCE_UID}")
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            api.datasource.create_datasource(body)
            done.append(f"created data source {DATASOURCE_UID}")
        step = "folder"
        try:
            api.folder.get_folder(FOLDER_UID)
        except GrafanaClientError as exc:
            if exc.status_code != 404:
                raise
            api.folder.create_folder(_FOLDER_TITLE, uid=FOLDER_UID)
        for uid in sorted(dashboards):
            step = f"dashboard {uid}"
            api.dashboard.update_dashboard(
                {"dashboard": dashboards[uid], "folderUid": FOLDER_UID, "overwrite": True}
            )
            done.append(f"pushed dashboard {uid}")
    except GrafanaException as exc:
        raise ProvisionError(f"grafana {step}: HTTP {exc.status_code}: {exc.message}") from exc
    except Exception as exc:  # niquests' connection errors have no common public base here
        raise ProvisionError(f"grafana {step}: {type(exc).__name__}: {exc}") from exc
    return done
