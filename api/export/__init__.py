"""QA batch-release export (DESIGN.md §7): the record of one batch across its chain of
custody as signed CSV, JSON or PDF, and the check of such a file. See README.md here."""

from api.export.errors import (
    ExportError,
    ExportForbidden,
    ExportFormatError,
    KeyMissing,
    VerifyError,
)
from api.export.service import FORMATS, MEDIA_TYPES, ExportDone, export_batch
from api.export.signing import (
    PUBLIC_KEY_NAME,
    ExportSigner,
    Verification,
    load_public_key,
    verify_bytes,
    verify_file,
)

__all__ = [
    "FORMATS",
    "MEDIA_TYPES",
    "PUBLIC_KEY_NAME",
    "ExportDone",
    "ExportError",
    "ExportForbidden",
    "ExportFormatError",
    "ExportSigner",
    "KeyMissing",
    "Verification",
    "VerifyError",
    "export_batch",
    "load_public_key",
    "verify_bytes",
    "verify_file",
]
