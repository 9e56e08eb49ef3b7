"""National public service portal (DVCQG) ``DongBoHoSoMC`` payloads, both ways; pure.

All values are strings; dates are ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh whatever the
server's own zone.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from pydantic import ValidationError

from contracts.intake_api import SubmitDossier
from contracts.vietnam import VN_TZ

STAMP = "%Y%m%d%H%M%S"
CITIZEN_ID_12 = "1"  # LoaiDinhDanh: 1 = 12-digit personal ID, 2 = 9-digit ID
TRUE_STRINGS = frozenset({"true", "1"})


class DvcqgItemError(Exception):
    """One dossier of the batch cannot be taken; the message goes back to the sender."""


def to_stamp(moment: datetime | None) -> str:
    return moment.astimezone(VN_TZ).strftime(STAMP) if moment is not None else ""


def from_stamp(text: str) -> datetime:
    try:
        return datetime.strptime(text, STAMP).replace(tzinfo=VN_TZ)
    except ValueError as exc:
        raise DvcqgItemError(f"Ngày không đúng định dạng yyyyMMddHHmmss: {text!r}") from exc


@dataclass(frozen=True)
class SyncDossier:
    """What the mapping needs of one dossier (intake's row plus reference names)."""

    code: str
    procedure_code: str
    procedure_name: str
    field_code: str
    field_name: str
    channel: int
    applicant: dict[str, Any]
    summary: str
    received_at: datetime
    appointment_at: datetime
    status: int
    unit_name: str
    documents: list[dict[str, Any]] = field(default_factory=list)
    fees: list[dict[str, Any]] = field(default_factory=list)
    ended_at: datetime | None = None
    returned_at: datetime | None = None


def to_dongbo(d: SyncDossier) -> dict[str, Any]:
    applicant = d.applicant
    return {
        "MaHoSo": d.code,
        "MaTTHC": d.procedure_code,
        "TenTTHC": d.procedure_name,
        "MaLinhVuc": d.field_code,
        "TenLinhVuc": d.field_name or d.field_code,
        "KenhThucHien": str(d.channel),
        "ChuHoSo": applicant.get("full_name", ""),
        "LoaiDoiTuong": "2" if applicant.get("kind") == "business" else "1",
        "MaDoiTuong": "",
        "Email": applicant.get("email") or "",
        "SoDienThoai": applicant.get("phone", ""),
        "TrichYeuHoSo": (d.summary or d.procedure_name)[:1000],
        "NgayTiepNhan": to_stamp(d.received_at),
        "NgayHenTra": to_stamp(d.appointment_at),
        "TrangThaiHoSo": str(d.status),
        "NgayKetThucXuLy": to_stamp(d.ended_at),
        "NgayTra": to_stamp(d.returned_at),
        "HinhThuc": "0",
        "DonViXuLy": d.unit_name,
        "DinhDanhCHS": [
            {"LoaiDinhDanh": CITIZEN_ID_12, "SoDinhDanh": applicant.get("citizen_id", "")}
        ],
        "TaiLieuNop": [
            {
                "TepDinhKemId": doc.get("storage_ref", ""),
                "TenTepDinhKem": doc.get("name", ""),
                "IsDeleted": "False",
                "MaThanhPhanHoSo": doc.get("type_code", ""),
                "DuongDanTaiTepTin": doc.get("storage_ref", ""),
            }
            for doc in d.documents
        ],
        "DanhSachLePhi": [
            {
                "TenPhiLePhi": fee.get("code", ""),
                "MaPhiLePhi": fee.get("code", ""),
                "HinhThucThu": "",
                "Gia": str(fee.get("amount_vnd", 0)),
                "LoaiPhiLePhi": "1",
            }
            for fee in d.fees
        ],
    }


@dataclass(frozen=True)
class IncomingDossier:
    external_code: str
    submission: SubmitDossier


def receiving_unit_of(item: dict[str, Any], envelope_unit: str | None) -> str:
    """The unit: the item's MaDonVi, the envelope's madonvi, else the code's agency part."""
    explicit = _text(item.get("MaDonVi")) or (envelope_unit or "")
    return explicit or _text(item.get("MaHoSo")).split("-", 1)[0]


def from_dongbo(item: dict[str, Any], envelope_unit: str | None = None) -> IncomingDossier:
    code = _text(item.get("MaHoSo"))
    if not code or len(code) > 64 or "\x00" in code:
        raise DvcqgItemError("MaHoSo thiếu hoặc không hợp lệ")
    citizen_ids = [
        _text(x.get("SoDinhDanh"))
        for x in item.get("DinhDanhCHS") or []
        if isinstance(x, dict) and _text(x.get("LoaiDinhDanh")) == CITIZEN_ID_12
    ]
    documents = [
        {
            "type_code": _text(doc.get("MaThanhPhanHoSo")),
            "name": _text(doc.get("TenTepDinhKem")) or _text(doc.get("MaThanhPhanHoSo")),
            "storage_ref": _text(doc.get("DuongDanTaiTepTin")) or _text(doc.get("TepDinhKemId")),
        }
        for doc in item.get("TaiLieuNop") or []
        if isinstance(doc, dict) and _text(doc.get("IsDeleted")).lower() not in TRUE_STRINGS
    ]
    fees = [
        {"code": _text(f.get("MaPhiLePhi")), "amount_vnd": _int(f.get("Gia"))}
        for f in item.get("DanhSachLePhi") or []
        if isinstance(f, dict)
    ]
    raw = {
        "procedure_code": _text(item.get("MaTTHC")),
        "receiving_unit": receiving_unit_of(item, envelope_unit),
        "channel": _int(item.get("KenhThucHien") or "2"),
        "applicant": {
            "kind": "business" if _text(item.get("LoaiDoiTuong")) == "2" else "citizen",
            "full_name": _text(item.get("ChuHoSo")),
            "citizen_id": citizen_ids[0] if citizen_ids else "",
            "phone": _text(item.get("SoDienThoai")),
            "email": _text(item.get("Email")) or None,
        },
        "documents": documents,
        "fees": fees,
        "summary": _text(item.get("TrichYeuHoSo"))[:1000],
    }
    try:
        submission = SubmitDossier.model_validate(raw)
    except ValidationError as exc:
        fields = sorted({".".join(str(p) for p in e["loc"]) for e in exc.errors()})
        raise DvcqgItemError("Dữ liệu không hợp lệ: " + ", ".join(fields)) from exc
    return IncomingDossier(external_code=code, submission=submission)


def _text(value: Any) -> str:
    return "" if value is None else str(value).strip()


def _int(value: Any) -> int:
    try:
        return int(str(value).strip())
    except ValueError as exc:
        raise DvcqgItemError(f"Giá trị số không hợp lệ: {value!r}") from exc
