"""The signature manifest inside a sealed export, and its offline check (`coldchain verify`).

Every format carries, inside the body the server's seal covers, the batch's deviations, its
release decision and every electronic signature about the batch with the content it signed
(`document.manifest_dict`), in a form a program reads back without a catalog:

- JSON: the top-level members `"deviations"`, `"release"`, `"signatures"`, on a line of
  their own (the only line break in the body) just before the `"integrity"` trailer; the
  batch is the header's.
- CSV: a last comment line `#coldchain-esignature,v1,<base64 of the canonical JSON>`.
- PDF: a comment line `%coldchain-esignature v1 <base64 of the canonical JSON>` after
  `%%EOF` (readers ignore it), before the seal's trailer.

`verify_export` checks the seal and reads the manifest in the same single pass over the
file (`ManifestReader`: it keeps only the manifest line and the first bytes, so a gigabyte
export costs no memory), then checks each signature (`check_manifest`): its content hashes
to its SHA-256 and its seal covers its fields (`check_signature`), and it is bound to THIS
record: the content names the record's batch and the signature's subject, a deviation's
current assessment and sponsor decision hash to exactly what the file shows of that
deviation (a superseded one must at least name it, an earlier decision an assessment the
record holds), and a release signature carries the file's decision on deviation signatures
the file holds. A signature copied from another record therefore fails, even with a valid
seal of its own.
"""

from __future__ import annotations

import base64
import binascii
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import orjson
from cryptography.hazmat.primitives.asymmetric.ed25519 import Ed25519PublicKey

from api.export.errors import VerifyError
from api.export.signing import Verification, format_of, verify_file
from coldchain.catalog.audit import canonical_json
from coldchain.catalog.deviations import CoveredFinding, Deviation, DeviationEvent
from coldchain.catalog.signatures import Signature, check_signature

__all__ = [
    "MARKERS",
    "ManifestReader",
    "SignatureCheck",
    "check_manifest",
    "decode_manifest",
    "manifest_line",
    "verify_export",
]

#: How the manifest's line begins in each format.
MARKERS = {
    "csv": b"#coldchain-esignature,v1,",
    "pdf": b"%coldchain-esignature v1 ",
    "json": b',"deviations":',
}
_JSON_HEAD = b'{"format":"coldchain-batch-record","header":'
_HEAD_BYTES = 1 << 16  # the JSON header (batch, product, conditions) is far shorter
_DEVIATION_SUBJECTS = ("deviation_assessment", "deviation_agreement")
_DECIDED = ("agreed", "closed")  # states after the sponsor's agreement


def manifest_line(fmt: str, manifest: Mapping[str, Any]) -> bytes:
    """The manifest (`document.manifest_dict`) as its own line of a `fmt` body.

    JSON: a line break, then the members after the summary (the trailer follows on the same
    line); CSV and PDF: a comment line of the canonical JSON in base64 (no commas, quotes
    or PDF syntax in it), after a body that ends with a line break.
    """
    if fmt == "json":
        return (
            b"\n"
            + MARKERS["json"]
            + orjson.dumps(manifest["deviations"])
            + b',"release":'
            + orjson.dumps(manifest["release"])
            + b',"signatures":'
            + orjson.dumps(manifest["signatures"])
        )
    encoded = base64.b64encode(canonical_json(manifest).encode("utf-8"))
    return MARKERS[fmt] + encoded + b"\n"


class ManifestReader:
    """Fed a body piece by piece (`verify_file(..., body=reader.feed)`), keeps the line that
    starts with the format's marker and the body's first bytes; nothing else.

    Usage:
        reader = ManifestReader()
        verify_file(path, key, body=reader.feed)
        manifest = reader.manifest()  # None: exported before signature manifests
    """

    def __init__(self) -> None:
        self._fmt: str | None = None
        self._needle = b""
        self._head = bytearray()
        self._waiting = bytearray()  # the first bytes, until the format shows
        self._carry = b"\n"  # the body's start is a line start
        self._line: bytearray | None = None
        self._lines: list[bytes] = []

    def feed(self, piece: bytes) -> None:
        if len(self._head) < _HEAD_BYTES:
            self._head += piece[: _HEAD_BYTES - len(self._head)]
        if self._fmt is None:
            self._waiting += piece
            if len(self._waiting) < 8:
                return  # the format shows in the first 8 bytes
            self._fmt = format_of(bytes(self._waiting[:8]))
            self._needle = b"\n" + MARKERS[self._fmt]
            piece, self._waiting = bytes(self._waiting), bytearray()
        data = self._carry + piece
        start = 0
        while True:
            if self._line is not None:  # inside the manifest line: up to its line break
                end = data.find(b"\n", start)
                if end < 0:
                    self._line += data[start:]
                    self._carry = b""
                    return
                self._line += data[start:end]
                self._lines.append(bytes(self._line))
                self._line = None
                start = end
            found = data.find(self._needle, start)
            if found < 0:  # keep what could be the start of a needle cut by the piece
                self._carry = data[max(start, len(data) - len(self._needle) + 1) :]
                return
            self._line = bytearray()
            start = found + 1

    def manifest(self) -> dict[str, Any] | None:
        """The decoded manifest once the whole body was fed; None if the body has none.

        Raises:
            VerifyError: two manifests, or one that does not decode.
        """
        lines = self._lines + ([] if self._line is None else [bytes(self._line)])
        if not lines or self._fmt is None:
            return None
        if len(lines) > 1:
            raise VerifyError(f"{len(lines)} signature manifests in one record: expected one")
        return decode_manifest(self._fmt, lines[0], bytes(self._head))


