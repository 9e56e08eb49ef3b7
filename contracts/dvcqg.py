"""The national public service portal's (DVCQG) sync shapes, as iGate-style systems send
them (``DongBoHoSoMC`` items, ``TraCuuHoSo``); see ``docs/DVCQG.md``.

Every value is a string (numbers are accepted and read as their decimal text); dates are
``yyyyMMddHHmmss`` in Vietnam time. Fields the portal added later and this model does not
name are kept as sent (``extra="allow"``) after the same storability checks. Text goes
through ``contracts.bounds.SafeStr`` like every other request model, so the project's
input rules apply here too.
"""

from __future__ import annotations

import math
from datetime import datetime
from typing import Annotated, Any

from pydantic import AfterValidator, BaseModel, ConfigDict, Field, model_validator

from contracts.bounds import EARLIEST, LATEST, SafeStr, storable_text
from contracts.vietnam import VN_TZ

STAMP_FORMAT = "%Y%m%d%H%M%S"
MAX_EXTRA_DEPTH = 6
UNSTORABLE = "chứa ký tự không lưu được (NUL hoặc ký tự Unicode lẻ)"


def parse_stamp(text: str) -> datetime:
    """``yyyyMMddHHmmss`` in Vietnam time, whatever the server's zone; ValueError otherwise."""
    if len(text) != 14 or not text.isascii() or not text.isdigit():
        raise ValueError("không đúng định dạng yyyyMMddHHmmss (giờ Việt Nam)")
    try:
        moment = datetime.strptime(text, STAMP_FORMAT).replace(tzinfo=VN_TZ)
    except ValueError:
        raise ValueError("không phải một thời điểm có thật (yyyyMMddHHmmss)") from None
    if not EARLIEST <= moment <= LATEST:
        raise ValueError("phải nằm trong khoảng năm 2000–2100")
    return moment


def _stamp_or_empty(text: str) -> str:
    if text:
        parse_stamp(text)
    return text


Stamp = Annotated[SafeStr, Field(max_length=14), AfterValidator(_stamp_or_empty)]
Digits = Annotated[SafeStr, Field(max_length=15, pattern=r"^[0-9]*$")]
Flag = Annotated[SafeStr, Field(max_length=8)]  # "True"/"False", "1"/"3", ...
ShortText = Annotated[SafeStr, Field(max_length=64)]
Name = Annotated[SafeStr, Field(max_length=300)]
Ref = Annotated[SafeStr, Field(max_length=500)]
Note = Annotated[SafeStr, Field(max_length=2000)]
Ident = Annotated[SafeStr, Field(max_length=200)]
NationalCode = Annotated[SafeStr, Field(max_length=64, pattern=r"^[0-9A-Za-z._-]+$")]


def _storable(value: Any, depth: int = 0) -> None:
    """What a field this model does not name may hold: JSON PostgreSQL can store."""
    if depth > MAX_EXTRA_DEPTH:
        raise ValueError("lồng nhau quá sâu")
    if isinstance(value, str):
        try:
            storable_text(value)
        except ValueError:
            raise ValueError(UNSTORABLE) from None
    elif isinstance(value, float) and not math.isfinite(value):
        raise ValueError("số không hữu hạn (NaN, Infinity)")
    elif isinstance(value, dict):
        for key, item in value.items():
            _storable(str(key), depth + 1)
            _storable(item, depth + 1)
    elif isinstance(value, list):
        for item in value:
            _storable(item, depth + 1)


class National(BaseModel):
    """Base of the portal's objects: strings, trimmed, unknown fields kept as sent."""

    model_config = ConfigDict(extra="allow", coerce_numbers_to_str=True, str_strip_whitespace=True)

    @model_validator(mode="after")
    def _extras_are_storable(self) -> National:
        for key, value in (self.model_extra or {}).items():
            try:
                _storable(key)
                _storable(value)
            except ValueError as exc:  # names the field: "<field>: <reason>"
                raise ValueError(f"{key}: {exc}") from None
        return self


class TaiLieu(National):
    """A paper handed in (thành phần hồ sơ)."""

    TepDinhKemId: Ident = ""
    TenTepDinhKem: Name = ""
    IsDeleted: Flag = ""
    MaThanhPhanHoSo: ShortText = Field(default="", description="National component code.")
    DuongDanTaiTepTin: Ref = ""


class LePhi(National):
    """A fee or charge (phí, lệ phí)."""

    TenPhiLePhi: Name = ""
    MaPhiLePhi: ShortText = ""
    HinhThucThu: ShortText = ""
    Gia: Digits = Field(default="", description="Amount in VND, digits only.")
    LoaiPhiLePhi: Flag = ""


class TepDinhKemKhac(National):
    TenGiayTo: Name = ""
    SoLuong: Digits = ""
    LoaiGiayTo: ShortText = ""


