"""Secrets in the data dir: created once, mode 0600, never printed or logged.

A secret is a file `{data_dir}/secrets/{name}.secret` holding one line, or a value from the
environment (which then wins and nothing is written). Files are written to a temporary
name with mode 0600 from the start and renamed into place, so no other user can read a
half-written secret, and a file that group or others can read is refused rather than used:
it may already have leaked, and the operator should rotate it.
"""

from __future__ import annotations

import os
import secrets
from pathlib import Path

from coldchain.errors import ConfigError
from coldchain.security.keyfiles import read_private_bytes

__all__ = [
    "SECRETS_DIR",
    "new_secret",
    "read_or_create_secret",
    "read_secret_file",
    "secret_path",
    "write_private_file",
]

SECRETS_DIR = "secrets"
_SECRET_BYTES = 32  # 256 bits: no dictionary or brute force applies, even to a fast hash


def new_secret() -> str:
    """A random URL-safe secret (43 characters), usable in URLs and config files as is."""
    return secrets.token_urlsafe(_SECRET_BYTES)


def write_private_file(path: Path, data: bytes | str) -> None:
    """Write `data` to `path` readable by the owner only (0600), its folder 0700.

    The file is created 0600 under a temporary name, fsynced, then renamed over `path`:
    there is never a moment where it exists with wider permissions or half its content.
    """
    payload = data.encode("utf-8") if isinstance(data, str) else data
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    try:
        os.fchmod(fd, 0o600)  # the umask cannot widen it, but an old file could be wider
        os.write(fd, payload)
        os.fsync(fd)
    finally:
        os.close(fd)
    os.replace(temporary, path)


def read_secret_file(path: Path) -> str:
    """The secret in `path` (first line, stripped).

    Raises:
        ConfigError: the file is missing, empty, or readable by group or others. The
            message names the path, never the content.
    """
    text = read_private_bytes(path, "secret file", "the secret").decode("utf-8")
    value = text.strip().splitlines()[0].strip() if text.strip() else ""
    if not value:
        raise ConfigError(f"secret file {path}: empty")
    return value


def read_or_create_secret(data_dir: Path, name: str, *, env_value: str | None = None) -> str:
    """The secret called `name`: `env_value` if given, else the data dir's file, else a new
    random one written there (0600). Stable across runs, so a service and the broker or
    database it logs in to agree without anyone typing a password."""
    if env_value:
        return env_value
    path = secret_path(data_dir, name)
    if path.exists():
        return read_secret_file(path)
    value = new_secret()
    write_private_file(path, value + "\n")
    return value


def secret_path(data_dir: Path, name: str) -> Path:
    if not name or "/" in name or name.startswith("."):
        raise ConfigError(f"secret name: expected a plain file name, got {name!r}")
    return data_dir / SECRETS_DIR / f"{name}.secret"
