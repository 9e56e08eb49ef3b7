"""Inbound DVCQG sync (``DongBoHoSoMC``), pure: read one item, resolve its unit and its
papers against the reference data, decide what a new dossier or an update stores.

Every refusal is an :class:`ItemRefused` naming the field and the value at fault, in
Vietnamese; the entrypoint answers it in the portal's reply shape.
"""

from __future__ import annotations

import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from pydantic import ValidationError

from contracts.bounds import storable_text
from contracts.dvcqg import UNSTORABLE, DvcqgDossier, TaiLieu
from contracts.events import DossierStatus as S
from contracts.intake_api import SubmitDossier
from services.intake.domain.catalog import Catalog, ProcedureInfo, UnitInfo
from services.intake.domain.dvcqg_shape import (
    CITIZEN_ID_12,
    NEW_STATUSES,
    OWN_FIELDS,
    PERSONAL_FIELDS,
    Change,
    SyncDossier,
    changes,
    from_stamp,
    moves_forward,
    status_from_national,
    to_dongbo,
    to_stamp,
)
from services.intake.domain.personal_data import flag_documents
from services.intake.domain.status import status_name

TRUE_STRINGS = frozenset({"true", "1"})
# A clock a little ahead of ours is not a dossier from the future.
CLOCK_SKEW = timedelta(minutes=5)
# Personal values are not repeated in a refusal (it may be logged by the sender).
_MASKED = frozenset({*PERSONAL_FIELDS, "SoDinhDanh"})


class ItemRefused(Exception):
    """One dossier of the batch cannot be taken; names the field and the value."""

    def __init__(self, field: str, value: Any, reason: str, headline: str = "") -> None:
        self.field = field
        self.value = "" if value is None else str(value)
        self.reason = reason
        self.headline = headline  # what went wrong as a whole, said first when given
        super().__init__(self.message)

    @property
    def shown_value(self) -> str:
        last = self.field.rsplit(".", 1)[-1].split("[", 1)[0]
        return "***" if last in _MASKED and self.value else echo(self.value)

    @property
    def message(self) -> str:
        said = f"{self.field} '{self.shown_value}': {self.reason}"
        return f"{self.headline}: {said}" if self.headline else said


def echo(text: str, limit: int = 100) -> str:
    """A value as it may be repeated in an answer: printable escapes for what JSON in
    UTF-8 cannot carry (NUL, lone surrogates), cut at ``limit`` characters."""
    shown = text.encode("utf-8", "backslashreplace").decode("utf-8").replace("\x00", "\\x00")
    return shown if len(shown) <= limit else shown[:limit] + "…"


# --------------------------------------------------------------------------- reading

_REASONS = {
    "missing": "thiếu trường bắt buộc",
    "string_type": "phải là chuỗi ký tự",
    "list_type": "phải là một danh sách",
    "model_type": "phải là một đối tượng",
    "dict_type": "phải là một đối tượng",
    "string_pattern_mismatch": "không đúng định dạng",
    "too_long": "dài quá giới hạn",
    "string_too_long": "dài quá giới hạn",
    "string_too_short": "không được để trống",
    "too_short": "không được để trống",
}


def _path(loc: Sequence[int | str]) -> str:
    out = ""
    for part in loc:
        out += f"[{part}]" if isinstance(part, int) else (f".{part}" if out else str(part))
    return out


def _input_of(raw: Any, loc: Sequence[int | str]) -> Any:
    value = raw
    for part in loc:
        try:
            value = value[part]
        except (KeyError, IndexError, TypeError):
            return ""
    return value if isinstance(value, str | int | float) else json.dumps(value)[:100]


def _unstorable(value: str) -> bool:
    try:
        storable_text(value)
    except ValueError:
        return True
    return False


def _reason(error: Mapping[str, Any]) -> str:
    kind = str(error["type"])
    ctx = error.get("ctx") or {}
    if isinstance(error.get("input"), str) and _unstorable(error["input"]):
        return UNSTORABLE
    if kind == "value_error":
        return str(ctx.get("error", error["msg"]))
    reason = _REASONS.get(kind, "giá trị không hợp lệ")
    if "max_length" in ctx:
        reason += f" ({ctx['max_length']})"
    return reason