def decode_manifest(fmt: str, line: bytes, head: bytes) -> dict[str, Any]:
    """{"batch", "deviations", "release", "signatures"} from the manifest's line of a `fmt`
    body (`head`: the body's first bytes, where a JSON export names its batch).

    Raises:
        VerifyError: the line does not decode, or lacks one of the members.
    """
    try:
        if fmt == "json":
            decoded = orjson.loads(b"{" + line[1:] + b"}")
            decoded["batch"] = _json_batch(head)
        else:
            text = base64.b64decode(line[len(MARKERS[fmt]) :], validate=True)
            decoded = json.loads(text.decode("utf-8"))
    except (ValueError, binascii.Error) as exc:
        raise VerifyError(f"the signature manifest does not decode: {exc}") from exc
    missing = [k for k in ("batch", "deviations", "release", "signatures") if k not in decoded]
    if missing:
        raise VerifyError(f"the signature manifest lacks {', '.join(missing)}")
    return dict(decoded)


def _json_batch(head: bytes) -> Any:
    """The batch a JSON export's header names (the header opens the body)."""
    if not head.startswith(_JSON_HEAD):
        raise ValueError("the JSON record does not open with its header")
    header, _ = json.JSONDecoder().raw_decode(head[len(_JSON_HEAD) :].decode("utf-8", "replace"))
    return header["batch"]


@dataclass(frozen=True, slots=True)
class SignatureCheck:
    """Signature `number` (1-based, manifest order) and what is wrong with it (empty: ok)."""

    number: int
    signature: Signature
    problems: tuple[str, ...]

    def line(self) -> str:
        s = self.signature
        utc = s.signed_at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ")
        verdict = "ok" if not self.problems else "; ".join(self.problems)
        return (
            f"signature {self.number}: {s.meaning} by {s.printed_name} ({s.user_id}, "
            f"{s.role}) at {utc} ({s.local_time} {s.timezone}) — {s.subject} "
            f"{s.subject_id}: {verdict}"
        )


def _signature(fields: Mapping[str, Any]) -> Signature:
    return Signature(
        id=int(fields["id"]),
        subject=str(fields["subject"]),
        subject_id=str(fields["subject_id"]),
        batch=fields["batch"],
        user_id=str(fields["user_id"]),
        printed_name=str(fields["printed_name"]),
        role=str(fields["role"]),
        meaning=str(fields["meaning"]),
        signed_at=datetime.fromisoformat(str(fields["signed_at"])),
        local_time=str(fields["local_time"]),
        timezone=str(fields["timezone"]),
        content=str(fields["content"]),
        content_sha256=str(fields["content_sha256"]),
        seal=str(fields["seal"]),
    )


def _moment(value: Any) -> datetime | None:
    """A time of the manifest, if any: ISO text, or the record's {"utc", "local"}."""
    return None if value is None else _time(value)


def _time(value: Any) -> datetime:
    return datetime.fromisoformat(value["utc"] if isinstance(value, dict) else value)


def _deviation(item: Mapping[str, Any], signatures: Sequence[Signature]) -> Deviation:
    """The deviation as the file shows it, with `signatures` as those made before the one
    being checked: what that signature must have signed (`Deviation.*_content`)."""
    return Deviation(
        id=int(item["id"]),
        batch=item["batch"],
        sponsor=item["sponsor"],
        state=item["state"],
        title=item["title"],
        opened_at=_time(item["opened_at"]),
        opened_by=item["opened_by"],
        reason=item["reason"],
        stability_reference=item["stability_reference"],
        impact=item["impact"],
        sponsor_comment=item["sponsor_comment"],
        updated_at=_time(item["updated_at"]),
        findings=tuple(
            CoveredFinding(
                f["id"], f["kind"], f["where"], _moment(f["start"]), _moment(f["end"]), f["alert"]
            )
            for f in item["findings"]
        ),
        history=tuple(
            DeviationEvent(_time(h["at"]), h["state"], h["actor"], h["comment"], h["signature"])
            for h in item["history"]
        ),
        signatures=tuple(signatures),
    )


