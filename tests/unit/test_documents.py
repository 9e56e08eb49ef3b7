"""Signed documents: every form renders in Vietnamese with its fonts embedded, is signed
by the agency's certificate, verifies; and whatever an attacker changes, it does not."""

from __future__ import annotations

import contextlib
import re
import unicodedata
from datetime import UTC, date, datetime, timedelta
from io import BytesIO
from pathlib import Path
from typing import Any

import pytest
from pyhanko.pdf_utils.generic import NameObject, pdf_string
from pyhanko.pdf_utils.incremental_writer import IncrementalPdfFileWriter
from pypdf import PdfReader

from contracts.vietnam import VN_TZ
from services.runtime.documents import model as m
from services.runtime.documents.layout import Fonts, render
from services.runtime.documents.settings import DocumentSettings
from services.runtime.documents.signing import (
    DocumentSigner,
    SigningIdentity,
    load_certificates,
)
from services.runtime.documents.testca import CaFiles, ensure_test_ca, issue_signer

AT = datetime(2026, 3, 2, 9, 30, tzinfo=VN_TZ)
COMMUNE = m.Issuer(
    unit_code="000.01.01.H99",
    unit_name="Ủy ban nhân dân xã Đông Lâm",
    parent_name="Ủy ban nhân dân huyện Hòa Vang",
    place="Đông Lâm",
)
CITIZEN = {
    "dossier_code": "000.01.01.H99-260302-0001",
    "applicant_name": "Nguyễn Thị Lan",
    "procedure_code": "1.001193",
    "procedure_name": "Đăng ký khai sinh",
}


def forms() -> list[tuple[m.AnyForm, list[str]]]:
    """Each form, and words with diacritics its page must show."""
    head = "Thủ trưởng Ủy ban nhân dân xã Đông Lâm"
    base: dict[str, Any] = {"issuer": COMMUNE, "issued_at": AT, "signer_title": head, **CITIZEN}
    return [
        (
            m.ReceiptForm(
                **base | {"signer_title": "Người tiếp nhận hồ sơ"},
                channel_name="Trực tuyến",
                documents=(
                    m.PaperLine(name="Tờ khai đăng ký khai sinh", type_code="TK_KS"),
                    m.PaperLine(name="Giấy chứng sinh", type_code="GCS"),
                ),
                received_at=AT,
                appointment_at=AT + timedelta(days=3),
            ),
            [
                "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ",
                "Nguyễn Thị Lan",
                "Giấy chứng sinh",
                "Trực tuyến",
                "09 giờ 30 phút, ngày 05 tháng 03 năm 2026",
            ],
        ),
        (
            m.SupplementRequestForm(
                **base,
                missing=(m.PaperLine(name="Giấy chứng sinh", type_code="GCS"),),
                reason="Bản chụp mờ, không đọc được số giấy",
                received_at=AT,
            ),
            ["PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ", "Bản chụp mờ, không đọc được số giấy"],
        ),
        (
            m.RefusalForm(**base, reasons=("Hồ sơ không thuộc thẩm quyền giải quyết",)),
            ["PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ", "không thuộc thẩm quyền"],
        ),
        (
            m.ApologyForm(
                **base,
                reason="Việc xác minh tại Công an xã chưa hoàn thành",
                old_appointment_at=AT,
                new_appointment_at=AT + timedelta(days=2),
            ),
            ["PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ", "xin lỗi Ông/Bà", "Công an xã"],
        ),
        (
            m.StopNoticeForm(**base, reason="Công dân đề nghị dừng để điều chỉnh hồ sơ"),
            ["THÔNG BÁO DỪNG XỬ LÝ HỒ SƠ", "điều chỉnh hồ sơ"],
        ),
        (
            m.ControlSheetForm(
                **base | {"signer_title": "Bộ phận Tiếp nhận và Trả kết quả"},
                received_at=AT,
                appointment_at=AT + timedelta(days=3),
                lines=(
                    m.HandOffLine(
                        from_unit_name="Bộ phận một cửa",
                        to_unit_name="Công chức tư pháp – hộ tịch",
                        at=AT + timedelta(hours=1),
                        outcome="early",
                    ),
                    m.HandOffLine(
                        from_unit_name="Công chức tư pháp – hộ tịch",
                        to_unit_name="Bộ phận một cửa",
                        at=AT + timedelta(days=1),
                        outcome="late",
                    ),
                ),
            ),
            ["PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ", "Trước hạn", "Quá hạn", "hộ tịch"],
        ),
        (
            m.RegisterForm(
                issuer=COMMUNE,
                issued_at=AT,
                signer_title=head,
                period_from=date(2026, 3, 1),
                period_to=date(2026, 3, 31),
                rows=(
                    m.RegisterRow(
                        dossier_code=CITIZEN["dossier_code"],
                        procedure_name="Đăng ký khai sinh",
                        applicant_name="Trần Văn Đức",
                        received_at=AT,
                        appointment_at=AT + timedelta(days=3),
                        status_name="Đã trả kết quả",
                        returned_at=AT + timedelta(days=2),
                    ),
                ),
            ),
            [
                "SỔ THEO DÕI HỒ SƠ",
                CITIZEN["dossier_code"],
                "Trần Văn Đức",
                "Đã trả kết quả",
                "Tổng số hồ sơ: 1",
            ],
        ),
        (
            m.ResultDocument(
                **base, papers=("Giấy khai sinh (bản chính)",), decided_at=AT + timedelta(days=1)
            ),
            ["THÔNG BÁO KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH", "Giấy khai sinh (bản chính)"],
        ),
    ]


