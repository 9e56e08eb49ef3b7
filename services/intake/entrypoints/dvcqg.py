"""``POST /v1/dvcqg/DongBoHoSoMC``: an iGate-style system pushes dossiers to us in the
national portal's sync shape, and gets the portal's kind of answer."""

from __future__ import annotations

from typing import Any

from fastapi import APIRouter

from contracts.intake_api import DvcqgReply, DvcqgSync
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.domain.dvcqg import DvcqgItemError, from_dongbo
from services.intake.entrypoints.http import UNAUTHORISED, submit_for_portal
from services.intake.entrypoints.security import ContextDep, PortalDep
from services.intake.handlers import IntakeContext
from services.runtime.problems import ProblemError

router = APIRouter(prefix="/v1/dvcqg", tags=["national portal sync"])
OK, FAILED = "0", "-1"
EXAMPLE: dict[str, Any] = {
    "service": "DongBoHoSoMC",
    "isUpdating": "False",
    "data": [
        {
            "MaHoSo": "000.01.01.H99-261122-9001",
            "MaTTHC": "1.001193",
            "TenTTHC": "Đăng ký khai sinh",
            "MaLinhVuc": "ho_tich",
            "TenLinhVuc": "Hộ tịch",
            "KenhThucHien": "2",
            "ChuHoSo": "Nguyễn Thị Lan",
            "LoaiDoiTuong": "1",
            "Email": "lan.nguyen@example.vn",
            "SoDienThoai": "0912345678",
            "TrichYeuHoSo": "Đăng ký khai sinh cho con",
            "NgayTiepNhan": "20261122083000",
            "NgayHenTra": "20261123083000",
            "TrangThaiHoSo": "1",
            "HinhThuc": "0",
            "DonViXuLy": "Ủy ban nhân dân xã Đông Lâm",
            "DinhDanhCHS": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001190012345"}],
            "TaiLieuNop": [
                {
                    "TepDinhKemId": "1",
                    "TenTepDinhKem": "Tờ khai đăng ký khai sinh",
                    "IsDeleted": "False",
                    "MaThanhPhanHoSo": "TK_KS",
                    "DuongDanTaiTepTin": "s3://dossiers/tkks.pdf",
                },
                {
                    "TepDinhKemId": "2",
                    "TenTepDinhKem": "Giấy chứng sinh",
                    "IsDeleted": "False",
                    "MaThanhPhanHoSo": "GCS",
                    "DuongDanTaiTepTin": "s3://dossiers/gcs.pdf",
                },
            ],
        }
    ],
}


async def _take_one(
    ctx: IntakeContext, portal: Portal, item: dict[str, Any], updating: bool, unit: str | None
) -> dict[str, Any]:
    code = str(item.get("MaHoSo") or "")
    try:
        incoming = from_dongbo(item, unit)
    except DvcqgItemError as exc:
        return {"MaHoSo": code, "error_code": FAILED, "message": str(exc)}
    async with ctx.runtime.pool.acquire() as conn:
        existing = await repo.find_by_external_code(conn, portal.id, incoming.external_code)
    if existing is not None:
        if not updating:
            return {"MaHoSo": code, "error_code": FAILED, "message": "Hồ sơ đã tồn tại"}
        return {
            "MaHoSo": code,
            "error_code": OK,
            "message": "Hồ sơ đã có; dữ liệu đã tiếp nhận không thay đổi",
            "MaHoSoTiepNhan": existing["code"],
        }
    try:
        _, receipt = await submit_for_portal(
            ctx, portal, incoming.submission, f"dvcqg:{code}", external_code=code
        )
    except ProblemError as refused:
        missing = refused.extra.get("missing_documents") or []
        names = "; ".join(m["name"] for m in missing)
        return {
            "MaHoSo": code,
            "error_code": FAILED,
            "message": f"{refused.title}: {names}" if names else refused.title,
        }
    return {
        "MaHoSo": code,
        "error_code": OK,
        "message": "Tiếp nhận thành công",
        "MaHoSoTiepNhan": receipt["code"],
    }


@router.post(
    "/DongBoHoSoMC",
    response_model=DvcqgReply,
    summary="Receive dossiers pushed in the DVCQG DongBoHoSoMC shape (iGate-compatible).",
    description=(
        'Answers like the national portal: `error_code` "0" when every dossier was taken,'
        ' else "-1" with one `result` entry per dossier (`MaHoSoTiepNhan` is our code).'
        ' Re-sending a known `MaHoSo` needs `isUpdating: "True"`.'
    ),
    responses={401: UNAUTHORISED},
    openapi_extra={"requestBody": {"content": {"application/json": {"example": EXAMPLE}}}},
)
async def dong_bo_ho_so(body: DvcqgSync, ctx: ContextDep, portal: PortalDep) -> dict[str, Any]:
    if body.service != "DongBoHoSoMC":
        return {"error_code": FAILED, "message": f"Dịch vụ không hỗ trợ: {body.service}"}
    updating = body.isUpdating.strip().lower() == "true"
    unit = (body.model_extra or {}).get("madonvi")
    results = [
        await _take_one(ctx, portal, item, updating, str(unit) if unit else None)
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
