"""Short-lived login tokens: signed, self-contained, never stored.

A login (password → token) yields `ccs_<payload>.<signature>`, the payload naming the user
and the expiry, the signature an HMAC-SHA256 under a key kept in the data dir (mode 0600),
so tokens survive an API restart and several API processes accept each other's. Nothing
of the token is stored anywhere, hashed or not; the user's role and scope are read from
the catalog on every request, so a removed user or a changed role takes effect at once.
Long-lived API tokens (`cct_…`) are the catalog's: stored as SHA-256, revocable.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import os
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

import orjson

__all__ = ["LOGIN_TOKEN_PREFIX", "LoginTokens", "load_or_create_key"]

LOGIN_TOKEN_PREFIX = "ccs_"
_KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(path: Path) -> bytes:
    """The signing key at `path`, created (0600, atomically) on first use."""
    try:
        key = path.read_bytes()
    except FileNotFoundError:
        path.parent.mkdir(parents=True, exist_ok=True)
        tmp = path.with_suffix(f".{os.getpid()}.tmp")
        fd = os.open(tmp, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
        with os.fdopen(fd, "wb") as handle:
            handle.write(secrets.token_bytes(_KEY_BYTES))
            handle.flush()
            os.fsync(handle.fileno())
        # link() refuses to replace: if another process won the race, use its key.
        try:
            os.link(tmp, path)
        except FileExistsError:
            pass
        finally:
            tmp.unlink()
        key = path.read_bytes()
    if len(key) < _KEY_BYTES:
        raise ValueError(f"{path}: signing key shorter than {_KEY_BYTES} bytes")
    return key


@dataclass(frozen=True, slots=True)
class LoginTokens:
    """Issues and checks login tokens.

    Usage:
        tokens = LoginTokens(key=load_or_create_key(path), ttl_s=3600)
        token = tokens.issue("alice")
        tokens.user_of(token)   # "alice" until it expires, then None
    """

    key: bytes
    ttl_s: float
    clock: Callable[[], float] = time.time

    def issue(self, user_id: str) -> str:
        payload = orjson.dumps(
            {"u": user_id, "exp": int(self.clock() + self.ttl_s), "n": secrets.token_hex(8)}
        )
        body = _b64(payload)
        return f"{LOGIN_TOKEN_PREFIX}{body}.{self._sign(body)}"

    def expires_in_s(self) -> int:
        return int(self.ttl_s)

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode("ascii"), hashlib.sha256).digest())

    def user_of(self, token: str) -> str | None:
        """The user a valid, unexpired token names; None for anything else."""
        if not token.startswith(LOGIN_TOKEN_PREFIX) or len(token) > 1024 or not token.isascii():
            return None
        body, _, signature = token[len(LOGIN_TOKEN_PREFIX) :].partition(".")
        if not hmac.compare_digest(self._sign(body), signature):
            return None
        try:
            claims = orjson.loads(_unb64(body))
        except (ValueError, orjson.JSONDecodeError):
            return None
        if not isinstance(claims, dict) or not isinstance(claims.get("u"), str):
            return None
        expiry = claims.get("exp")
        if not isinstance(expiry, int) or expiry <= self.clock():
            return None
        return str(claims["u"])
