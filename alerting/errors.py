"""Exceptions of the detector and its notification channels, split by what to do.

    ColdchainError
    └── AlertingError
        ├── StateStoreError     the detector's state file failed: stop (do not ack)
        └── DeliveryFailed      a channel could not deliver: keep the row, retry later

Catalog failures are `coldchain.catalog.CatalogError` (retry while `CatalogUnavailable`).
"""

from __future__ import annotations

from coldchain.errors import ColdchainError

__all__ = ["AlertingError", "DeliveryFailed", "StateStoreError"]


class AlertingError(ColdchainError):
    """Something the detector or a notification channel could not do."""


class StateStoreError(AlertingError):
    """The state file could not be read or written; the message names the path."""


class DeliveryFailed(AlertingError):
    """A receiver did not take a notification (down, refused, timed out); retry later."""