class HoSoBoSung(National):
    """One supplement request and its answer, with the old and the new appointment."""

    HoSoBoSungId: Ident = ""
    NguoiYeuCauBoSung: Ident = ""
    NoiDungBoSung: Note = ""
    NgayBoSung: Stamp = ""
    NguoiTiepNhanBoSung: Ident = ""
    ThongTinTiepNhan: Note = ""
    NgayTiepNhanBoSung: Stamp = ""
    TrangThaiBoSung: Flag = ""
    DanhSachGiayToBoSung: list[Any] | Note = Field(default_factory=list, max_length=100)
    DanhSachLePhiBoSung: list[LePhi] = Field(default_factory=list, max_length=20)
    NgayHenTraTruoc: Stamp = ""
    NgayHenTraMoi: Stamp = ""


class GiayToKetQua(National):
    """A result paper (giấy tờ kết quả)."""

    TenGiayTo: Name = ""
    MaThanhPhanHoSo: ShortText = ""
    GiayToId: Ident = ""
    DuongDanTepTinKetQua: Ref = ""


class DinhDanh(National):
    """An identity document of the applicant: 1 = 12-digit personal ID, 2 = 9-digit ID."""

    LoaiDinhDanh: Annotated[SafeStr, Field(max_length=2, pattern=r"^[0-9]{1,2}$")]
    SoDinhDanh: Annotated[SafeStr, Field(max_length=20, pattern=r"^[0-9]{1,20}$")]


class DvcqgDossier(National):
    """One dossier of ``DongBoHoSoMC`` (``data[]``), as the national portal receives it."""

    MaHoSo: Annotated[SafeStr, Field(max_length=64, pattern=r"^[0-9A-Za-z._-]+$")] = Field(
        description="Dossier code."
    )
    MaTTHC: Annotated[SafeStr, Field(max_length=32, pattern=r"^[0-9A-Za-z._-]+$")] = Field(
        description="Procedure code."
    )
    TenTTHC: Ref = ""
    MaLinhVuc: ShortText = ""
    TenLinhVuc: Name = ""
    KenhThucHien: Annotated[SafeStr, Field(max_length=1, pattern=r"^[1-3]?$")] = Field(
        default="", description="1 in person, 2 online, 3 public postal service."
    )
    ChuHoSo: Ident = ""
    LoaiDoiTuong: Annotated[SafeStr, Field(max_length=1, pattern=r"^[1-4]?$")] = Field(
        default="", description="1 citizen, 2 business, 3 state agency, 4 other."
    )
    MaDoiTuong: Ident = ""
    Email: Annotated[SafeStr, Field(max_length=254)] = ""
    SoDienThoai: Annotated[SafeStr, Field(max_length=32)] = ""
    TrichYeuHoSo: Annotated[SafeStr, Field(max_length=1000)] = ""
    NgayTiepNhan: Stamp = Field(description="Received, yyyyMMddHHmmss in Vietnam time.")
    NgayHenTra: Stamp = Field(default="", description="Appointment, yyyyMMddHHmmss.")
    TrangThaiHoSo: Annotated[SafeStr, Field(max_length=2, pattern=r"^(10|[1-9])$")] = Field(
        description="Status 1–10."
    )
    NgayTra: Stamp = ""
    ThongTinTra: Note = ""
    NgayKetThucXuLy: Stamp = ""
    GhiChu: Note = ""
    ThongTinKhac: Note = ""
    Fax: Annotated[SafeStr, Field(max_length=32)] = ""
    HinhThuc: Annotated[SafeStr, Field(max_length=1, pattern=r"^[01]?$")] = Field(
        default="", description="0 at the desk, 1 by post."
    )
    DonViXuLy: Name = ""
    MaDonVi: Annotated[SafeStr, Field(max_length=32, pattern=r"^[0-9A-Za-z.-]*$")] = Field(
        default="", description="Receiving unit, when it is not the agency part of MaHoSo."
    )
    TaiLieuNop: list[TaiLieu] = Field(default_factory=list, max_length=100)
    DanhSachLePhi: list[LePhi] = Field(default_factory=list, max_length=20)
    DanhSachTepDinhKemKhac: list[TepDinhKemKhac] = Field(default_factory=list, max_length=100)
    DanhSachHoSoBoSung: list[HoSoBoSung] = Field(default_factory=list, max_length=50)
    DanhSachGiayToKetQua: list[GiayToKetQua] = Field(default_factory=list, max_length=50)
    DinhDanhCHS: list[DinhDanh] = Field(default_factory=list, max_length=10)
    DuocThanhToanTrucTuyen: Flag = ""
    HoSoCoThanhPhanSoHoa: Flag = ""
    TaiKhoanDuocXacThucVoiVNeID: Flag = ""
    NgayTuChoi: Stamp = ""
    NgayNopHoSo: Stamp = ""


class DvcqgLookup(National):
    """``TraCuuHoSo``: does the portal know this dossier?"""

    service: ShortText = Field(examples=["TraCuuHoSo"])
    mahoso: ShortText = Field(examples=["000.01.01.H99-261122-0001"])


class DvcqgLookupReply(BaseModel):
    """``result`` holds the dossier (DongBoHoSoMC item shape) when known, else nothing."""

    error_code: str = Field(examples=["0"])
    message: str = Field(examples=["Thành công"])
    result: list[dict[str, Any]] = Field(default_factory=list)
