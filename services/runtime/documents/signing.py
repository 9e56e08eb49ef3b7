"""The signer adapter: seal a PDF with the agency's certificate (PAdES baseline B-B, by
pyHanko) and say of any PDF whether it is intact and who signed it.

Verification trusts only the roots it is given (the province's CA in production, the local
test CA in development) and fetches nothing from the network: no OCSP or CRL look-ups from
a public endpoint (revocation is soft-fail until the province gives a CRL to load).
"""

from __future__ import annotations

import logging
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from io import BytesIO
from pathlib import Path

from asn1crypto import cms as asn1_cms  # type: ignore[import-untyped]
from asn1crypto import parser as asn1_parser
from asn1crypto import pem as asn1_pem
from asn1crypto import x509 as asn1_x509
from pydantic import BaseModel, Field
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pyhanko.pdf_utils.reader import PdfFileReader
from pyhanko.sign import fields, signers
from pyhanko.sign.general import SigningError
from pyhanko.sign.validation import validate_pdf_signature
from pyhanko.sign.validation.pdf_embedded import EmbeddedPdfSignature
from pyhanko.sign.validation.status import SignatureCoverageLevel
from pyhanko_certvalidator import ValidationContext

log = logging.getLogger(__name__)
FIELD_NAME = "ChuKySoCoQuan"


class UnreadablePdf(ValueError):
    """The bytes are not a PDF pyHanko can read."""


class SignatureCheck(BaseModel):
    """One embedded signature, checked."""

    field: str = Field(description="The signature field's name.")
    signer: str = Field(description="The certificate's subject, as people read it.")
    signer_common_name: str | None = Field(examples=["Ủy ban nhân dân tỉnh"])
    organisation: str | None
    issuer: str = Field(description="Who issued the signer's certificate.")
    serial_number: str = Field(description="The certificate's serial number (hex).")
    signed_at: datetime | None = Field(description="The signing time the signer states.")
    intact: bool = Field(description="The bytes the signature covers are unchanged.")
    valid: bool = Field(description="The signature is cryptographically sound.")
    trusted: bool = Field(description="The certificate chains to a trusted root.")
    covers_whole_file: bool = Field(
        description="Nothing was appended after this signature (no later revision)."
    )
    summary: str = Field(description="The verdict in Vietnamese.")


class Verification(BaseModel):
    """Whether a PDF is intact and who signed it."""

    signed: bool = Field(description="The PDF holds at least one signature.")
    verified: bool = Field(
        description="Every signature is intact, valid and trusted, and the last one covers"
        " the whole file."
    )
    signatures: list[SignatureCheck]
    summary: str = Field(
        examples=["Văn bản toàn vẹn, được ký số bởi Ủy ban nhân dân tỉnh."],
    )


def load_certificates(paths: Sequence[Path]) -> list[asn1_x509.Certificate]:
    """Every certificate of the PEM (or DER) files named."""
    found: list[asn1_x509.Certificate] = []
    for path in paths:
        data = path.read_bytes()
        if asn1_pem.detect(data):
            found.extend(
                asn1_x509.Certificate.load(der) for _, _, der in asn1_pem.unarmor(data, True)
            )
        else:
            found.append(asn1_x509.Certificate.load(data))
    return found


@dataclass(frozen=True, slots=True)
class SigningIdentity:
    key_file: Path
    cert_file: Path
    chain_files: tuple[Path, ...] = ()
    key_passphrase: bytes | None = None


def _attribute(cert: asn1_x509.Certificate, name: str) -> str | None:
    value = cert.subject.native.get(name)
    if isinstance(value, list):
        return str(value[0]) if value else None
    return str(value) if value is not None else None


def _summary(check: dict[str, bool], who: str) -> str:
    if not check["intact"]:
        return "Văn bản đã bị thay đổi sau khi ký: chữ ký không còn giá trị."
    if not check["valid"]:
        return "Chữ ký số không hợp lệ."
    if not check["trusted"]:
        return f"Chữ ký của {who} không thuộc tổ chức chứng thực được tin cậy."
    if not check["covers_whole_file"]:
        return f"Chữ ký của {who} hợp lệ, nhưng tệp đã được bổ sung nội dung sau khi ký."
    return f"Văn bản toàn vẹn, được ký số bởi {who}."


def container_is_canonical(pdf: bytes, sig: EmbeddedPdfSignature) -> bool:
    """The bytes the signature leaves out (its own ``/Contents``) hold nothing but the
    signature: hex digits of one case, the CMS structure in DER, then zero padding, and
    the CMS's unsigned parts say only what its signed parts say. Readers ignore the
    padding, the case, a length longer than needed and the unsigned hints, so without
    this a byte there could change and the file still verify."""
    _, end_first, start_second, _ = (int(x) for x in sig.byte_range)
    gap = pdf[end_first:start_second]
    digits = gap[1:-1]
    if gap[:1] != b"<" or gap[-1:] != b">" or digits not in (digits.upper(), digits.lower()):
        return False
    try:
        raw = bytes.fromhex(digits.decode("ascii"))
        _, _, _, header, content, trailer = asn1_parser.parse(raw)
        used = len(header) + len(content) + len(trailer)
        if raw[used:].strip(b"\x00"):
            return False
        container = asn1_cms.ContentInfo.load(raw[:used], strict=True)
        if container.dump(force=True) != raw[:used]:
            return False
        return _unsigned_parts_agree(container["content"], sig.signer_cert)
    except (ValueError, TypeError, KeyError):
        return False