@pytest.fixture(scope="module")
def ca(tmp_path_factory: pytest.TempPathFactory) -> CaFiles:
    return ensure_test_ca(tmp_path_factory.mktemp("signing"))


@pytest.fixture(scope="module")
def signer(ca: CaFiles) -> DocumentSigner:
    return DocumentSigner(
        SigningIdentity(ca.signer_key, ca.signer_cert), load_certificates([ca.root_cert])
    )


def text_of(pdf: bytes) -> str:
    pages = PdfReader(BytesIO(pdf)).pages
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pages))


def fonts_of(pdf: bytes) -> set[str]:
    """The embedded font programs (FontFile2: TrueType) of the first page."""
    page: Any = PdfReader(BytesIO(pdf)).pages[0]
    found = set()
    for font in page["/Resources"]["/Font"].values():
        descendant = font.get_object()["/DescendantFonts"][0].get_object()
        if "/FontFile2" in descendant["/FontDescriptor"]:
            found.add(str(descendant["/BaseFont"]))
    return found


@pytest.mark.parametrize(("form", "words"), forms(), ids=lambda f: getattr(f, "form", ""))
def test_each_form_renders_in_vietnamese_signed_and_verifies(
    form: m.AnyForm, words: list[str], signer: DocumentSigner
) -> None:
    signed = signer.sign(render(form), reason="Ký ban hành")
    text = text_of(signed)
    for word in [*words, "CỘNG HÒA XÃ HỘI CHỦ NGHĨA VIỆT NAM", "Độc lập - Tự do - Hạnh phúc"]:
        assert unicodedata.normalize("NFC", word) in text, word
    assert (f"Mẫu số {form.form}" in text) == (form.form != "KQ")
    assert any("DejaVuSerif" in name for name in fonts_of(signed)), "the font is embedded"
    verdict = signer.verify(signed)
    assert verdict.verified, verdict.summary
    (signature,) = verdict.signatures
    assert signature.signer_common_name == "Ủy ban nhân dân tỉnh (chứng thư thử nghiệm)"
    assert signature.intact and signature.valid and signature.trusted
    assert signature.covers_whole_file
    assert verdict.summary.startswith("Văn bản toàn vẹn, được ký số bởi")


def test_the_same_form_renders_the_same_bytes() -> None:
    form = forms()[0][0]
    assert render(form) == render(form)


