"""Digest and signature of an export, and checking them (`coldchain verify FILE`).

Scheme `coldchain-export-v1` (README.md has the details):
- body = every byte of the file before the trailer; digest = SHA-256 of the body.
- signature = Ed25519 over b"coldchain-export-v1\\n" + format + b"\\n" + hex digest. Ed25519
  signs whole messages (it hashes them twice), so signing the digest is what lets a
  streamed export of any length be signed without holding it.
- the trailer closes the file, in the format's own syntax so the file stays valid:
  CSV a last comment line `#coldchain-signature,v1,sha256=…,ed25519=…,key=…`; JSON a last
  member `,"integrity":{…}}`; PDF a comment line `%coldchain-signature v1 sha256=… …` after
  `%%EOF` (readers ignore it; the signature stays inside the one file).
- key id = the first 16 hex digits of SHA-256 over the raw public key.

The private key lives in `{data_dir}/keys/export-signing.key` (PKCS#8 PEM, mode 0600,
made on first use); the public key beside it (`export-signing.pub`) is what verifiers
trust. A file carries only the key id, never a key: a tamperer could sign with their own.
The key is never silently recreated: once the audit trail records a signed export, a
missing key is an error naming the files and key id to restore (or, to retire that key on
purpose, its public key kept as `export-signing-KEYID.pub`).
"""

from __future__ import annotations

import base64
import hashlib
import json
import re
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from cryptography.exceptions import InvalidSignature
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PrivateKey, Ed25519PublicKey
from sqlalchemy import Engine, select

from api.export.errors import KeyMissing, VerifyError
from coldchain.catalog.schema import AuditEntryRow
from coldchain.catalog.store import catalog_session
from coldchain.errors import ConfigError
from coldchain.security.keyfiles import create_once, read_private_bytes

__all__ = [
    "PRIVATE_KEY_NAME",
    "PUBLIC_KEY_NAME",
    "ExportSigner",
    "Verification",
    "format_of",
    "key_id",
    "load_public_key",
    "trailer",
    "verify_bytes",
    "verify_file",
]

SCHEME = b"coldchain-export-v1"
PRIVATE_KEY_NAME = "export-signing.key"
PUBLIC_KEY_NAME = "export-signing.pub"
_ROTATE = (
    "the key (move both key files away, keeping the public one as "
    "export-signing-KEYID.pub to check files signed before: the next export makes a new pair)"
)
_TAIL_BYTES = 4096  # every trailer is far shorter than this
_MARKERS = {
    "csv": b"#coldchain-signature,",
    "json": b',"integrity":{',
    "pdf": b"%coldchain-signature ",
}
_CSV_TRAILER = re.compile(
    rb"#coldchain-signature,v1,sha256=([0-9a-f]{64}),ed25519=([A-Za-z0-9+/=]+),key=([0-9a-f]{16})\n"
)
_PDF_TRAILER = re.compile(
    rb"%coldchain-signature v1 sha256=([0-9a-f]{64}) ed25519=([A-Za-z0-9+/=]+) key=([0-9a-f]{16})\n"
)
_JSON_TRAILER = re.compile(
    rb',"integrity":\{"scheme":"coldchain-export-v1","algorithm":"Ed25519",'
    rb'"sha256":"([0-9a-f]{64})","signature":"([A-Za-z0-9+/=]+)","key_id":"([0-9a-f]{16})"\}\}\n'
)


def key_id(public_key: Ed25519PublicKey) -> str:
    raw = public_key.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
    return hashlib.sha256(raw).hexdigest()[:16]


def _message(fmt: str, digest_hex: str) -> bytes:
    return SCHEME + b"\n" + fmt.encode() + b"\n" + digest_hex.encode()


