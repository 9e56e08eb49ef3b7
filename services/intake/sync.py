"""National portal sync (DVCQG) use cases: take one pushed dossier (new, re-sent, or an
update), and read one back in the portal's shape.

One ``MaHoSo`` is one dossier in the province: it is looked up across every portal
before anything is stored, and the unique index on it settles two portals racing.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from services.intake.adapters import personal_data as audit
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.domain import dvcqg
from services.intake.domain.dvcqg import Incoming, ItemRefused
from services.intake.domain.dvcqg_shape import to_dongbo, to_stamp
from services.intake.domain.personal_data import documents_for
from services.intake.domain.rules import SubmissionRefused
from services.intake.handlers import IntakeContext, SyncArrival, submit_dossier
from services.runtime.data_access import note_reads
from services.runtime.problems import ProblemError

OK, FAILED = "0", "-1"
EXISTS = "Hồ sơ đã tồn tại"


def answer(code: str, message: str, ours: str | None = None) -> dict[str, Any]:
    return {"MaHoSo": code, "error_code": OK, "message": message, "MaHoSoTiepNhan": ours}


def refusal(
    code: str, refused: ItemRefused, ours: str | None = None, message: str | None = None
) -> dict[str, Any]:
    return {
        "MaHoSo": code,
        "error_code": FAILED,
        "message": message or refused.message,
        "MaHoSoTiepNhan": ours,
        "field": refused.field,
        "value": refused.shown_value,
    }


def caller_of(portal: Portal) -> str:
    return portal.id if portal.id.startswith("service:") else f"portal:{portal.id}"


async def take(
    ctx: IntakeContext,
    portal: Portal,
    raw: Any,
    *,
    updating: bool,
    envelope_unit: str | None,
    now: datetime,
) -> dict[str, Any]:
    """One ``data[]`` item of ``DongBoHoSoMC``: its answer in the portal's shape."""
    code = dvcqg.echo(str(raw.get("MaHoSo") or "")) if isinstance(raw, dict) else ""
    try:
        item = dvcqg.read_item(raw)
        d = dvcqg.incoming(item, envelope_unit, ctx.catalog, now)
        if not portal.may_act_for(d.unit.code):
            raise ItemRefused(
                d.unit_field,
                d.unit_value,
                f"cổng không được phép gửi hồ sơ cho đơn vị {d.unit.code} ({d.unit.name})",
            )
    except ItemRefused as refused:
        return refusal(code, refused)
    async with ctx.runtime.pool.acquire() as conn:
        known = await repo.find_by_ma_ho_so(conn, d.ma_ho_so)
    if known is not None:
        return await _known(ctx, portal, known, d, updating=updating, now=now)
    try:
        dvcqg.check_new(d)
    except ItemRefused as refused:
        return refusal(code, refused)
    arrival = SyncArrival(
        received_at=d.received_at,
        appointment_at=d.appointment_at,
        status=d.status,
        applicant=d.applicant,
        documents=d.documents,
        national=d.national,
    )
    try:
        _, receipt = await submit_dossier(
            ctx,
            d.submission,
            portal_id=portal.id,
            idempotency_key=f"dvcqg:{d.ma_ho_so}",
            now=now,
            external_code=d.ma_ho_so,
            sync=arrival,
        )
    except SubmissionRefused as refused:  # what is left to check: a chain's choices
        return refusal(code, ItemRefused("MaTTHC", d.procedure.code, _refused_text(refused, d)))
    except ProblemError as problem:
        if problem.status == 409:  # the same MaHoSo, another body, at the same moment
            return await _after_race(ctx, portal, d, updating=updating, now=now)
        if problem.status >= 500:  # overloaded or unreachable: the whole push is 503
            raise
        return refusal(code, ItemRefused("MaHoSo", d.ma_ho_so, problem.title))
    except Exception as exc:
        if repo.is_ma_ho_so_taken(exc):  # another portal stored it first
            return await _after_race(ctx, portal, d, updating=updating, now=now)
        raise
    return answer(code, "Tiếp nhận thành công", receipt["code"])


def _refused_text(refused: SubmissionRefused, d: Incoming) -> str:
    if d.procedure.chain is not None:
        return f"{refused.title}: hồ sơ đồng bộ không mang lựa chọn thủ tục liên thông"
    return refused.title


async def _after_race(
    ctx: IntakeContext, portal: Portal, d: Incoming, *, updating: bool, now: datetime
) -> dict[str, Any]:
    async with ctx.runtime.pool.acquire() as conn:
        known = await repo.find_by_ma_ho_so(conn, d.ma_ho_so)
    if known is None:  # the other one rolled back after all: the sender retries
        return refusal(d.ma_ho_so, ItemRefused("MaHoSo", d.ma_ho_so, "đang được xử lý, gửi lại"))
    return await _known(ctx, portal, known, d, updating=updating, now=now)


