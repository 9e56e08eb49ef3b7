"""Intake's retention purge: set-based statements, one transaction per run.

* closed dossiers whose last event is older than the dossier retention lose their
  applicant (only ``kind`` stays), their documents' storage references and checksums,
  the free-text summary, what the national sync kept as sent beyond codes, names and
  dates, and the sync's history of changes; ``anonymised_at`` says when;
* stored idempotent answers older than their retention are deleted;
* the audit of personal-data access older than its retention is deleted.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.intake.domain.personal_data import CLOSED_STATUSES
from services.runtime.db import DbConn
from services.runtime.retention import count


@dataclass(frozen=True)
class IntakeRetention:
    dossier_days: int = 3650
    idempotency_days: int = 30
    audit_days: int = 1825
    batch: int = 1000


ANONYMISE = """
WITH due AS (
    SELECT d.id FROM dossiers d
    WHERE d.anonymised_at IS NULL AND d.status = ANY($1::smallint[]) AND d.received_at < $2
      AND NOT EXISTS (
          SELECT 1 FROM timeline t WHERE t.dossier_id = d.id AND t.occurred_at >= $2)
    ORDER BY d.received_at
    LIMIT $3
    FOR UPDATE SKIP LOCKED
)
UPDATE dossiers d SET
    applicant = jsonb_build_object('kind', d.applicant -> 'kind'),
    documents = COALESCE(
        (SELECT jsonb_agg(e - 'storage_ref' - 'checksum' - 'dvcqg' ORDER BY n)
         FROM jsonb_array_elements(d.documents) WITH ORDINALITY AS x(e, n)),
        '[]'::jsonb),
    request = jsonb_build_object('conditions', COALESCE(d.request -> 'conditions', '[]')),
    dvcqg = CASE WHEN d.dvcqg IS NULL THEN NULL ELSE (
        SELECT COALESCE(jsonb_object_agg(k, v), '{}'::jsonb) FROM jsonb_each(d.dvcqg) AS x(k, v)
        WHERE k = ANY($5::text[])) END,
    anonymised_at = $4
FROM due WHERE d.id = due.id
RETURNING d.id
"""
# What the national sync kept as sent that names no one: codes, names of things, dates,
# flags. Free text, fees, supplement history, result papers and unknown fields go.
DVCQG_KEPT = [
    "TenTTHC",
    "MaLinhVuc",
    "TenLinhVuc",
    "LoaiDoiTuong",
    "NgayTra",
    "NgayKetThucXuLy",
    "HinhThuc",
    "DonViXuLy",
    "MaDonVi",
    "DuocThanhToanTrucTuyen",
    "HoSoCoThanhPhanSoHoa",
    "TaiKhoanDuocXacThucVoiVNeID",
    "NgayTuChoi",
    "NgayNopHoSo",
]


async def purge(conn: DbConn, now: datetime, policy: IntakeRetention) -> dict[str, int]:
    anonymised = 0
    cutoff = now - timedelta(days=policy.dossier_days)
    while True:
        ids = [
            r["id"]
            for r in await conn.fetch(
                ANONYMISE,
                sorted(int(s) for s in CLOSED_STATUSES),
                cutoff,
                policy.batch,
                now,
                DVCQG_KEPT,
            )
        ]
        # The sync's history of changes holds the values of free-text fields: it goes too.
        await conn.execute("DELETE FROM dvcqg_revisions WHERE dossier_id = ANY($1::uuid[])", ids)
        done = len(ids)
        anonymised += done
        if done < policy.batch:
            break
    keys = count(
        await conn.execute(
            "DELETE FROM idempotency_keys WHERE created_at < $1",
            now - timedelta(days=policy.idempotency_days),
        )
    )
    audit = count(
        await conn.execute(
            "DELETE FROM personal_data_access WHERE at < $1",
            now - timedelta(days=policy.audit_days),
        )
    )
    return {"dossiers_anonymised": anonymised, "idempotency_keys": keys, "access_audit": audit}