def _first_refusal(exc: ValidationError, raw: Any) -> ItemRefused:
    error = exc.errors()[0]
    loc = error["loc"]
    reason = _reason(error)
    if not loc and ": " in reason:  # a field the model does not name: "<field>: <reason>"
        name, reason = reason.split(": ", 1)
        return ItemRefused(name, _input_of(raw, (name,)), reason)
    return ItemRefused(_path(loc), _input_of(raw, loc), reason)


def read_item(raw: Any) -> DvcqgDossier:
    """One ``data[]`` entry as the model of the portal's item (``null`` = not sent)."""
    if not isinstance(raw, dict):
        raise ItemRefused("data[]", type(raw).__name__, "mỗi hồ sơ phải là một đối tượng JSON")
    sent = {k: v for k, v in raw.items() if v is not None}
    try:
        return DvcqgDossier.model_validate(sent)
    except ValidationError as exc:
        raise _first_refusal(exc, sent) from exc


def sent_fields(item: DvcqgDossier) -> dict[str, Any]:
    """What the portal sent, as JSON (unknown fields included), nothing it did not."""
    dumped: dict[str, Any] = item.model_dump(mode="json", exclude_unset=True)
    return dumped


# ---------------------------------------------------------------------- reference data


def resolve_unit(
    item: DvcqgDossier, envelope_unit: str | None, catalog: Catalog
) -> tuple[UnitInfo, str]:
    """The receiving unit and the field that named it: ``MaDonVi`` when sent, else the
    agency part of ``MaHoSo`` (``agency-YYMMDD-NNNN``), else the envelope's ``madonvi``;
    each must be a unit of the reference data."""
    if item.MaDonVi:
        unit = catalog.units.get(item.MaDonVi)
        if unit is None:
            raise ItemRefused("MaDonVi", item.MaDonVi, "đơn vị không có trong danh mục đơn vị")
        return unit, "MaDonVi"
    agency = item.MaHoSo.split("-", 1)[0]
    if (unit := catalog.units.get(agency)) is not None:
        return unit, "MaHoSo"
    if envelope_unit and (unit := catalog.units.get(envelope_unit)) is not None:
        return unit, "madonvi"
    also = f"; madonvi '{envelope_unit}' cũng không có" if envelope_unit else ""
    raise ItemRefused(
        "MaHoSo",
        item.MaHoSo,
        f"đơn vị tiếp nhận '{agency}' (phần đầu của mã hồ sơ) không có trong danh mục đơn vị"
        + also,
    )


def resolve_procedure(item: DvcqgDossier, unit: UnitInfo, catalog: Catalog) -> ProcedureInfo:
    procedure = catalog.procedures.get(item.MaTTHC)
    if procedure is None:
        raise ItemRefused("MaTTHC", item.MaTTHC, "thủ tục không có trong danh mục thủ tục")
    if unit.level not in procedure.active_levels:
        raise ItemRefused(
            "MaTTHC", item.MaTTHC, f"thủ tục không được tiếp nhận tại {unit.name} ({unit.code})"
        )
    return procedure


def document_code(procedure: ProcedureInfo, national: str) -> str:
    """Our document for a national component code (the procedure's table), our own code
    as it is, and any other code kept as sent (a paper beyond the required ones)."""
    return procedure.national_documents.get(national, national)


def _national_code_of(procedure: ProcedureInfo, type_code: str) -> str:
    codes = [n for n, ours in procedure.national_documents.items() if ours == type_code]
    return codes[0] if codes else type_code


