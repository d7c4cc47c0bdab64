"""Short-lived login tokens: signed, self-contained, never stored.

A login (password → token) yields `ccs_<payload>.<signature>`, the payload naming the user,
the expiry and the moment of issue (ms), the signature an HMAC-SHA256 under a key kept in
the data dir (mode 0600), so tokens survive an API restart and several API processes
accept each other's. Nothing of the token is stored anywhere, hashed or not; the user's
role and scope are read from the catalog on every request, so a removed user or a changed
role takes effect at once.
Revocation stays stateless too: the catalog keeps one moment per user (logout, password
change), and a token issued before it is void (`LoginSession.issued_at`). A token without
an issue time (issued before revocation existed) is refused: its holder logs in again.
Long-lived API tokens (`cct_…`) are the catalog's: stored as SHA-256, revocable, expiring.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import secrets
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from pathlib import Path

import orjson

from coldchain.security.keyfiles import create_once, read_private_bytes
from coldchain.times import from_ms

__all__ = ["LOGIN_TOKEN_PREFIX", "LoginSession", "LoginTokens", "load_or_create_key"]

LOGIN_TOKEN_PREFIX = "ccs_"
_KEY_BYTES = 32


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode("ascii")


def _unb64(text: str) -> bytes:
    return base64.urlsafe_b64decode(text + "=" * (-len(text) % 4))


def load_or_create_key(path: Path) -> bytes:
    """The signing key at `path`, created (0600) by whichever process comes first; a key
    that group or others may read is refused (ConfigError), as secret files are."""
    create_once(path, secrets.token_bytes(_KEY_BYTES))
    key = read_private_bytes(path, "login-token key", "the key (every login token ends)")
    if len(key) < _KEY_BYTES:
        raise ValueError(f"{path}: signing key shorter than {_KEY_BYTES} bytes")
    return key


@dataclass(frozen=True, slots=True)
class LoginSession:
    """What a valid login token says: whose it is and when it was issued (epoch ms)."""

    user_id: str
    issued_ms: int

    @property
    def issued_at(self) -> datetime:
        return from_ms(self.issued_ms)


@dataclass(frozen=True, slots=True)
class LoginTokens:
    """Issues and checks login tokens.

    Usage:
        tokens = LoginTokens(key=load_or_create_key(path), ttl_s=3600)
        token = tokens.issue("alice")
        tokens.session_of(token)   # LoginSession("alice", ...) until it expires, then None
    """

    key: bytes
    ttl_s: float
    clock: Callable[[], float] = time.time

    def issue(self, user_id: str) -> str:
        now = self.clock()
        payload = orjson.dumps(
            {
                "u": user_id,
                "exp": int(now + self.ttl_s),
                "iat": int(now * 1000),
                "n": secrets.token_hex(8),
            }
        )
        body = _b64(payload)
        return f"{LOGIN_TOKEN_PREFIX}{body}.{self._sign(body)}"

    def expires_in_s(self) -> int:
        return int(self.ttl_s)

    def _sign(self, body: str) -> str:
        return _b64(hmac.new(self.key, body.encode("ascii"), hashlib.sha256).digest())

    def session_of(self, token: str) -> LoginSession | None:
        """The session a valid, unexpired token names; None for anything else."""
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
        expiry, issued = claims.get("exp"), claims.get("iat")
        if not isinstance(expiry, int) or expiry <= self.clock():
            return None
        if not isinstance(issued, int):
            return None
        return LoginSession(str(claims["u"]), issued)
