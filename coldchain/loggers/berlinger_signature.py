"""The ECDSA signature Berlinger devices put at the end of every export, checked.

Each export ends with a device certificate and two signatures:

    Cert:                     <- the device's certificate: lot, issuer, its P-256 public key
     ...
     Public Key: <x || y>
    Sig Cert: <r || s>        <- the issuer's signature over the `Cert:` block
    Sig: <r || s>             <- the device's signature over everything above this line

Found by experiment on the six real exports in tests/data/real-loggers (no
published specification seen): curve P-256 (secp256r1), ECDSA over SHA-256; every number
(coordinates, r, s, and the digest) is written little-endian, as embedded ECC libraries
keep them. `Sig` covers the file's bytes from the first byte up to and including the line
end before `Sig:`; `Sig Cert` covers the `Cert:` block from `Cert:` to the line end before
`Sig Cert:`. Both verify on all six files; the truncated `test.txt` fails.

The issuer key below was recovered from the `Sig Cert` signatures (ECDSA public-key
recovery): the same point comes out of all six certificates, four issued as "Berlinger &
Co. AG" (three different lots) and two as "Qtag AG", which a wrong guess of the signed
bytes or of the key could not produce. Pinning it means a file whose certificate was made
by anyone else, e.g. an edited file re-signed with a home-made key, is refused too.
"""

from __future__ import annotations

import hashlib
from dataclasses import dataclass
from typing import Final

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import hashes
from cryptography.hazmat.primitives.asymmetric import ec, utils

from coldchain.loggers.errors import LoggerFileError

__all__ = ["BERLINGER_ISSUER_KEY", "SignedParts", "verify_signatures"]

#: The issuer key of Berlinger / Qtag device certificates: x, y of a P-256 point.
BERLINGER_ISSUER_KEY: Final = (
    0x0AA2BE1B04268B874FC00AAC193A889352F57EED2A46D8C7FC98111BDCAF1966,
    0xE3BE1648B9AE1A7B7E5B9AFC7C4B48FD003C505CB6AF749FABAAC0DA180CF668,
)
_COORDINATE_BYTES: Final = 32


@dataclass(frozen=True, slots=True)
class SignedParts:
    """What the signatures cover, cut out of the file by the parser (bytes, CRLF line ends).

    Attributes:
        content: every byte before the `Sig:` line (what `Sig` signs).
        certificate: the `Cert:` block (what `Sig Cert` signs).
        device_key_hex, certificate_signature_hex, signature_hex: the hex fields as written.
        certificate_line, signature_line: their 1-based line numbers, for messages.
    """

    content: bytes
    certificate: bytes
    device_key_hex: str
    certificate_signature_hex: str
    signature_hex: str
    certificate_line: int
    signature_line: int


def _little_endian_pair(value_hex: str, what: str, line: int) -> tuple[int, int]:
    try:
        raw = bytes.fromhex(value_hex)
    except ValueError:
        raise LoggerFileError(f"{what}: not hexadecimal", line=line) from None
    if len(raw) != 2 * _COORDINATE_BYTES:
        raise LoggerFileError(f"{what}: expected 64 bytes, got {len(raw)}", line=line)
    first, second = raw[:_COORDINATE_BYTES], raw[_COORDINATE_BYTES:]
    return int.from_bytes(first, "little"), int.from_bytes(second, "little")


def _public_key(x: int, y: int, line: int) -> ec.EllipticCurvePublicKey:
    try:
        return ec.EllipticCurvePublicNumbers(x, y, ec.SECP256R1()).public_key()
    except ValueError:
        raise LoggerFileError("Public Key: not a point on P-256", line=line) from None


def _verifies(key: ec.EllipticCurvePublicKey, signature: tuple[int, int], data: bytes) -> bool:
    digest = hashlib.sha256(data).digest()[::-1]  # the device feeds the digest little-endian
    try:
        key.verify(
            utils.encode_dss_signature(*signature),
            digest,
            ec.ECDSA(utils.Prehashed(hashes.SHA256())),
        )
    except InvalidSignature:
        return False
    return True


def verify_signatures(parts: SignedParts) -> None:
    """Check the certificate against the pinned issuer key, then the file against the device key.

    Raises:
        LoggerFileError: at the `Sig Cert:` line when the certificate was not issued by the
            known issuer key; at the `Sig:` line when the content is not what the device
            signed (truncated, edited, or re-saved with other bytes).
    """
    issuer = _public_key(*BERLINGER_ISSUER_KEY, line=parts.certificate_line)
    certificate_signature = _little_endian_pair(
        parts.certificate_signature_hex, "Sig Cert", parts.certificate_line
    )
    if not _verifies(issuer, certificate_signature, parts.certificate):
        raise LoggerFileError(
            "Sig Cert: the device certificate was not issued by the Berlinger issuer key",
            line=parts.certificate_line,
        )
    device_key = _public_key(
        *_little_endian_pair(parts.device_key_hex, "Public Key", parts.certificate_line),
        line=parts.certificate_line,
    )
    signature = _little_endian_pair(parts.signature_hex, "Sig", parts.signature_line)
    if not _verifies(device_key, signature, parts.content):
        raise LoggerFileError(
            "Sig: the device's signature does not match the content: the file was truncated "
            "or changed after the device wrote it",
            line=parts.signature_line,
        )