def map_documents(procedure: ProcedureInfo, papers: Sequence[TaiLieu]) -> list[dict[str, Any]]:
    """The papers handed in (deleted ones are not), as intake stores them, each with its
    ``TaiLieuNop`` entry as sent."""
    out: list[dict[str, Any]] = []
    for i, paper in enumerate(papers):
        if paper.IsDeleted.lower() in TRUE_STRINGS:
            continue
        where = f"TaiLieuNop[{i}]"
        if not paper.MaThanhPhanHoSo:
            raise ItemRefused(f"{where}.MaThanhPhanHoSo", "", "thiếu mã thành phần hồ sơ")
        storage_ref = paper.DuongDanTaiTepTin or paper.TepDinhKemId
        if not storage_ref:
            raise ItemRefused(
                f"{where}.DuongDanTaiTepTin", "", "thiếu đường dẫn tệp (hoặc TepDinhKemId)"
            )
        type_code = document_code(procedure, paper.MaThanhPhanHoSo)
        name = paper.TenTepDinhKem or procedure.required_documents.get(type_code) or type_code
        sent = paper.model_dump(mode="json", exclude_unset=True)
        sent.pop("IsDeleted", None)
        out.append(
            {
                "type_code": type_code,
                "name": name,
                "checksum": None,
                "storage_ref": storage_ref,
                "dvcqg": sent,
            }
        )
    return flag_documents(out)


def missing_papers(procedure: ProcedureInfo, documents: Sequence[Mapping[str, Any]]) -> None:
    supplied = {d["type_code"] for d in documents}
    missing = [
        f"'{name}' (MaThanhPhanHoSo '{_national_code_of(procedure, code)}')"
        for code, name in procedure.required_documents.items()
        if code not in supplied
    ]
    if missing:
        raise ItemRefused(
            "TaiLieuNop",
            f"{len(supplied)} thành phần",
            "thiếu " + "; ".join(missing),
            headline="Hồ sơ chưa đầy đủ",
        )


# ------------------------------------------------------------------------- the dossier

_APPLICANT_FIELDS = {
    "applicant.full_name": "ChuHoSo",
    "applicant.citizen_id": "DinhDanhCHS",
    "applicant.phone": "SoDienThoai",
    "applicant.email": "Email",
    "applicant.kind": "LoaiDoiTuong",
    "summary": "TrichYeuHoSo",
    "channel": "KenhThucHien",
}


@dataclass(frozen=True)
class Incoming:
    """A valid item, resolved: what intake stores for it."""

    ma_ho_so: str
    unit: UnitInfo
    unit_field: str  # the field that named the unit: MaDonVi, MaHoSo or madonvi
    procedure: ProcedureInfo
    submission: SubmitDossier
    received_at: datetime
    # None: not sent; intake computes it from the received time like at a desk.
    appointment_at: datetime | None
    status: S
    national_status: int
    # The applicant as stored: the submission's, plus the identity documents and the
    # portal user id as sent.
    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    # What the portal sent that intake keeps as sent (not its own fields).
    national: dict[str, Any] = field(default_factory=dict)

    @property
    def unit_value(self) -> str:
        """The value of the field that named the unit (for a refusal about the unit)."""
        return self.ma_ho_so if self.unit_field == "MaHoSo" else self.unit.code


def _citizen_id(item: DvcqgDossier) -> str:
    ids = [x.SoDinhDanh for x in item.DinhDanhCHS if x.LoaiDinhDanh == CITIZEN_ID_12]
    return ids[0] if ids else ""


def _submission(item: DvcqgDossier, unit: UnitInfo, documents: list[dict[str, Any]]) -> Any:
    fees = [
        {"code": f.MaPhiLePhi or f.TenPhiLePhi or "LP", "amount_vnd": int(f.Gia or 0)}
        for f in item.DanhSachLePhi
    ]
    raw = {
        "procedure_code": item.MaTTHC,
        "receiving_unit": unit.code,
        "channel": int(item.KenhThucHien or "2"),
        "applicant": {
            "kind": "citizen" if item.LoaiDoiTuong in ("", "1") else "business",
            "full_name": item.ChuHoSo,
            "citizen_id": _citizen_id(item),
            "phone": item.SoDienThoai,
            "email": item.Email or None,
        },
        "documents": [
            {"type_code": d["type_code"], "name": d["name"], "storage_ref": d["storage_ref"]}
            for d in documents
        ],
        "fees": fees,
        "summary": item.TrichYeuHoSo,
    }
    try:
        return SubmitDossier.model_validate(raw)
    except ValidationError as exc:
        error = exc.errors()[0]
        ours = _path(error["loc"])
        theirs = _APPLICANT_FIELDS.get(ours)
        if theirs is None and ours.startswith("fees["):
            theirs = "DanhSachLePhi" + ours[4:].replace(".amount_vnd", ".Gia")
        if theirs is None and ours.startswith("documents["):
            theirs = "TaiLieuNop" + ours[9:]
        value = _input_of(raw, error["loc"])
        if theirs == "DinhDanhCHS" and not value:
            raise ItemRefused(
                "DinhDanhCHS", "", "thiếu số định danh cá nhân 12 chữ số (LoaiDinhDanh 1)"
            ) from exc
        raise ItemRefused(theirs or ours, value, _reason(error)) from exc