def _unsigned_parts_agree(signed: asn1_cms.SignedData, cert: asn1_x509.Certificate) -> bool:
    """RFC 5652's fields outside the signed attributes: one signer, named as its
    certificate names it, with the version its naming implies; the digest algorithm list
    is that signer's, with no parameters; the content is detached (the PDF's ranges)."""
    if len(signed["signer_infos"]) != 1:
        return False
    signer = signed["signer_infos"][0]
    sid = signer["sid"]
    if sid.name == "issuer_and_serial_number":
        named = (
            signer["version"].native == "v1"
            and sid.chosen["issuer"].dump() == cert.issuer.dump()
            and sid.chosen["serial_number"].native == cert.serial_number
        )
    else:
        named = signer["version"].native == "v3" and sid.chosen.native == cert.key_identifier
    digest = signer["digest_algorithm"]
    listed = [algorithm.dump() for algorithm in signed["digest_algorithms"]]
    encapsulated = signed["encap_content_info"]
    expected_version = "v1" if signer["version"].native == "v1" else "v3"
    return (
        named
        and digest["parameters"].native is None
        and listed == [digest.dump()]
        and encapsulated["content_type"].native == "data"
        and encapsulated["content"].native is None
        and signed["version"].native == expected_version
        and signer["unsigned_attrs"].native is None
    )


class DocumentSigner:
    """Signs with one identity; verifies against the trust roots given."""

    def __init__(
        self, identity: SigningIdentity, trust_roots: Sequence[asn1_x509.Certificate]
    ) -> None:
        self._signer = signers.SimpleSigner.load(  # type: ignore[no-untyped-call]
            str(identity.key_file),
            str(identity.cert_file),
            ca_chain_files=tuple(str(p) for p in identity.chain_files) or None,
            key_passphrase=identity.key_passphrase,
        )
        if self._signer is None:
            raise ValueError(f"cannot load the signing key or certificate {identity.cert_file}")
        self._roots = list(trust_roots)

    @property
    def signer_name(self) -> str:
        cert = self._signer.signing_cert
        return _attribute(cert, "common_name") or cert.subject.human_friendly

    def sign(self, pdf: bytes, *, reason: str, location: str | None = None) -> bytes:
        """The PDF with an approval signature over the whole file (blocking: call it in a
        worker thread)."""
        meta = signers.PdfSignatureMetadata(
            field_name=FIELD_NAME,
            md_algorithm="sha256",
            subfilter=fields.SigSeedSubFilter.PADES,
            reason=reason,
            location=location,
            name=self.signer_name,
        )
        writer = IncrementalPdfFileWriter(BytesIO(pdf))
        try:
            out = signers.sign_pdf(writer, meta, signer=self._signer)
        except SigningError as exc:
            raise ValueError(f"signing failed: {exc}") from exc
        signed: bytes = out.getvalue()
        return signed

    def _context(self) -> ValidationContext:
        return ValidationContext(trust_roots=self._roots, allow_fetching=False)

    def verify(self, pdf: bytes) -> Verification:
        """Check every signature of the PDF (blocking: call it in a worker thread)."""
        try:
            reader = PdfFileReader(BytesIO(pdf), strict=False)
        except Exception as exc:  # untrusted bytes: any parser failure is "unreadable"
            raise UnreadablePdf(str(exc)) from exc
        try:
            checks = [self._check(sig, pdf) for sig in reader.embedded_signatures]
        except Exception as exc:
            log.info("signatures could not be read: %s", exc)
            return Verification(
                signed=True,
                verified=False,
                signatures=[],
                summary="Chữ ký số trong tệp bị hỏng, không đọc được.",
            )
        if not checks:
            return Verification(
                signed=False, verified=False, signatures=[], summary="Tệp không có chữ ký số."
            )
        failed = [c for c in checks if not (c.intact and c.valid and c.trusted)]
        if not failed and not checks[-1].covers_whole_file:
            failed = [checks[-1]]
        summary = failed[0].summary if failed else checks[-1].summary
        return Verification(signed=True, verified=not failed, signatures=checks, summary=summary)

    def _check(self, sig: EmbeddedPdfSignature, pdf: bytes) -> SignatureCheck:
        cert = sig.signer_cert
        who = _attribute(cert, "common_name") or cert.subject.human_friendly
        try:
            status = validate_pdf_signature(sig, self._context())
            outcome = {
                "intact": bool(status.intact) and container_is_canonical(pdf, sig),
                "valid": bool(status.valid),
                "trusted": bool(status.trusted),
                "covers_whole_file": status.coverage is SignatureCoverageLevel.ENTIRE_FILE,
            }
        except Exception as exc:  # a malformed signature is a failed one, not a crash
            log.info("signature %s could not be validated: %s", sig.field_name, exc)
            outcome = dict.fromkeys(("intact", "valid", "trusted", "covers_whole_file"), False)
        return SignatureCheck(
            field=sig.field_name,
            signer=cert.subject.human_friendly,
            signer_common_name=_attribute(cert, "common_name"),
            organisation=_attribute(cert, "organization_name"),
            issuer=cert.issuer.human_friendly,
            serial_number=format(cert.serial_number, "x"),
            signed_at=sig.self_reported_timestamp,
            summary=_summary(outcome, who),
            **outcome,
        )
