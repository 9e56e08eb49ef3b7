"""The national portal sync's storage against real PostgreSQL with intake's migrations: a
synced dossier loses, at the end of its retention, what the sync kept that may name
someone (notes, supplement history, file paths, the history of changes) and keeps its
codes and dates; the migration makes one dossier of each MaHoSo."""

from __future__ import annotations

import json
import secrets
import shutil
from datetime import timedelta
from pathlib import Path
from uuid import uuid4

import asyncpg
import pytest

from services.intake.adapters.retention import IntakeRetention
from services.intake.adapters.retention import purge as intake_purge
from services.runtime.db import migrate
from tests.conftest import unique_prefix
from tests.integration.test_personal_data_store import (
    NOW,
    intake_conn,
    one,
    schemas,
)
from tests.support.infra import REPO, Infra

__all__ = ["schemas"]  # the module-scoped fixture, shared with the record's tests
pytestmark = pytest.mark.integration

APPLICANT = {
    "kind": "citizen",
    "full_name": "Lê Thị Hoa",
    "citizen_id": "001190077777",
    "phone": "0911222333",
    "email": None,
    "identity_documents": [{"LoaiDinhDanh": "1", "SoDinhDanh": "001190077777"}],
    "portal_user_id": "dvcqg-user-77",
}
SENT_PAPER = {
    "TepDinhKemId": "tep-77",
    "TenTepDinhKem": "Tờ khai",
    "MaThanhPhanHoSo": "1.001193-TP01",
    "DuongDanTaiTepTin": "s3://igate/le-thi-hoa/tk.pdf",
}
NATIONAL = {
    "MaLinhVuc": "G09-HT01",
    "TenLinhVuc": "Hộ tịch",
    "DonViXuLy": "UBND xã Đông Lâm",
    "NgayKetThucXuLy": "20260110090000",
    "GhiChu": "Bà Lê Thị Hoa nhận thay",
    "DanhSachHoSoBoSung": [{"NguoiYeuCauBoSung": "Nguyễn Văn Tư", "NoiDungBoSung": "x"}],
    "DanhSachGiayToKetQua": [{"DuongDanTepTinKetQua": "s3://ket-qua/le-thi-hoa.pdf"}],
    "MaHoSoLienThong": "LT-77",
}


async def test_a_synced_dossier_past_retention_keeps_only_codes_names_and_dates(
    infra: Infra, schemas: dict[str, str]
) -> None:
    conn = await intake_conn(infra, schemas)
    try:
        dossier_id, long_ago = uuid4(), NOW - timedelta(days=3651)
        await conn.execute(
            "INSERT INTO dossiers (id, code, agency_code, procedure_code, field_code,"
            " receiving_unit, channel, applicant, documents, fees, request, received_at,"
            " clock_started_at, appointment_at, status, portal_id, contact_ref, external_code,"
            " dvcqg) VALUES ($1, $2, 'A', '1.001193', 'ho_tich', '000.01.01.H99', 2, $3::jsonb,"
            ' $4::jsonb, \'[]\', \'{"summary": "", "conditions": []}\', $5, $5, $5, 10,'
            " 'dev', $6, $7, $8::jsonb)",
            dossier_id,
            f"T-{dossier_id}",
            json.dumps(APPLICANT),
            json.dumps(
                [
                    {
                        "type_code": "TK_KS",
                        "name": "Tờ khai",
                        "checksum": None,
                        "storage_ref": SENT_PAPER["DuongDanTaiTepTin"],
                        "sensitive": False,
                        "dvcqg": SENT_PAPER,
                    }
                ]
            ),
            long_ago,
            secrets.token_urlsafe(16),
            f"000.01.01.H99-250101-{secrets.randbelow(9000) + 1000}",
            json.dumps(NATIONAL, ensure_ascii=False),
        )
        await conn.execute(
            "INSERT INTO dvcqg_revisions (dossier_id, at, portal_id, changes)"
            " VALUES ($1, $2, 'dev', $3::jsonb)",
            dossier_id,
            long_ago,
            json.dumps([{"field": "GhiChu", "before": "", "after": NATIONAL["GhiChu"]}]),
        )

        await intake_purge(conn, NOW, IntakeRetention(dossier_days=3650))

        row = await one(conn, "SELECT * FROM dossiers WHERE id = $1", dossier_id)
        assert json.loads(row["dvcqg"]) == {
            "MaLinhVuc": "G09-HT01",
            "TenLinhVuc": "Hộ tịch",
            "DonViXuLy": "UBND xã Đông Lâm",
            "NgayKetThucXuLy": "20260110090000",
        }
        assert json.loads(row["documents"]) == [
            {"type_code": "TK_KS", "name": "Tờ khai", "sensitive": False}
        ]
        assert json.loads(row["applicant"]) == {"kind": "citizen"}
        assert row["external_code"] is not None  # the dossier is still found by its code
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM dvcqg_revisions WHERE dossier_id = $1", dossier_id
            )
            == 0
        )
        text = json.dumps(dict(row), default=str, ensure_ascii=False)
        for trace in ("Lê Thị Hoa", "Nguyễn Văn Tư", "le-thi-hoa", "001190077777", "dvcqg-user"):
            assert trace not in text
    finally:
        await conn.close()


