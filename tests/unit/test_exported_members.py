"""Each package's public names, pinned (as httpx pins its own): what a package exports is a
promise to the stages that import it, so a change to it is a deliberate edit here, and
every name a module lists in `__all__` must exist."""

from __future__ import annotations

import importlib
import pkgutil
from types import ModuleType

import pytest

STAGES = [
    "coldchain",
    "ingest",
    "alerting",
    "api",
    "dashboards",
    "simulators",
    "logger_import",
    "backup",
    "cli",
]

PACKAGE_EXPORTS: dict[str, list[str]] = {
    "alerting.channels": ["Channel", "EmailChannel", "MqttChannel", "WebhookChannel", "sign"],
    "api.access": [
        "Access",
        "AlertFilter",
        "AlertItem",
        "Device",
        "HistorySegment",
        "Limits",
        "LivePlace",
        "Location",
        "PlaceDetail",
        "Span",
        "Stay",
    ],
    "api.export": [
        "ExportDone",
        "ExportError",
        "ExportForbidden",
        "ExportFormatError",
        "ExportSigner",
        "FORMATS",
        "KeyMissing",
        "MEDIA_TYPES",
        "PUBLIC_KEY_NAME",
        "Verification",
        "VerifyError",
        "export_batch",
        "load_public_key",
        "verify_bytes",
        "verify_file",
    ],
    "api.readings": [
        "HistoryResult",
        "LiveReading",
        "SensorLive",
        "SeriesPoints",
        "read_history",
        "read_live",
        "read_sparklines",
    ],
    "api.routes": ["ROUTERS", "page"],
    "backup": [
        "BackupDamaged",
        "BackupError",
        "BackupIncompatible",
        "DEFAULT_SLICE_MS",
        "MANIFEST_NAME",
        "Manifest",
        "RestoreIncomplete",
        "RestoreReport",
        "SeriesRestored",
        "TargetNotEmpty",
        "VerifiedBackup",
        "create_backup",
        "open_backup",
        "restore_backup",
    ],
    "coldchain.catalog": [
        "AppliedCondition",
        "AuditEntry",
        "AuditVerification",
        "BatchView",
        "Budget",
        "CatalogConflict",
        "CatalogError",
        "CatalogNotFound",
        "CatalogNotMigrated",
        "CatalogUnavailable",
        "ImportReport",
        "IssuedToken",
        "PlacementView",
        "ProductView",
        "Viewer",
        "append_audit",
        "authenticate_password",
        "authenticate_token",
        "batches_for_sponsor",
        "catalog_session",
        "chain_of_custody",
        "close_placement",
        "create_catalog_engine",
        "create_token",
        "import_fleet",
        "move_batch",
        "place_batch",
        "products_for_sponsor",
        "set_password",
        "storage_condition_for_sensor",
        "stored_in_unit",
        "upgrade_catalog",
        "upsert_user",
        "verify_audit_chain",
        "viewer_for_user",
        "visible_sponsors_for_unit",
        "where_is_batch",
    ],
    "coldchain.loggers": [
        "AlarmDirection",
        "AlarmMode",
        "AlarmRule",
        "DailyAlarm",
        "DailySummary",
        "FORMATS",
        "LoggedReading",
        "LoggerFile",
        "LoggerFileError",
        "LoggerFormat",
        "MissingReading",
        "RunEvent",
        "RunSummary",
        "SensorTimeout",
        "parse_logger_file",
        "parse_logger_text",
    ],
    "coldchain.mqtt": ["Delivery", "MqttPublisher", "MqttSubscriber", "authenticate"],
    "coldchain.security": [
        "SECRETS_DIR",
        "TlsFiles",
        "ensure_demo_pki",
        "new_secret",
        "read_or_create_secret",
        "read_secret_file",
        "write_private_file",
    ],
    "simulators": [
        "Chunk",
        "RunStats",
        "SimPlan",
        "Simulation",
        "TruthEvent",
        "build_plan",
        "generate_fleet",
        "run_to_file",
        "run_to_mqtt",
    ],
}


def _modules() -> list[str]:
    names = []
    for stage in STAGES:
        package = importlib.import_module(stage)
        names.append(stage)
        for info in pkgutil.walk_packages(package.__path__, prefix=f"{stage}."):
            if ".migrations." not in info.name:
                names.append(info.name)
    return names


@pytest.mark.parametrize("package", sorted(PACKAGE_EXPORTS))
def test_a_package_exports_exactly_its_pinned_names(package: str) -> None:
    module = importlib.import_module(package)
    assert sorted(module.__all__) == PACKAGE_EXPORTS[package]


@pytest.mark.parametrize("name", _modules())
def test_every_name_in_a_modules_all_exists(name: str) -> None:
    module: ModuleType = importlib.import_module(name)
    missing = [n for n in getattr(module, "__all__", []) if not hasattr(module, n)]
    assert not missing, f"{name}.__all__ lists names it does not define: {missing}"
