"""Secrets on disk and the private CA: what the broker, the store and the services share."""

from coldchain.security.secrets import (
    SECRETS_DIR,
    new_secret,
    read_or_create_secret,
    read_secret_file,
    write_private_file,
)
from coldchain.security.tls import TlsFiles, ensure_demo_pki

__all__ = [
    "SECRETS_DIR",
    "TlsFiles",
    "ensure_demo_pki",
    "new_secret",
    "read_or_create_secret",
    "read_secret_file",
    "write_private_file",
]