def test_text_typed_decomposed_is_shown_precomposed(signer: DocumentSigner) -> None:
    decomposed = unicodedata.normalize("NFD", "Nguyễn Thị Lan")
    form = forms()[2][0].model_copy(update={"applicant_name": decomposed})
    assert "Nguyễn Thị Lan" in text_of(render(form))


@pytest.fixture(scope="module")
def signed_result(signer: DocumentSigner) -> bytes:
    return signer.sign(render(forms()[-1][0]), reason="Trả kết quả")


def _flip(pdf: bytes, position: int) -> bytes:
    changed = bytearray(pdf)
    changed[position] ^= 0x01
    return bytes(changed)


def test_a_changed_byte_in_the_signed_result_fails_verification(
    signer: DocumentSigner, signed_result: bytes
) -> None:
    assert signer.verify(signed_result).verified
    content = signed_result.index(b"stream") + 40  # inside the first page's content
    changed = signer.verify(_flip(signed_result, content))
    assert changed.signed and not changed.verified
    assert not changed.signatures[0].intact
    assert changed.summary == "Văn bản đã bị thay đổi sau khi ký: chữ ký không còn giá trị."


def test_no_single_changed_byte_anywhere_verifies(
    signer: DocumentSigner, signed_result: bytes
) -> None:
    """Every 151st byte, the signature's own container included (its hex digits, its
    zero padding, the case of its digits): none of the changed files verifies."""
    from services.runtime.documents.signing import UnreadablePdf

    for position in range(0, len(signed_result), 151):
        for changed in (_flip(signed_result, position), _case_swapped(signed_result, position)):
            if changed == signed_result:
                continue
            with contextlib.suppress(UnreadablePdf):  # not a PDF any more: refused as such
                assert not signer.verify(changed).verified, position


def test_no_changed_digit_in_the_containers_unsigned_parts_verifies(
    signer: DocumentSigner, signed_result: bytes
) -> None:
    """Every hex digit of what the CMS signature does not sign itself (its lengths, its
    digest algorithm list, how it names the signer, its versions), the two ways: none of
    the changed files verifies, though a lenient reader would accept them all."""
    for position in _unsigned_container_digits(signed_result):
        for changed in (_flip(signed_result, position), _case_swapped(signed_result, position)):
            if changed != signed_result:
                assert not signer.verify(changed).verified, position


def _unsigned_container_digits(pdf: bytes) -> list[int]:
    """The positions in the file of the hex digits of the container's unsigned fields."""
    from asn1crypto import cms  # type: ignore[import-untyped]
    from pyhanko.pdf_utils.reader import PdfFileReader

    signature = PdfFileReader(BytesIO(pdf), strict=False).embedded_signatures[0]
    contents = int(signature.byte_range[1]) + 1  # past the "<"
    used = len(pdf[contents:].split(b">", 1)[0].rstrip(b"0"))
    raw = bytes.fromhex(pdf[contents : contents + used + used % 2].decode())
    signed = cms.ContentInfo.load(raw)["content"]
    signer_info = signed["signer_infos"][0]
    at = raw.index(signer_info.dump())
    fields = (signer_info["version"], signer_info["sid"], signer_info["digest_algorithm"])
    spans = [(0, raw.index(signed["version"].dump()) + 3)]  # the headers, the version
    spans.append(
        (raw.index(signed["digest_algorithms"].dump()), len(signed["digest_algorithms"].dump()))
    )
    spans.append((at, 4))  # the signer info's header
    spans += [(raw.index(f.dump(), at), len(f.dump())) for f in fields]
    return sorted(
        {contents + 2 * start + digit for start, length in spans for digit in range(2 * length)}
    )


def _case_swapped(pdf: bytes, position: int) -> bytes:
    changed = bytearray(pdf)
    changed[position : position + 1] = bytes(changed[position : position + 1]).swapcase()
    return bytes(changed)


