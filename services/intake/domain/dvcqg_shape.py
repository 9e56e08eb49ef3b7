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

import unicodedata
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


# ------------------------------------------------------------- the outbound sync (push)

SERVICE_DOSSIER = "DongBoHoSoMC"
SERVICE_STEP = "CapNhatTienDoHoSoMC"
SUCCESS_CODES = frozenset({"0", "00"})
ALREADY_THERE = "đã tồn tại"
STEP_ACTOR_MAX = 50
STEP_CONTENT_MAX = 1000
RECEIVED_STEP = "Tiếp nhận hồ sơ"
# After a step into one of these, the dossier itself is re-sent (isUpdating "True") with
# its end dates: the portal's own copy of the status and dates follows.
CLOSING = frozenset({S.NOT_ACCEPTED, S.DONE, S.RETURNED, S.WITHDRAWN, S.STOPPED})


def _with_reason(text: str, payload: Mapping[str, Any]) -> str:
    reason = payload.get("reason")
    return f"{text}: {reason}" if reason else text


def step_content(event_type: str, payload: Mapping[str, Any]) -> str:
    """What a routing event did, in the words of a processing step (NoiDungXuLy)."""
    if event_type == "step.assigned":
        return f"Chuyển xử lý: {payload.get('step_name') or payload.get('step_id', '')}"
    if event_type == "step.handed_off":
        if payload.get("to_unit"):
            return f"Hoàn thành bước, chuyển đơn vị {payload['to_unit']}"
        return "Hoàn thành bước xử lý cuối"
    if event_type == "step.claimed":
        return "Cán bộ nhận hồ sơ để xử lý"
    if event_type == "dossier.supplement_requested":
        missing = ", ".join(str(m) for m in payload.get("missing_documents") or [])
        return f"Yêu cầu bổ sung hồ sơ: {missing}" if missing else "Yêu cầu bổ sung hồ sơ"
    if event_type == "dossier.obligation_requested":
        return f"Yêu cầu thực hiện nghĩa vụ tài chính: {payload.get('amount_vnd', 0)} đồng"
    texts = {
        "dossier.processing_resumed": "Tiếp tục xử lý",
        "dossier.result_ready": "Có kết quả, chờ trả",
        "dossier.returned": "Đã trả kết quả",
        "dossier.refused": "Từ chối",
        "dossier.stopped": "Dừng xử lý",
        "dossier.withdrawn": "Công dân rút hồ sơ",
    }
    return _with_reason(texts.get(event_type, event_type), payload)


def step_facts(
    event_type: str, payload: Mapping[str, Any], status: int, at: datetime
) -> dict[str, Any]:
    """What the outbox keeps of one routing event (JSON): the step is built when sent."""
    return {
        "status": int(status),
        "at": at.isoformat(),
        "content": step_content(event_type, payload)[:STEP_CONTENT_MAX],
        "unit_code": payload.get("unit_code") or payload.get("from_unit") or "",
        "actor": payload.get("actor") or "",
        "event_type": event_type,
    }


def to_step(
    ma_ho_so: str, facts: Mapping[str, Any], unit_name: str, appointment_at: datetime
) -> dict[str, Any]:
    """One ``data[]`` item of ``CapNhatTienDoHoSoMC``."""
    at = datetime.fromisoformat(str(facts["at"]))
    actor = str(facts.get("actor") or "") or unit_name
    return {
        "MaHoSo": ma_ho_so,
        "NguoiXuLy": actor[:STEP_ACTOR_MAX],
        "ChucDanh": "Cán bộ xử lý" if facts.get("actor") else "",
        "ThoiDiemXuLy": to_stamp(at),
        "PhongBanXuLy": unit_name,
        "NoiDungXuLy": str(facts.get("content") or ""),
        "TrangThai": status_to_national(int(facts["status"])),
        "NgayBatDau": to_stamp(at),
        "NgayKetThucTheoQuyDinh": to_stamp(appointment_at),
    }


def with_end_dates(item: Mapping[str, Any], status: int, at: datetime) -> dict[str, Any]:
    """The item re-sent after a closing step: when processing ended, when it was returned."""
    out = dict(item)
    if S(status) is S.RETURNED:
        out["NgayTra"] = to_stamp(at)
        out["NgayKetThucXuLy"] = out.get("NgayKetThucXuLy") or to_stamp(at)
    else:
        out["NgayKetThucXuLy"] = to_stamp(at)
    return out


def call_body(
    service: str,
    session: str,
    madonvi: str,
    items: Sequence[Mapping[str, Any]],
    is_updating: bool | None = None,
) -> dict[str, Any]:
    body: dict[str, Any] = {"session": session, "madonvi": madonvi, "service": service}
    if is_updating is not None:
        body["isUpdating"] = "True" if is_updating else "False"
    body["data"] = [dict(i) for i in items]
    return body


@dataclass(frozen=True)
class Reply:
    accepted: bool
    message: str


def read_reply(service: str, reply: Any) -> Reply:
    """Success is ``error_code`` "0" or "00"; a dossier the portal already has ("đã tồn
    tại") is one it holds: the push succeeded and its steps follow."""
    if not isinstance(reply, Mapping):
        return Reply(False, "câu trả lời không phải JSON object")
    code = str(reply.get("error_code", "")).strip()
    message = unicodedata.normalize("NFC", str(reply.get("message") or ""))
    if code in SUCCESS_CODES:
        return Reply(True, message)
    if service == SERVICE_DOSSIER and ALREADY_THERE in message.casefold():
        return Reply(True, message)
    return Reply(False, f"error_code {code or '?'}: {message}"[:500])
