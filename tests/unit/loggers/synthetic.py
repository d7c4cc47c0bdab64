"""Real Berlinger exports with their clock moved, re-signed under a test issuer.

A file whose times are edited no longer verifies, so each test trusts an issuer key of
its own (`trust_test_issuer`) and `resign` gives the edited text a new device certificate
and signatures, as test_refusals.py does for its signed-gap case. Everything else is the
real device's record.
"""

from __future__ import annotations

import hashlib
import re
from collections.abc import Callable
from datetime import datetime, timedelta

import pytest
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from coldchain.loggers import berlinger_signature

_STAMP = re.compile(r"(\d{4}-\d{2}-\d{2})( \d{2}:\d{2})?")


def _le(r: int, s: int) -> str:
    return (r.to_bytes(32, "little") + s.to_bytes(32, "little")).hex()


def _sign(key: ec.EllipticCurvePrivateKey, data: bytes) -> str:
    digest = hashlib.sha256(data).digest()[::-1]
    der = key.sign(digest, ec.ECDSA(utils.Prehashed(hashes.SHA256())))
    return _le(*utils.decode_dss_signature(der))


def trust_test_issuer(monkeypatch: pytest.MonkeyPatch) -> ec.EllipticCurvePrivateKey:
    """A new issuer key, pinned instead of Berlinger's for the test."""
    issuer = ec.generate_private_key(ec.SECP256R1())
    numbers = issuer.public_key().public_numbers()
    monkeypatch.setattr(berlinger_signature, "BERLINGER_ISSUER_KEY", (numbers.x, numbers.y))
    return issuer


def resign(text: str, issuer: ec.EllipticCurvePrivateKey) -> str:
    """`text` with a new device key, certified by `issuer`, signing it."""
    device = ec.generate_private_key(ec.SECP256R1())
    numbers = device.public_key().public_numbers()
    text = re.sub(r"Public Key: [0-9a-f]+", f"Public Key: {_le(numbers.x, numbers.y)}", text)
    head, _, _ = text.partition("Sig Cert: ")
    cert = head[head.index("Cert:\r\n") :]
    content = f"{head}Sig Cert: {_sign(issuer, cert.encode())}\r\n"
    return f"{content}Sig: {_sign(device, content.encode())}\r\n"


def move_clock(text: str, clock: Callable[[datetime], datetime]) -> str:
    """Every device time before `Cert:` (`yyyy-MM-dd hh:mm`, and `yyyy-MM-dd` dates, which
    must then move by whole days) replaced by `clock(time)`."""
    body, marker, tail = text.partition("\r\nCert:\r\n")

    def moved(match: re.Match[str]) -> str:
        if match.group(2) is None:
            return clock(datetime.fromisoformat(match.group(1))).strftime("%Y-%m-%d")
        return clock(datetime.fromisoformat(match.group(0))).strftime("%Y-%m-%d %H:%M")

    return _STAMP.sub(moved, body) + marker + tail


def shifted(by: timedelta) -> Callable[[datetime], datetime]:
    """A clock that kept one offset: every time moved by `by`."""
    return lambda t: t + by


def falling_back(by: timedelta, at: datetime) -> Callable[[datetime], datetime]:
    """A clock that followed the autumn change: moved by `by`, then an hour back from the
    moment it showed `at` (e.g. 2022-10-30 03:00 CEST, which it shows as 02:00 CET)."""
    return lambda t: t + by - (timedelta(hours=1) if t + by >= at else timedelta(0))