def test_a_certificate_of_another_ca_is_not_trusted(tmp_path: Path, signer: DocumentSigner) -> None:
    """The attacker makes a CA of their own and signs a receipt in the province's name."""
    forger = ensure_test_ca(tmp_path / "forger", signer_name="Ủy ban nhân dân tỉnh")
    forged = DocumentSigner(
        SigningIdentity(forger.signer_key, forger.signer_cert),
        load_certificates([forger.root_cert]),
    ).sign(render(forms()[0][0]), reason="Giả mạo")
    verdict = signer.verify(forged)
    assert not verdict.verified
    assert verdict.signatures[0].intact and not verdict.signatures[0].trusted
    assert "không thuộc tổ chức chứng thực được tin cậy" in verdict.summary


def test_content_appended_after_signing_is_not_verified(
    signer: DocumentSigner, signed_result: bytes
) -> None:
    """An incremental update after the signature (the signed bytes stay untouched)."""
    writer = IncrementalPdfFileWriter(BytesIO(signed_result))
    info = writer.trailer["/Info"].get_object()
    info[NameObject("/Title")] = pdf_string("Kết quả đã sửa")
    writer.update_container(info)
    out = BytesIO()
    writer.write(out)  # type: ignore[no-untyped-call]
    verdict = signer.verify(out.getvalue())
    assert not verdict.verified
    assert verdict.signatures[0].intact and not verdict.signatures[0].covers_whole_file


def test_an_unsigned_pdf_is_said_to_be_unsigned(signer: DocumentSigner) -> None:
    verdict = signer.verify(render(forms()[0][0]))
    assert not verdict.signed and not verdict.verified
    assert verdict.summary == "Tệp không có chữ ký số."


def test_another_unit_signs_under_the_same_root(ca: CaFiles, tmp_path: Path) -> None:
    key, cert = issue_signer(
        ca, "Sở Tư pháp (thử nghiệm)", key_path=tmp_path / "k.pem", cert_path=tmp_path / "c.pem"
    )
    unit = DocumentSigner(SigningIdentity(key, cert), load_certificates([ca.root_cert]))
    verdict = unit.verify(unit.sign(render(forms()[4][0]), reason="Dừng xử lý"))
    assert verdict.verified
    assert verdict.signatures[0].signer_common_name == "Sở Tư pháp (thử nghiệm)"


def test_missing_fonts_are_named(tmp_path: Path) -> None:
    with pytest.raises(FileNotFoundError, match="fonts-dejavu-core"):
        render(forms()[0][0], Fonts(tmp_path))


def test_production_refuses_the_test_ca_and_unset_files(ca: CaFiles) -> None:
    unset = DocumentSettings(environment="production")
    problems = unset.insecure_settings()
    assert "DOCUMENT_SIGNING_KEY_FILE is not set" in problems
    assert "DOCUMENT_TRUST_ROOTS_FILE is not set" in problems
    test_ca = DocumentSettings(
        environment="production",
        document_signing_key_file=str(ca.signer_key),
        document_signing_cert_file=str(ca.signer_cert),
        document_trust_roots_file=str(ca.root_cert),
        document_signing_key_password="changeme",
    )
    problems = test_ca.insecure_settings()
    assert "DOCUMENT_SIGNING_CERT_FILE is the project's local test CA" in problems
    assert "DOCUMENT_TRUST_ROOTS_FILE is the project's local test CA" in problems
    assert "DOCUMENT_SIGNING_KEY_PASSWORD is a known default value" in problems


def test_the_test_ca_is_kept_while_valid(tmp_path: Path) -> None:
    ca = ensure_test_ca(tmp_path)
    before = ca.signer_cert.read_bytes(), ca.root_cert.read_bytes()
    again = ensure_test_ca(ca.directory)
    assert (again.signer_cert.read_bytes(), again.root_cert.read_bytes()) == before
    later = ensure_test_ca(ca.directory, now=datetime.now(UTC) + timedelta(days=820))
    assert later.root_cert.read_bytes() == before[1]
    assert later.signer_cert.read_bytes() != before[0], "an expiring signer is renewed"