def check_manifest(manifest: Mapping[str, Any]) -> list[SignatureCheck]:
    """Each signature of the manifest checked on its own and against the record.

    Raises:
        VerifyError: the manifest's entries are not signatures and deviations as exported.
    """
    try:
        signatures = [_signature(fields) for fields in manifest["signatures"]]
        return [
            SignatureCheck(number, sig, tuple(_problems(manifest, fields, sig, signatures)))
            for number, (fields, sig) in enumerate(
                zip(manifest["signatures"], signatures, strict=True), start=1
            )
        ]
    except (KeyError, TypeError, ValueError) as exc:
        raise VerifyError(f"the signature manifest is damaged: {exc!r}") from exc


def _problems(
    manifest: Mapping[str, Any],
    fields: Mapping[str, Any],
    sig: Signature,
    signatures: Sequence[Signature],
) -> list[str]:
    batch = manifest["batch"]
    try:
        content = json.loads(sig.content)
    except ValueError:
        content = None
    if not isinstance(content, dict):
        return [*check_signature(fields), "the signed content is not a JSON object"]
    problems: list[str] = []
    if content.get("batch") != batch or sig.batch != batch:
        problems.append(f"signed for batch {content.get('batch')}, not this record's batch {batch}")
    if content.get("subject") != sig.subject:
        problems.append(f"the signed content is a {content.get('subject')}, not a {sig.subject}")
    expected: dict[str, Any] | None = None
    if sig.subject in _DEVIATION_SUBJECTS:
        deviation, bound = _deviation_bound(manifest, content, sig, signatures)
        problems.extend(bound)
        expected = deviation
    elif sig.subject == "release":
        problems.extend(_release_bound(manifest, content, sig, signatures))
    return check_signature(fields, expected) + problems


def _deviation_bound(
    manifest: Mapping[str, Any],
    content: Mapping[str, Any],
    sig: Signature,
    signatures: Sequence[Signature],
) -> tuple[dict[str, Any] | None, list[str]]:
    """(the content this signature must have signed, if it is its deviation's current
    assessment or decision; what else binds it to the record's deviation)."""
    if content.get("deviation") != sig.subject_id:
        return None, [
            f"the signed content is about {content.get('deviation')}, not {sig.subject_id}"
        ]
    item = next((d for d in manifest["deviations"] if d["number"] == sig.subject_id), None)
    if item is None:
        return None, [f"{sig.subject_id} is not a deviation of this record"]
    own = [
        s for s in signatures if s.subject_id == sig.subject_id and s.subject in _DEVIATION_SUBJECTS
    ]
    assessments = [s for s in own if s.subject == "deviation_assessment"]
    decisions = [s for s in own if s.subject == "deviation_agreement"]
    before = [s for s in own if s.id < sig.id]
    if sig.subject == "deviation_assessment":
        if sig.id != assessments[-1].id:
            return None, []  # superseded by a later assessment: named, hashed, sealed
        return _deviation(item, before).assessment_content(), []
    if content.get("assessment_sha256") not in {s.content_sha256 for s in assessments}:
        return None, [f"it decides on an assessment of {sig.subject_id} this record does not hold"]
    if sig.id != decisions[-1].id or sig.id < assessments[-1].id:
        return None, []  # an earlier decision, since assessed again
    decision = "agreed" if item["state"] in _DECIDED else "disputed"
    return _deviation(item, before).agreement_content(decision, item["sponsor_comment"]), []


def _release_bound(
    manifest: Mapping[str, Any],
    content: Mapping[str, Any],
    sig: Signature,
    signatures: Sequence[Signature],
) -> list[str]:
    """A release signature carries this record's decision, taken on deviation signatures
    this record holds."""
    release = manifest["release"]
    if release is None or release["signature"] != sig.id:
        return ["this record's release decision does not carry this signature"]
    problems = []
    signed = (content.get("decision"), content.get("comment"))
    if signed != (release["decision"], release["comment"]):
        problems.append(
            f"it signs the decision {signed[0]!r}, the record says {release['decision']!r}"
        )
    held = {s.content_sha256 for s in signatures}
    foreign = [
        entry.get("deviation")
        for entry in content.get("deviations", [])
        if not set(entry.get("signatures", [])) <= held
    ]
    if foreign:
        problems.append(
            f"it was signed on signatures of {', '.join(map(str, foreign))} this record "
            "does not hold"
        )
    return problems


def verify_export(
    path: Path, public_key: Ed25519PublicKey | None
) -> tuple[Verification, list[SignatureCheck] | None]:
    """The seal's check of `path` (`verify_file`) and each signature of its manifest, in one
    pass over the file; None instead of the checks for a record exported without a manifest.

    Raises:
        VerifyError (KeyMissing): the seal does not hold (no trusted key), or the manifest
            inside it does not decode.
    """
    reader = ManifestReader()
    verification = verify_file(path, public_key, body=reader.feed)
    manifest = reader.manifest()
    return verification, None if manifest is None else check_manifest(manifest)