def incoming(
    item: DvcqgDossier, envelope_unit: str | None, catalog: Catalog, now: datetime
) -> Incoming:
    """Check one item against the reference data and the rules of a received dossier."""
    unit, unit_field = resolve_unit(item, envelope_unit, catalog)
    procedure = resolve_procedure(item, unit, catalog)
    if not item.NgayTiepNhan:
        raise ItemRefused("NgayTiepNhan", "", "thiếu thời điểm tiếp nhận")
    received_at = from_stamp(item.NgayTiepNhan)
    if received_at > now + CLOCK_SKEW:
        raise ItemRefused(
            "NgayTiepNhan", item.NgayTiepNhan, "thời điểm tiếp nhận ở tương lai (giờ Việt Nam)"
        )
    appointment_at = from_stamp(item.NgayHenTra) if item.NgayHenTra else None
    if appointment_at is not None and appointment_at < received_at:
        raise ItemRefused(
            "NgayHenTra",
            item.NgayHenTra,
            f"ngày hẹn trả trước thời điểm tiếp nhận {item.NgayTiepNhan}",
        )
    documents = map_documents(procedure, item.TaiLieuNop)
    missing_papers(procedure, documents)
    submission = _submission(item, unit, documents)
    applicant: dict[str, Any] = submission.applicant.model_dump(mode="json")
    applicant["identity_documents"] = [x.model_dump(mode="json") for x in item.DinhDanhCHS]
    if item.MaDoiTuong:
        applicant["portal_user_id"] = item.MaDoiTuong
    national = {k: v for k, v in sent_fields(item).items() if k not in OWN_FIELDS}
    return Incoming(
        ma_ho_so=item.MaHoSo,
        unit=unit,
        unit_field=unit_field,
        procedure=procedure,
        submission=submission,
        received_at=received_at,
        appointment_at=appointment_at,
        status=status_from_national(int(item.TrangThaiHoSo)),
        national_status=int(item.TrangThaiHoSo),
        applicant=applicant,
        documents=documents,
        national=national,
    )


def check_new(d: Incoming) -> None:
    """A dossier seen for the first time is received here and routed: it must still be
    in the units' hands."""
    if d.status not in NEW_STATUSES:
        raise ItemRefused(
            "TrangThaiHoSo",
            str(d.national_status),
            f"hồ sơ ở trạng thái «{status_name(d.status)}» đã kết thúc hoặc chưa được"
            " tiếp nhận; chỉ đồng bộ mới hồ sơ đang giải quyết (trạng thái 1, 2, 4, 5, 6)",
        )


# --------------------------------------------------------------------------- updates


def same_dossier(row: Mapping[str, Any], d: Incoming) -> None:
    """A known MaHoSo sent as new must be that dossier (same unit, procedure and received
    time), not another system's dossier that happens to carry the same number."""
    if (row["receiving_unit"], row["procedure_code"], to_stamp(row["received_at"])) != (
        d.unit.code,
        d.procedure.code,
        to_stamp(d.received_at),
    ):
        raise ItemRefused(
            "MaHoSo",
            d.ma_ho_so,
            f"mã hồ sơ đã dùng cho hồ sơ {row['code']} (thủ tục {row['procedure_code']},"
            f" tiếp nhận lúc {to_stamp(row['received_at'])}), khác hồ sơ này",
        )


@dataclass(frozen=True)
class Names:
    """Names from the reference data the item builder needs."""

    procedure_name: str
    field_code: str
    field_name: str
    unit_name: str


def names_of(catalog: Catalog, procedure_code: str, unit_code: str | None) -> Names:
    procedure = catalog.procedures.get(procedure_code)
    unit = catalog.units.get(unit_code or "")
    return Names(
        procedure_name=procedure.name if procedure else procedure_code,
        field_code=procedure.field_code if procedure else "",
        field_name=procedure.field_name if procedure else "",
        unit_name=unit.name if unit else (unit_code or ""),
    )