async def _known(
    ctx: IntakeContext,
    portal: Portal,
    known: dict[str, Any],
    d: Incoming,
    *,
    updating: bool,
    now: datetime,
) -> dict[str, Any]:
    """A MaHoSo intake has: our code back for a re-send as new, the update applied for
    ``isUpdating: "True"``; from any portal allowed at the dossier's unit."""
    code = d.ma_ho_so
    if not portal.may_act_for(known["receiving_unit"]):
        return refusal(
            code,
            ItemRefused("MaHoSo", code, "mã hồ sơ đã thuộc một hồ sơ cổng này không được truy cập"),
        )
    if not updating:
        try:
            dvcqg.same_dossier(known, d)
        except ItemRefused as refused:
            return refusal(code, refused)
        # The portal's own answer, so clients re-send as an update; with our code.
        return refusal(code, ItemRefused("MaHoSo", code, EXISTS), known["code"], EXISTS)
    names = dvcqg.names_of(ctx.catalog, known["procedure_code"], known["current_unit"])
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        row = await repo.find_by_ma_ho_so(conn, code, for_update=True)
        assert row is not None  # dossiers are never deleted
        try:
            update = dvcqg.plan_update(row, d, names)
        except ItemRefused as refused:
            return refusal(code, refused, row["code"])
        note = dvcqg.kept_status_note(update, int(row["status"]))
        if not update.changes:
            return answer(code, "Không có thay đổi" + note, row["code"])
        await repo.apply_sync_update(
            conn,
            repo.SyncUpdate(
                dossier_id=row["id"],
                portal_id=portal.id,
                at=now,
                applicant=update.applicant,
                documents=update.documents,
                fees=update.fees,
                summary=update.summary,
                channel=update.channel,
                appointment_at=update.appointment_at,
                status=update.status,
                national=update.national,
                changes=update.recorded(),
                status_kept=update.status_kept,
            ),
        )
        if ctx.settings.dvcqg_pushing:  # the national portal's copy follows the update
            await repo.enqueue_national(conn, row["id"], [("update", {"status": update.status})])
    fields = ", ".join(c.field for c in update.changes)
    return answer(code, f"Cập nhật thành công: {fields}" + note, row["code"])


async def read_back(ctx: IntakeContext, portal: Portal, ma_ho_so: str) -> dict[str, Any] | None:
    """The dossier in the ``DongBoHoSoMC`` item shape, for a portal of its unit (None
    otherwise). Identity documents' storage references only for the submitting portal
    (audited), as for ``/v1/dossiers/{code}/documents``."""
    async with ctx.runtime.pool.acquire() as conn:
        row = await repo.find_by_ma_ho_so(conn, ma_ho_so)
    if row is None or not portal.may_act_for(row["receiving_unit"]):
        return None
    view = documents_for(row["documents"], submitting_portal=portal.id == row["portal_id"])
    row["documents"] = [
        {**stored, "storage_ref": shown["storage_ref"]}
        for stored, shown in zip(row["documents"], view.documents, strict=True)
    ]
    caller = caller_of(portal)
    if view.revealed_sensitive:
        async with ctx.runtime.pool.acquire() as conn:
            await audit.record_access(
                conn,
                caller=caller,
                action="identity_document_read",
                dossier_ids=[row["id"]],
                details={"documents": [d["type_code"] for d in view.documents if d["sensitive"]]},
            )
    note_reads(ctx.reads, caller, [row["id"]])
    names = dvcqg.names_of(ctx.catalog, row["procedure_code"], row["current_unit"])
    return to_dongbo(dvcqg.sync_dossier(row, names))


async def history(ctx: IntakeContext, portal: Portal, ma_ho_so: str) -> dict[str, Any] | None:
    async with ctx.runtime.pool.acquire() as conn:
        row = await repo.find_by_ma_ho_so(conn, ma_ho_so)
        if row is None or not portal.may_act_for(row["receiving_unit"]):
            return None
        revisions = await repo.load_revisions(conn, row["id"])
    return {
        "MaHoSo": row["external_code"] or row["code"],
        "MaHoSoTiepNhan": row["code"],
        "revisions": [
            {
                "at": to_stamp(r["at"]),
                "portal_id": r["portal_id"],
                "changes": r["changes"],
                "status_kept": r["status_kept"],
            }
            for r in revisions
        ],
    }
