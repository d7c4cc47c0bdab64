"""A private CA and a server certificate for the broker's TLS listener (tests and demos).

Production brokers use certificates from the site's own PKI, given by path; this module
exists so that tests and `coldchain up` exercise the same TLS code path (mqtts://, CA
pinning, hostname check) instead of skipping it. Keys are ECDSA P-256: small, fast to
generate, and accepted by mosquitto's OpenSSL and by Python's `ssl`.
"""

from __future__ import annotations

import ipaddress
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import ExtendedKeyUsageOID, NameOID

from coldchain.security.secrets import write_private_file

__all__ = ["TlsFiles", "ensure_demo_pki", "issue_server_certificate", "new_certificate_authority"]

_CA_DAYS = 3650
_SERVER_DAYS = 825  # the longest server lifetime browsers and most TLS stacks still accept


@dataclass(frozen=True, slots=True)
class TlsFiles:
    """Paths of a TLS listener's files, as mosquitto's `cafile`/`certfile`/`keyfile` take them.

    Usage:
        files = ensure_demo_pki(data_dir / "tls")
        MqttEndpoint("mqtts://127.0.0.1:8883", ca_file=files.ca_cert)
    """

    ca_cert: Path
    server_cert: Path
    server_key: Path


def _name(common_name: str) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, "coldchain"),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def new_certificate_authority(
    common_name: str = "coldchain private CA",
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A self-signed CA that may sign only end-entity certificates (path length 0)."""
    key = ec.generate_private_key(ec.SECP256R1())
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name))
        .issuer_name(_name(common_name))
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=_CA_DAYS))
        .add_extension(x509.BasicConstraints(ca=True, path_length=0), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=False,
                content_commitment=False,
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=True,
                crl_sign=True,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), critical=False)
        .sign(key, hashes.SHA256())
    )
    return key, certificate


def issue_server_certificate(
    ca_key: ec.EllipticCurvePrivateKey,
    ca_cert: x509.Certificate,
    hosts: Sequence[str],
) -> tuple[ec.EllipticCurvePrivateKey, x509.Certificate]:
    """A server certificate for `hosts` (IP addresses or DNS names, all in the SAN, which is
    what clients check since RFC 6125; the CN is only a label)."""
    if not hosts:
        raise ValueError("a server certificate needs at least one host name or address")
    key = ec.generate_private_key(ec.SECP256R1())
    names: list[x509.GeneralName] = []
    for host in hosts:
        try:
            names.append(x509.IPAddress(ipaddress.ip_address(host)))
        except ValueError:
            names.append(x509.DNSName(host))
    now = datetime.now(UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(_name(hosts[0]))
        .issuer_name(ca_cert.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=_SERVER_DAYS))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(x509.SubjectAlternativeName(names), critical=False)
        .add_extension(x509.ExtendedKeyUsage([ExtendedKeyUsageOID.SERVER_AUTH]), critical=False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(ca_key.public_key()),
            critical=False,
        )
        .sign(ca_key, hashes.SHA256())
    )
    return key, certificate


def _pem_key(key: ec.EllipticCurvePrivateKey) -> bytes:
    return key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )


def ensure_demo_pki(directory: Path, hosts: Sequence[str] = ("127.0.0.1", "localhost")) -> TlsFiles:
    """A CA and a server certificate for `hosts` under `directory`, created on first use.

    Private keys are written 0600; the CA's key stays in `directory` so more server
    certificates can be issued later. Existing files are kept, so clients that pinned the
    CA keep working across restarts.
    """
    files = TlsFiles(directory / "ca.crt", directory / "server.crt", directory / "server.key")
    ca_key_path = directory / "ca.key"
    if all(path.exists() for path in (files.ca_cert, files.server_cert, files.server_key)):
        return files
    ca_key, ca_cert = new_certificate_authority()
    server_key, server_cert = issue_server_certificate(ca_key, ca_cert, hosts)
    write_private_file(ca_key_path, _pem_key(ca_key))
    write_private_file(files.server_key, _pem_key(server_key))
    # Certificates are public; 0644 lets a broker running as another user read them.
    directory.mkdir(parents=True, exist_ok=True)
    files.ca_cert.write_bytes(ca_cert.public_bytes(serialization.Encoding.PEM))
    files.server_cert.write_bytes(server_cert.public_bytes(serialization.Encoding.PEM))
    return files
