"""The national portal's (DVCQG) ``DongBoHoSoMC`` item built from a dossier, and the
status codes both ways; pure, shared by the inbound sync and the outbound pusher.

All values are strings; dates are ``yyyyMMddHHmmss`` in Asia/Ho_Chi_Minh whatever the
server's own zone. A dossier that came in through the sync keeps what the portal sent
(``national``: field code and name, processing agency, fees, supplement history, result
papers, notes, fields this code does not name); what intake holds itself (code, dates,
status, applicant, papers) is always taken from intake's own columns. The table of which
field comes from where, and what changes on the way, is ``docs/DVCQG.md``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from contracts.dvcqg import STAMP_FORMAT, parse_stamp
from contracts.events import DossierStatus as S
from contracts.vietnam import VN_TZ

CITIZEN_ID_12 = "1"  # LoaiDinhDanh: 1 = 12-digit personal ID, 2 = 9-digit ID
NOT_DELETED = "False"

# Fields the builder always takes from intake's own data, never from what was sent:
# the portal's copy of them is what was checked and stored in intake's columns.
OWN_FIELDS = frozenset(
    {
        "MaHoSo",
        "MaTTHC",
        "KenhThucHien",
        "ChuHoSo",
        "MaDoiTuong",
        "Email",
        "SoDienThoai",
        "TrichYeuHoSo",
        "NgayTiepNhan",
        "NgayHenTra",
        "TrangThaiHoSo",
        "DinhDanhCHS",
        "TaiLieuNop",
    }
)
# Fields naming or reaching a person: a history of changes says that they changed, not
# what they were (the current value is in the applicant, which the retention erases).
PERSONAL_FIELDS = frozenset({"ChuHoSo", "MaDoiTuong", "Email", "SoDienThoai", "DinhDanhCHS"})


def to_stamp(moment: datetime | None) -> str:
    return moment.astimezone(VN_TZ).strftime(STAMP_FORMAT) if moment is not None else ""


def from_stamp(text: str) -> datetime:
    """The instant a ``yyyyMMddHHmmss`` Vietnam-time stamp names (ValueError otherwise)."""
    return parse_stamp(text)


# ---------------------------------------------------------------------------- statuses


# The national codes are intake's (DOMAIN.md); a dossier the portal still calls "Mới
# đăng ký" (1) is received the moment intake takes it, so it is 2 here.
def status_from_national(code: int) -> S:
    status = S(code)
    return S.RECEIVED if status is S.SUBMITTED else status


def status_to_national(status: int) -> str:
    """Sent as they are: 5, 6 and 8 are not flattened to 9 (the open clients' mistake)."""
    return str(S(status).value)


WORKING = frozenset({S.PROCESSING, S.SUPPLEMENT_REQUESTED, S.FINANCIAL_OBLIGATION})
ENDED = frozenset({S.NOT_ACCEPTED, S.WITHDRAWN, S.STOPPED, S.RETURNED})
# Where a dossier may go from each status: forward, or between the statuses of work in
# progress (processing ↔ waiting for a supplement or a payment). Ended is final.
FORWARD: Mapping[S, frozenset[S]] = {
    S.SUBMITTED: frozenset(S) - {S.SUBMITTED},
    S.RECEIVED: frozenset(S) - {S.SUBMITTED, S.RECEIVED},
    **{w: (WORKING | {S.WITHDRAWN, S.STOPPED, S.DONE, S.RETURNED}) - {w} for w in WORKING},
    S.DONE: frozenset({S.RETURNED}),
    **{e: frozenset() for e in ENDED},
}
# A dossier the sync brings in for the first time is received here and routed: it must
# still be in the hands of the units.
NEW_STATUSES = frozenset({S.RECEIVED}) | WORKING


def moves_forward(current: int, new: int) -> bool:
    return S(new) in FORWARD[S(current)]


def reachable_from(new: int) -> list[int]:
    """The statuses from which a dossier may take ``new`` (itself included)."""
    if new not in S._value2member_map_:
        return [int(new)]
    return sorted({int(new)} | {int(c) for c, nexts in FORWARD.items() if S(new) in nexts})


# ------------------------------------------------------------------------ the builder


@dataclass(frozen=True)
class SyncDossier:
    """What the builder needs of one dossier: intake's row, names from the reference
    data, and what the portal sent (empty for a dossier received over REST)."""

    code: str
    procedure_code: str
    procedure_name: str
    field_code: str
    field_name: str
    channel: int
    applicant: Mapping[str, Any]
    summary: str
    received_at: datetime
    appointment_at: datetime
    status: int
    unit_name: str
    # The national code of the dossier when it came from elsewhere (else ``code``).
    ma_ho_so: str | None = None
    # Stored documents: type_code, name, storage_ref (None when withheld or erased) and,
    # for synced papers, ``dvcqg`` (the TaiLieuNop entry as sent).
    documents: Sequence[Mapping[str, Any]] = field(default_factory=list)
    fees: Sequence[Mapping[str, Any]] = field(default_factory=list)
    national: Mapping[str, Any] = field(default_factory=dict)
    ended_at: datetime | None = None
    returned_at: datetime | None = None


def tai_lieu(doc: Mapping[str, Any]) -> dict[str, Any]:
    """A stored paper as a ``TaiLieuNop`` entry (as sent, when it came through the sync)."""
    storage_ref = doc.get("storage_ref")
    sent: Mapping[str, Any] = doc.get("dvcqg") or {}
    entry: dict[str, Any] = {
        "TepDinhKemId": storage_ref or "",
        "TenTepDinhKem": doc.get("name", ""),
        "IsDeleted": NOT_DELETED,
        "MaThanhPhanHoSo": doc.get("type_code", ""),
        "DuongDanTaiTepTin": storage_ref or "",
        **sent,
    }
    if not storage_ref:  # withheld from this reader, or erased at the end of its retention
        entry["DuongDanTaiTepTin"] = ""
        if not sent:
            entry["TepDinhKemId"] = ""
    return entry


def dinh_danh(applicant: Mapping[str, Any]) -> list[dict[str, Any]]:
    sent = applicant.get("identity_documents")
    if isinstance(sent, list):
        return [dict(x) for x in sent]
    citizen_id = applicant.get("citizen_id")
    return [{"LoaiDinhDanh": CITIZEN_ID_12, "SoDinhDanh": citizen_id}] if citizen_id else []


def le_phi(fee: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "TenPhiLePhi": fee.get("code", ""),
        "MaPhiLePhi": fee.get("code", ""),
        "HinhThucThu": "",
        "Gia": str(fee.get("amount_vnd", 0)),
        "LoaiPhiLePhi": "1",
    }


def to_dongbo(d: SyncDossier) -> dict[str, Any]:
    """The dossier as one ``data[]`` item of ``DongBoHoSoMC``."""
    applicant = d.applicant
    sent = {k: v for k, v in d.national.items() if k not in OWN_FIELDS}
    item: dict[str, Any] = {
        "TenTTHC": d.procedure_name,
        "MaLinhVuc": d.field_code,
        "TenLinhVuc": d.field_name or d.field_code,
        "LoaiDoiTuong": "2" if applicant.get("kind") == "business" else "1",
        "NgayKetThucXuLy": to_stamp(d.ended_at),
        "NgayTra": to_stamp(d.returned_at),
        "HinhThuc": "0",
        "DonViXuLy": d.unit_name,
        "DanhSachLePhi": [le_phi(f) for f in d.fees],
        **sent,
        "MaHoSo": d.ma_ho_so or d.code,
        "MaTTHC": d.procedure_code,
        "KenhThucHien": str(d.channel),
        "ChuHoSo": applicant.get("full_name", ""),
        "MaDoiTuong": applicant.get("portal_user_id", ""),
        "Email": applicant.get("email") or "",
        "SoDienThoai": applicant.get("phone", ""),
        "TrichYeuHoSo": (d.summary or d.procedure_name)[:1000],
        "NgayTiepNhan": to_stamp(d.received_at),
        "NgayHenTra": to_stamp(d.appointment_at),
        "TrangThaiHoSo": status_to_national(d.status),
        "DinhDanhCHS": dinh_danh(applicant),
        "TaiLieuNop": [tai_lieu(doc) for doc in d.documents],
    }
    return item


@dataclass(frozen=True)
class Change:
    """One field of the item that an update changed (values kept unless personal)."""

    field: str
    before: Any
    after: Any

    def recorded(self) -> dict[str, Any]:
        if self.field in PERSONAL_FIELDS:
            return {"field": self.field, "changed": True}
        return {"field": self.field, "before": self.before, "after": self.after}


def changes(before: Mapping[str, Any], after: Mapping[str, Any]) -> list[Change]:
    """What differs between two items, field by field, in the portal's names."""
    return [
        Change(name, before.get(name), after.get(name))
        for name in sorted(set(before) | set(after))
        if before.get(name) != after.get(name)
    ]