async def test_the_migration_makes_one_dossier_of_each_ma_ho_so_sent_by_several_portals(
    infra: Infra, tmp_path: Path
) -> None:
    """Before, each portal had its own copy of a MaHoSo: the earliest keeps the code, the
    later copies stay dossiers found by our code, their timeline saying which it was."""
    migrations = REPO / "services" / "intake" / "migrations"
    before = tmp_path / "intake" / "migrations"
    before.mkdir(parents=True)
    for file in sorted(migrations.glob("*.sql")):
        if file.name < "004":
            shutil.copy(file, before / file.name)
    schema = unique_prefix() + "intake"
    conn = await asyncpg.connect(infra.database_url)
    try:
        await migrate(conn, schema, before)
        ids = [uuid4(), uuid4()]
        for n, (dossier_id, portal) in enumerate(zip(ids, ("igate", "desk"), strict=True)):
            await conn.execute(
                f"INSERT INTO {schema}.dossiers (id, code, agency_code, procedure_code,"
                " field_code, receiving_unit, channel, applicant, documents, fees, request,"
                " received_at, clock_started_at, appointment_at, status, portal_id,"
                " contact_ref, external_code) VALUES ($1, $2, 'A', '1.001193', 'ho_tich',"
                " '000.01.01.H99', 2, '{}', '[]', '[]', '{}', $3, $3, $3, 2, $4, $5,"
                " '000.01.01.H99-250101-0001')",
                dossier_id,
                f"000.01.01.H99-250101-000{n + 2}",
                NOW - timedelta(days=10 - n),
                portal,
                secrets.token_urlsafe(16),
            )
        await migrate(conn, schema, migrations)
        rows = await conn.fetch(
            f"SELECT id, external_code FROM {schema}.dossiers ORDER BY received_at"
        )
        assert [r["external_code"] for r in rows] == ["000.01.01.H99-250101-0001", None]
        detached = await conn.fetchrow(
            f"SELECT dossier_id, details FROM {schema}.timeline"
            " WHERE event_type = 'dvcqg.duplicate_detached'"
        )
        assert detached is not None and detached["dossier_id"] == ids[1]
        assert json.loads(detached["details"]) == {"ma_ho_so": "000.01.01.H99-250101-0001"}
        # From now on the code names one dossier only.
        with pytest.raises(asyncpg.UniqueViolationError):
            await conn.execute(
                f"UPDATE {schema}.dossiers SET external_code = '000.01.01.H99-250101-0001'"
                " WHERE id = $1",
                ids[1],
            )
    finally:
        await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()
