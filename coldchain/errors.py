"""Exceptions of the shared domain, split by what the caller must do.

ColdchainError
├── ConfigError          bad settings or fleet file: refuse to start
├── PayloadError         a message we cannot accept: dead-letter it, then ack
├── MqttPublishFailed    the broker did not take a publish: keep it, retry or stop
└── StoreError
    ├── StoreUnavailable the store did not answer: keep the data, retry later
    │   └── DatabaseNotFound  the database is not there (yet): create it, then retry
    └── StoreRejected    the store refused the data (4xx): dead-letter it
"""

from __future__ import annotations

__all__ = [
    "ColdchainError",
    "ConfigError",
    "DatabaseNotFound",
    "MqttPublishFailed",
    "PayloadError",
    "StoreError",
    "StoreRejected",
    "StoreUnavailable",
]


class ColdchainError(Exception):
    """Root of every error this project raises on purpose."""


class ConfigError(ColdchainError):
    """Settings or a fleet file that cannot be used; the process should not start."""


class PayloadError(ColdchainError):
    """A message that breaks the wire format; the reason names the field and the value."""


class MqttPublishFailed(ColdchainError):
    """The broker refused a connection or a publish, or did not acknowledge it in time;
    the message is still the caller's to retry or report."""


class StoreError(ColdchainError):
    """InfluxDB did not take a write or answer a query."""


class StoreUnavailable(StoreError):
    """A transport failure or 5xx: the data is fine, the store is not; retry."""


class DatabaseNotFound(StoreUnavailable):
    """A write to a database the server does not have (dropped, or not yet created): the
    data is fine; a writer allowed to create the database does, then retries."""


class StoreRejected(StoreError):
    """A 4xx: the store will refuse the same request again, so retrying is pointless.

    Attributes:
        status_code: the HTTP status the server answered.
        server_message: the server's own error text, kept verbatim.
    """

    def __init__(self, message: str, *, status_code: int, server_message: str) -> None:
        super().__init__(message)
        self.status_code = status_code
        self.server_message = server_message