def sync_dossier(row: Mapping[str, Any], names: Names) -> SyncDossier:
    """A stored dossier (intake's row, JSON columns decoded) as the builder's input."""
    return SyncDossier(
        code=row["code"],
        ma_ho_so=row.get("external_code"),
        procedure_code=row["procedure_code"],
        procedure_name=names.procedure_name,
        field_code=names.field_code,
        field_name=names.field_name,
        channel=int(row["channel"]),
        applicant=row["applicant"],
        summary=str((row["request"] or {}).get("summary") or ""),
        received_at=row["received_at"],
        appointment_at=row["appointment_at"],
        status=int(row["status"]),
        unit_name=names.unit_name,
        documents=row["documents"],
        fees=row["fees"],
        national=row.get("dvcqg") or {},
    )


@dataclass(frozen=True)
class Update:
    """What an ``isUpdating: "True"`` re-send changes on a known dossier."""

    applicant: dict[str, Any]
    documents: list[dict[str, Any]]
    fees: list[dict[str, Any]]
    summary: str
    channel: int
    appointment_at: datetime
    status: int
    national: dict[str, Any]
    changes: list[Change]
    # The portal's status when it was not applied (it would move the dossier back).
    status_kept: int | None = None

    def recorded(self) -> list[dict[str, Any]]:
        return [c.recorded() for c in self.changes]


def plan_update(row: Mapping[str, Any], d: Incoming, names: Names) -> Update:
    """Apply a re-send to a stored dossier: identity fields may not change; the status
    only moves forward; everything else is replaced by what was sent."""
    if d.unit.code != row["receiving_unit"]:
        raise ItemRefused(
            d.unit_field,
            d.unit_value,
            "đơn vị tiếp nhận không được thay đổi"
            f" (hồ sơ đã tiếp nhận tại {row['receiving_unit']})",
        )
    if d.procedure.code != row["procedure_code"]:
        raise ItemRefused(
            "MaTTHC",
            d.procedure.code,
            f"thủ tục không được thay đổi (hồ sơ thuộc thủ tục {row['procedure_code']})",
        )
    # Compared as the portal writes it (to the second): a dossier received here has more.
    if to_stamp(d.received_at) != to_stamp(row["received_at"]):
        raise ItemRefused(
            "NgayTiepNhan",
            to_stamp(d.received_at),
            "thời điểm tiếp nhận không được thay đổi"
            f" (đã tiếp nhận lúc {to_stamp(row['received_at'])})",
        )
    current = int(row["status"])
    status, kept = current, None
    if int(d.status) != current:
        if moves_forward(current, int(d.status)):
            status = int(d.status)
        else:
            kept = int(d.status)
    appointment_at = d.appointment_at or row["appointment_at"]
    # Papers the citizen brought here as a supplement stay; the rest is what was sent.
    documents = [*d.documents, *(x for x in row["documents"] if x.get("supplement"))]
    fees = [f.model_dump(mode="json") for f in d.submission.fees]
    before = to_dongbo(sync_dossier(row, names))
    after_row = {
        **row,
        "applicant": d.applicant,
        "documents": documents,
        "fees": fees,
        "request": {**(row["request"] or {}), "summary": d.submission.summary},
        "channel": int(d.submission.channel),
        "appointment_at": appointment_at,
        "status": status,
        "dvcqg": d.national,
    }
    after = to_dongbo(sync_dossier(after_row, names))
    return Update(
        applicant=d.applicant,
        documents=documents,
        fees=fees,
        summary=d.submission.summary,
        channel=int(d.submission.channel),
        appointment_at=appointment_at,
        status=status,
        national=d.national,
        changes=changes(before, after),
        status_kept=kept,
    )


def kept_status_note(update: Update, current: int) -> str:
    if update.status_kept is None:
        return ""
    return (
        f"; TrangThaiHoSo '{update.status_kept}' không áp dụng: trạng thái chỉ đi tiếp,"
        f" hồ sơ đang «{status_name(current)}» ({current})"
    )
