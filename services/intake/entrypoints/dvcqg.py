"""The national portal's sync shape (DVCQG) at intake: an iGate-style system pushes
dossiers (``POST /v1/dvcqg/DongBoHoSoMC``) and looks them up (``TraCuuHoSo``) as it
does with the national portal, and reads one back (``GET /v1/dvcqg/dossiers/{MaHoSo}``)
in the same shape."""

from __future__ import annotations

from typing import Annotated, Any

from fastapi import APIRouter, Path

from contracts.dvcqg import DvcqgDossier, DvcqgLookup, DvcqgLookupReply
from contracts.intake_api import DvcqgReply, DvcqgSync
from services.intake import sync
from services.intake.entrypoints.http import NOT_FOUND, UNAUTHORISED, UNAVAILABLE
from services.intake.entrypoints.security import ContextDep, PortalDep
from services.intake.sync import FAILED, OK
from services.runtime import clock
from services.runtime.problems import ProblemError

router = APIRouter(prefix="/v1/dvcqg", tags=["national portal sync"])
EXAMPLE: dict[str, Any] = {
    "service": "DongBoHoSoMC",
    "isUpdating": "False",
    "data": [
        {
            "MaHoSo": "000.01.01.H99-260303-9001",
            "MaTTHC": "1.001193",
            "TenTTHC": "Đăng ký khai sinh",
            "MaLinhVuc": "G09-HT",
            "TenLinhVuc": "Hộ tịch",
            "KenhThucHien": "2",
            "ChuHoSo": "Nguyễn Thị Lan",
            "LoaiDoiTuong": "1",
            "Email": "lan.nguyen@example.vn",
            "SoDienThoai": "0912345678",
            "TrichYeuHoSo": "Đăng ký khai sinh cho con",
            "NgayTiepNhan": "20260303083000",
            "NgayHenTra": "20260304083000",
            "TrangThaiHoSo": "1",
            "HinhThuc": "0",
            "DonViXuLy": "Ủy ban nhân dân xã Đông Lâm",
            "GhiChu": "",
            "ThongTinKhac": "",
            "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001190012345"}],
            "TaiLieuNop": [
                {
                    "TepDinhKemId": "tep-1",
                    "TenTepDinhKem": "Tờ khai đăng ký khai sinh",
                    "IsDeleted": "False",
                    "MaThanhPhanHoSo": "1.001193-TP01",
                    "DuongDanTaiTepTin": "s3://dossiers/tkks.pdf",
                },
                {
                    "TepDinhKemId": "tep-2",
                    "TenTepDinhKem": "Giấy chứng sinh",
                    "IsDeleted": "False",
                    "MaThanhPhanHoSo": "1.001193-TP02",
                    "DuongDanTaiTepTin": "s3://dossiers/gcs.pdf",
                },
            ],
        }
    ],
}


@router.post(
    "/DongBoHoSoMC",
    response_model=DvcqgReply,
    response_model_exclude_none=True,
    summary="Receive dossiers pushed in the DVCQG DongBoHoSoMC shape (iGate-compatible).",
    description=(
        'Answers like the national portal: `error_code` "0" when every dossier was taken,'
        ' else "-1"; one `result` entry per dossier (`MaHoSoTiepNhan` is our code; a refusal'
        " names the `field` and `value` at fault, in Vietnamese). A dossier keeps its"
        " `MaHoSo`, received time, appointment and status; one `MaHoSo` is one dossier"
        ' whichever portal sends it. A known `MaHoSo` sent as new is answered "Hồ sơ đã tồn'
        ' tại" with our code; `isUpdating: "True"` applies the update and keeps its history'
        " (`GET /v1/dvcqg/dossiers/{MaHoSo}/history`). Field by field: docs/DVCQG.md."
    ),
    responses={401: UNAUTHORISED, 503: UNAVAILABLE},
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def dong_bo_ho_so(body: DvcqgSync, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    if body.service != "DongBoHoSoMC":
        return {"error_code": FAILED, "message": f"Dịch vụ không hỗ trợ: {body.service}"}
    updating = body.isUpdating.strip().lower() == "true"
    unit = (body.model_extra or {}).get("madonvi")
    now = clock.now()
    results = [
        await sync.take(
            ctx, portal, item, updating=updating, envelope_unit=str(unit) if unit else None, now=now
        )
        for item in body.data
    ]
    failed = sum(r["error_code"] != OK for r in results)
    if failed:
        return {
            "error_code": FAILED,
            "message": f"{failed}/{len(results)} hồ sơ không đồng bộ được",
            "result": results,
        }
    return {"error_code": OK, "message": "Thành công", "result": results}


MaHoSoPath = Annotated[
    str,
    Path(
        max_length=64,
        pattern=r"^[0-9A-Za-z._-]+$",
        description="The dossier's national code (MaHoSo), or our code.",
        examples=["000.01.01.H99-260303-9001"],
    ),
]


@router.get(
    "/dossiers/{ma_ho_so}",
    response_model=DvcqgDossier,
    response_model_exclude_unset=True,
    summary="A dossier in the DongBoHoSoMC item shape, found by its MaHoSo.",
    description=(
        "What was pushed comes back as it was sent, except where docs/DVCQG.md names a"
        " transform (e.g. status 1 is 2 once received here, then moves on). Identity"
        " documents' file paths only for the portal that submitted the dossier."
    ),
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def get_dossier(ma_ho_so: MaHoSoPath, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    item = await sync.read_back(ctx, portal, ma_ho_so)
    if item is None:
        raise ProblemError(404, "Không tìm thấy hồ sơ", "No such dossier for this portal.")
    return item


@router.get(
    "/dossiers/{ma_ho_so}/history",
    summary="The updates the portals' re-sends applied: what changed, when, from which portal.",
    responses={401: UNAUTHORISED, 404: NOT_FOUND},
)
async def get_history(ma_ho_so: MaHoSoPath, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    found = await sync.history(ctx, portal, ma_ho_so)
    if found is None:
        raise ProblemError(404, "Không tìm thấy hồ sơ", "No such dossier for this portal.")
    return found


@router.post(
    "/TraCuuHoSo",
    response_model=DvcqgLookupReply,
    summary="The portal's look-up: a non-empty `result` means the dossier is known here.",
    responses={401: UNAUTHORISED},
)
async def tra_cuu_ho_so(body: DvcqgLookup, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    if body.service != "TraCuuHoSo":
        return {"error_code": FAILED, "message": f"Dịch vụ không hỗ trợ: {body.service}"}
    item = await sync.read_back(ctx, portal, body.mahoso) if body.mahoso else None
    if item is None:
        return {"error_code": OK, "message": "Không tìm thấy hồ sơ", "result": []}
    return {"error_code": OK, "message": "Thành công", "result": [item]}