class ExportSigner:
    """The server's Ed25519 signing key.

    Usage:
        signer = ExportSigner.load_or_create(settings.data_dir, catalog=engine)
        signature = signer.sign("csv", digest_hex)
    """

    def __init__(self, private_key: Ed25519PrivateKey) -> None:
        self._key = private_key
        self.public_key = private_key.public_key()
        self.key_id = key_id(self.public_key)

    @classmethod
    def load_or_create(cls, data_dir: Path, *, catalog: Engine | None = None) -> ExportSigner:
        """The key in `{data_dir}/keys/`, created (0600, folder 0700) if there is none yet.

        Two first exports at once each make a key; one is put in place and both sign with
        it. A key file others may read is refused (ConfigError naming the path and the fix):
        whoever read it can sign exports as this server. With `catalog` (every exporting
        service passes it), a missing key is created only if the audit trail records no
        export signed with a key that was not retired: else ConfigError naming what to
        restore, for a silently new key would leave earlier exports checkable by none.
        """
        folder = data_dir / "keys"
        path = folder / PRIVATE_KEY_NAME
        if not path.exists():
            if catalog is not None:
                _refuse_if_lost(folder, catalog)
            pem = Ed25519PrivateKey.generate().private_bytes(
                serialization.Encoding.PEM,
                serialization.PrivateFormat.PKCS8,
                serialization.NoEncryption(),
            )
            create_once(path, pem)  # lost the race: the winner's key is there
        pem = read_private_bytes(path, "export signing key", _ROTATE)
        loaded = serialization.load_pem_private_key(pem, password=None)
        if not isinstance(loaded, Ed25519PrivateKey):
            raise VerifyError(f"{path}: not an Ed25519 private key")
        signer = cls(loaded)
        public = signer.public_key.public_bytes(
            serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo
        )
        if not (folder / PUBLIC_KEY_NAME).exists():
            create_once(folder / PUBLIC_KEY_NAME, public, mode=0o644)
        return signer

    def sign(self, fmt: str, digest_hex: str) -> bytes:
        return self._key.sign(_message(fmt, digest_hex))


def _refuse_if_lost(folder: Path, catalog: Engine) -> None:
    """ConfigError if the audit trail's last export was signed with a key that is gone and
    was not retired (its public key kept beside the pair as `export-signing-KEYID.pub`)."""
    with catalog_session(catalog) as session:
        last = session.execute(
            select(AuditEntryRow.seq, AuditEntryRow.at, AuditEntryRow.new_value)
            .where(AuditEntryRow.action == "export")
            .order_by(AuditEntryRow.seq.desc())
            .limit(1)
        ).first()
    if last is None:
        return  # a fresh install: nothing was ever signed
    kid = str(json.loads(last.new_value or "{}").get("key_id", "unknown"))
    retired = folder / f"export-signing-{kid}.pub"
    try:
        if key_id(load_public_key(retired)) == kid:
            return  # retired on purpose: its public key still checks what it signed
    except KeyMissing:
        pass  # none there, or not a public key: the key was lost, not retired
    raise ConfigError(
        f"the export signing key {folder / PRIVATE_KEY_NAME} is missing, but exports were "
        f"signed before: the last (audit entry {last.seq}, {last.at.isoformat()}) with key "
        f"{kid}. Restore {folder / PRIVATE_KEY_NAME} and {folder / PUBLIC_KEY_NAME} (key id "
        f"{kid}) from the backup (`coldchain restore`); a new key would leave every earlier "
        f"export checkable by no key here. To retire key {kid} on purpose, keep its public "
        f"key as {retired}: the next export then makes a new pair"
    )


def trailer(fmt: str, digest_hex: str, signature: bytes, signer_key_id: str) -> bytes:
    """The bytes that close a signed export of format `fmt`."""
    sig = base64.b64encode(signature).decode()
    if fmt == "csv":
        text = f"#coldchain-signature,v1,sha256={digest_hex},ed25519={sig},key={signer_key_id}\n"
    elif fmt == "pdf":
        text = f"%coldchain-signature v1 sha256={digest_hex} ed25519={sig} key={signer_key_id}\n"
    else:
        text = (
            ',"integrity":{"scheme":"coldchain-export-v1","algorithm":"Ed25519",'
            f'"sha256":"{digest_hex}","signature":"{sig}","key_id":"{signer_key_id}"}}}}\n'
        )
    return text.encode()


def load_public_key(path: Path) -> Ed25519PublicKey:
    """A trusted public key (PEM), e.g. `{data_dir}/keys/export-signing.pub`."""
    try:
        loaded = serialization.load_pem_public_key(path.read_bytes())
    except FileNotFoundError as exc:
        raise KeyMissing(f"no public key at {path}: cannot check the signature") from exc
    except ValueError as exc:
        raise KeyMissing(f"{path}: not a PEM public key ({exc})") from exc
    if not isinstance(loaded, Ed25519PublicKey):
        raise KeyMissing(f"{path}: not an Ed25519 public key")
    return loaded


