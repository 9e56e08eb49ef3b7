"""Settings of a service that issues signed documents (intake, routing, SLA).

Production names the province's key and certificate (issued by the government's CA) and
the roots verification trusts; development falls back to the local test CA under
``.local/signing`` (made by ``deploy/signing.sh``, or here on first use).
"""

from __future__ import annotations

from pathlib import Path

from pydantic import Field

from services.runtime.documents.layout import DEFAULT_FONT_DIR
from services.runtime.documents.signing import SigningIdentity
from services.runtime.documents.testca import CaFiles, ensure_test_ca, is_test_ca_certificate
from services.runtime.settings import ServiceSettings, is_known_default

REPO = Path(__file__).resolve().parents[3]
DEV_SIGNING_DIR = REPO / ".local" / "signing"


class DocumentSettings(ServiceSettings):
    document_signing_key_file: str = Field(
        default="", description="PEM private key the agency signs documents with."
    )
    document_signing_cert_file: str = Field(default="", description="Its PEM certificate.")
    document_signing_chain_files: str = Field(
        default="", description="Comma-separated PEM files of intermediate certificates."
    )
    document_signing_key_password: str = Field(
        default="", description="Passphrase of an encrypted key file (empty: not encrypted)."
    )
    document_trust_roots_file: str = Field(
        default="", description="PEM roots whose signatures verification accepts."
    )
    document_font_dir: str = Field(
        default=str(DEFAULT_FONT_DIR), description="Where DejaVuSerif*.ttf are."
    )
    document_place: str = Field(default="", description="Where documents are dated (địa danh).")

    def _dev_files(self) -> CaFiles:
        return ensure_test_ca(DEV_SIGNING_DIR)

    def signing_identity(self) -> SigningIdentity:
        if not self.document_signing_key_file and self.is_development:
            files = self._dev_files()
            return SigningIdentity(files.signer_key, files.signer_cert)
        chain = tuple(Path(p.strip()) for p in self.document_signing_chain_files.split(",") if p)
        password = self.document_signing_key_password.encode() or None
        return SigningIdentity(
            Path(self.document_signing_key_file),
            Path(self.document_signing_cert_file),
            chain,
            password,
        )

    def trust_roots_path(self) -> Path:
        if not self.document_trust_roots_file and self.is_development:
            return self._dev_files().root_cert
        return Path(self.document_trust_roots_file)

    def insecure_settings(self) -> list[str]:
        problems = super().insecure_settings()
        if self.is_development:
            return problems
        named = {
            "DOCUMENT_SIGNING_KEY_FILE": self.document_signing_key_file,
            "DOCUMENT_SIGNING_CERT_FILE": self.document_signing_cert_file,
            "DOCUMENT_TRUST_ROOTS_FILE": self.document_trust_roots_file,
        }
        for env, value in named.items():
            if not value:
                problems.append(f"{env} is not set")
            elif not Path(value).is_file():
                problems.append(f"{env} names no readable file")
        for env in ("DOCUMENT_SIGNING_CERT_FILE", "DOCUMENT_TRUST_ROOTS_FILE"):
            path = Path(named[env])
            if path.is_file() and is_test_ca_certificate(path.read_bytes()):
                problems.append(f"{env} is the project's local test CA")
        password = self.document_signing_key_password
        if password and is_known_default(password):
            problems.append("DOCUMENT_SIGNING_KEY_PASSWORD is a known default value")
        return problems
