"""Private key files: made once by whichever process comes first, refused when exposed.

Two processes (or two requests' threads) that find no key at the same moment each make
one; the first to put theirs in place wins and the other reads the winner's, so every
signature or token agrees on one key. A file is written whole under a temporary name and
linked into place (link never replaces, unlike rename), so a reader never sees half a key.
A private file that group or others can read may already have leaked: it is refused, with
the path and the fix, rather than used.
"""

from __future__ import annotations

import os
import stat
from pathlib import Path

from coldchain.errors import ConfigError

__all__ = ["create_once", "read_private_bytes", "refuse_if_exposed"]


def refuse_if_exposed(path: Path, mode: int, what: str, rotate: str) -> None:
    """Raise ConfigError naming `path` and the fix if `mode` lets group or others in.

    `what` names the file ("secret file"), `rotate` what to renew ("the secret")."""
    if mode & (stat.S_IRWXG | stat.S_IRWXO):
        raise ConfigError(
            f"{what} {path}: mode {stat.S_IMODE(mode):04o} lets other users read it; "
            f"chmod 600 it and rotate {rotate}"
        )


def read_private_bytes(path: Path, what: str, rotate: str) -> bytes:
    """The content of a private file, refused (ConfigError) if others may read it."""
    try:
        mode = path.stat().st_mode
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigError(f"{what} {path}: {exc.strerror}") from None
    refuse_if_exposed(path, mode, what, rotate)
    return data


def create_once(path: Path, data: bytes, *, mode: int = 0o600) -> bool:
    """Put `data` at `path` unless a file is there already; True if this call made it.

    The folder is made 0700 if missing."""
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    temporary = path.with_name(f".{path.name}.{os.getpid()}.{os.urandom(4).hex()}.tmp")
    fd = os.open(temporary, os.O_WRONLY | os.O_CREAT | os.O_EXCL, mode)
    try:
        with os.fdopen(fd, "wb") as handle:
            os.fchmod(fd, mode)  # exactly `mode`, whatever the umask
            handle.write(data)
            handle.flush()
            os.fsync(fd)
        os.link(temporary, path)
    except FileExistsError:
        return False
    finally:
        temporary.unlink()
    return True
