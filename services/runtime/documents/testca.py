"""A local test CA for development and tests: a root and the province's signing
certificate under it (ECDSA P-256), written as PEM files.

    python -m services.runtime.documents.testca .local/signing

Keeps what is already there and still valid (run it on every start). Production never
uses these: its key and certificate are the province's (issued by the government's CA),
named by ``DOCUMENT_SIGNING_*`` settings, and a service refuses to start with a trust root
or certificate of this test CA (its organisation is :data:`TEST_CA_ORGANISATION`).
"""

from __future__ import annotations

import fcntl
import os
import sys
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from pathlib import Path

from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

TEST_CA_ORGANISATION = "Onestop local test CA"
ROOT_NAME = "Onestop Local Test Root CA (không dùng cho sản xuất)"
DEFAULT_SIGNER_NAME = "Ủy ban nhân dân tỉnh (chứng thư thử nghiệm)"


@dataclass(frozen=True, slots=True)
class CaFiles:
    """Where the files of one test CA are."""

    directory: Path

    @property
    def root_cert(self) -> Path:
        return self.directory / "root-ca.cert.pem"

    @property
    def root_key(self) -> Path:
        return self.directory / "root-ca.key.pem"

    @property
    def signer_cert(self) -> Path:
        return self.directory / "signer.cert.pem"

    @property
    def signer_key(self) -> Path:
        return self.directory / "signer.key.pem"

    def complete(self) -> bool:
        return all(p.is_file() for p in (self.root_cert, self.signer_cert, self.signer_key))


def _name(common_name: str, organisation: str = TEST_CA_ORGANISATION) -> x509.Name:
    return x509.Name(
        [
            x509.NameAttribute(NameOID.COUNTRY_NAME, "VN"),
            x509.NameAttribute(NameOID.ORGANIZATION_NAME, organisation),
            x509.NameAttribute(NameOID.COMMON_NAME, common_name),
        ]
    )


def _write_key(path: Path, key: ec.EllipticCurvePrivateKey) -> None:
    data = key.private_bytes(
        serialization.Encoding.PEM,
        serialization.PrivateFormat.PKCS8,
        serialization.NoEncryption(),
    )
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(fd, "wb") as out:
        out.write(data)


def _still_valid(path: Path, now: datetime) -> bool:
    cert = x509.load_pem_x509_certificate(path.read_bytes())
    return cert.not_valid_after_utc > now + timedelta(days=30)


def issue_signer(
    files: CaFiles,
    common_name: str,
    organisation: str = TEST_CA_ORGANISATION,
    *,
    now: datetime | None = None,
    key_path: Path | None = None,
    cert_path: Path | None = None,
) -> tuple[Path, Path]:
    """A signing certificate under the test root (another unit's, or an attacker's when the
    root is another one): digital signature and non-repudiation, not a CA."""
    now = now or datetime.now(UTC)
    root_key = serialization.load_pem_private_key(files.root_key.read_bytes(), None)
    assert isinstance(root_key, ec.EllipticCurvePrivateKey)
    root = x509.load_pem_x509_certificate(files.root_cert.read_bytes())
    key = ec.generate_private_key(ec.SECP256R1())
    cert = (
        x509.CertificateBuilder()
        .subject_name(_name(common_name, organisation))
        .issuer_name(root.subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=825))
        .add_extension(x509.BasicConstraints(ca=False, path_length=None), critical=True)
        .add_extension(
            x509.KeyUsage(
                digital_signature=True,
                content_commitment=True,  # non-repudiation
                key_encipherment=False,
                data_encipherment=False,
                key_agreement=False,
                key_cert_sign=False,
                crl_sign=False,
                encipher_only=False,
                decipher_only=False,
            ),
            critical=True,
        )
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(key.public_key()), False)
        .add_extension(
            x509.AuthorityKeyIdentifier.from_issuer_public_key(root_key.public_key()), False
        )
        .sign(root_key, hashes.SHA256())
    )
    key_path = key_path or files.signer_key
    cert_path = cert_path or files.signer_cert
    _write_key(key_path, key)
    cert_path.write_bytes(cert.public_bytes(serialization.Encoding.PEM))
    return key_path, cert_path


def ensure_test_ca(
    directory: Path,
    signer_name: str = DEFAULT_SIGNER_NAME,
    *,
    root_name: str = ROOT_NAME,
    now: datetime | None = None,
) -> CaFiles:
    """Create the root and the signer unless they exist and stay valid a while longer."""
    now = now or datetime.now(UTC)
    directory.mkdir(parents=True, exist_ok=True)
    os.chmod(directory, 0o700)
    # Several services may start at once: one makes the CA, the others then read it.
    with (directory / ".lock").open("w") as lock:
        fcntl.flock(lock, fcntl.LOCK_EX)
        return _ensure(directory, signer_name, root_name, now)


def _ensure(directory: Path, signer_name: str, root_name: str, now: datetime) -> CaFiles:
    files = CaFiles(directory)
    if files.complete() and _still_valid(files.root_cert, now):
        if not _still_valid(files.signer_cert, now):
            issue_signer(files, signer_name, now=now)
        return files
    root_key = ec.generate_private_key(ec.SECP256R1())
    name = _name(root_name)
    root = (
        x509.CertificateBuilder()
        .subject_name(name)
        .issuer_name(name)
        .public_key(root_key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - timedelta(minutes=5))
        .not_valid_after(now + timedelta(days=3650))
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
        .add_extension(x509.SubjectKeyIdentifier.from_public_key(root_key.public_key()), False)
        .sign(root_key, hashes.SHA256())
    )
    _write_key(files.root_key, root_key)
    files.root_cert.write_bytes(root.public_bytes(serialization.Encoding.PEM))
    issue_signer(files, signer_name, now=now)
    return files


def is_test_ca_certificate(pem: bytes) -> bool:
    """Whether any certificate in ``pem`` belongs to a test CA made here."""
    for cert in x509.load_pem_x509_certificates(pem):
        for name in (cert.subject, cert.issuer):
            orgs = name.get_attributes_for_oid(NameOID.ORGANIZATION_NAME)
            if any(a.value == TEST_CA_ORGANISATION for a in orgs):
                return True
    return False


def main(argv: list[str]) -> int:
    directory = Path(argv[1] if len(argv) > 1 else ".local/signing")
    files = ensure_test_ca(directory)
    sys.stdout.write(
        f"test CA ready in {files.directory}: trust root {files.root_cert.name},"
        f" signer {files.signer_cert.name}\n"
    )
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