@dataclass(frozen=True, slots=True)
class Verification:
    """An intact export: its format, body digest and the key that signed it."""

    fmt: str
    sha256: str
    key_id: str
    body_bytes: int


def format_of(head: bytes) -> str:
    """csv, json or pdf, from a file's first bytes; VerifyError for anything else."""
    if head.startswith(b"%PDF"):
        return "pdf"
    if head.startswith(b"{"):
        return "json"
    if head.startswith(b"#"):
        return "csv"
    raise VerifyError("not a coldchain export: it starts like no known format")


def _split(fmt: str, tail: bytes) -> tuple[int, bytes, bytes, str]:
    """(offset of the trailer in `tail`, claimed digest, signature, key id)."""
    at = tail.rfind(_MARKERS[fmt])
    if at < 0 or (fmt != "json" and at > 0 and tail[at - 1 : at] != b"\n"):
        raise VerifyError(f"no {fmt.upper()} signature trailer at the end of the file")
    pattern = {"csv": _CSV_TRAILER, "pdf": _PDF_TRAILER, "json": _JSON_TRAILER}[fmt]
    found = pattern.fullmatch(tail[at:])
    if found is None:
        raise VerifyError("the signature trailer is damaged")
    digest, sig, kid = found.groups()
    try:
        signature = base64.b64decode(sig, validate=True)
    except ValueError as exc:
        raise VerifyError("the signature is not valid base64") from exc
    return at, digest, signature, kid.decode()


def _check(
    fmt: str, actual: str, claimed: bytes, signature: bytes, kid: str, key: Ed25519PublicKey | None
) -> None:
    if actual.encode() != claimed:
        raise VerifyError(
            f"digest mismatch: the file says sha256 {claimed.decode()[:16]}…, its content "
            f"hashes to {actual[:16]}…: it was changed after signing"
        )
    if key is None:
        raise KeyMissing("digest matches, but no trusted public key to check the signature")
    if key_id(key) != kid:
        raise VerifyError(f"signed with key {kid}, not with the trusted key {key_id(key)}")
    try:
        key.verify(signature, _message(fmt, actual))
    except InvalidSignature as exc:
        raise VerifyError("the signature does not match the digest: forged or damaged") from exc


def verify_bytes(data: bytes, public_key: Ed25519PublicKey | None) -> Verification:
    """Check an export held in memory; raises `VerifyError` (or `KeyMissing`) if not intact."""
    fmt = format_of(data[:8])
    start = max(0, len(data) - _TAIL_BYTES)
    at, claimed, signature, kid = _split(fmt, data[start:])
    body = data[: start + at]
    actual = hashlib.sha256(body).hexdigest()
    _check(fmt, actual, claimed, signature, kid, public_key)
    return Verification(fmt, actual, kid, len(body))


def verify_file(
    path: Path, public_key: Ed25519PublicKey | None, body: Callable[[bytes], None] | None = None
) -> Verification:
    """Check an export on disk, hashing it in 1 MiB pieces (exports can be gigabytes).

    `body`, if given, is handed each piece of the body as it is hashed, in order: what
    else must be read from the signed body (the signature manifest, esignatures.py) is
    read in the same single pass.
    """
    try:
        size = path.stat().st_size
        with path.open("rb") as handle:
            fmt = format_of(handle.read(8))
            start = max(0, size - _TAIL_BYTES)
            handle.seek(start)
            at, claimed, signature, kid = _split(fmt, handle.read())
            body_len = start + at
            handle.seek(0)
            hasher = hashlib.sha256()
            left = body_len
            while left > 0:
                piece = handle.read(min(left, 1 << 20))
                if not piece:
                    break
                hasher.update(piece)
                if body is not None:
                    body(piece)
                left -= len(piece)
    except OSError as exc:
        raise VerifyError(f"{path}: cannot read: {exc.strerror or exc}") from exc
    actual = hasher.hexdigest()
    _check(fmt, actual, claimed, signature, kid, public_key)
    return Verification(fmt, actual, kid, body_len)
