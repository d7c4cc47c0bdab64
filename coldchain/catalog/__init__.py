"""The catalog (docs/design.md §3): relational state that gives readings their meaning.

Sponsors, users, sites, units, sensors, products, batches, shipments, placements (the
chain of custody), alert tables and the hash-chained audit trail, in SQLite or PostgreSQL.
See README.md in this folder for the tables, the queries and the failure behaviour.
"""

from coldchain.catalog.audit import AuditEntry, AuditVerification, append_audit, verify_audit_chain
from coldchain.catalog.credentials import (
    IssuedToken,
    authenticate_password,
    authenticate_token,
    create_token,
    set_password,
)
from coldchain.catalog.errors import (
    CatalogConflict,
    CatalogError,
    CatalogNotFound,
    CatalogNotMigrated,
    CatalogUnavailable,
)
from coldchain.catalog.importer import ImportReport, import_fleet
from coldchain.catalog.migrate import upgrade_catalog
from coldchain.catalog.placements import close_placement, move_batch, place_batch
from coldchain.catalog.queries import (
    AppliedCondition,
    BatchView,
    Budget,
    PlacementView,
    ProductView,
    batches_for_sponsor,
    chain_of_custody,
    products_for_sponsor,
    storage_condition_for_sensor,
    stored_in_unit,
    visible_sponsors_for_unit,
    where_is_batch,
)
from coldchain.catalog.store import catalog_session, create_catalog_engine
from coldchain.catalog.users import Viewer, upsert_user, viewer_for_user

__all__ = [
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
]
