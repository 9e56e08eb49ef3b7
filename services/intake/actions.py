"""Citizen actions on a received dossier: supplement, withdrawal, payment.

Each is checked against the public status, recorded on the dossier and published to
routing in one transaction. Routing decides what follows; the status moves when it says.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from contracts.events import (
    ObligationPaid,
    OptOutChanged,
    SupplementSubmitted,
    WithdrawalRequested,
)
from contracts.intake_api import PaymentBody, SupplementBody, WithdrawalBody
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.domain.personal_data import flag_documents
from services.intake.domain.status import ACTION_NAMES, Action, action_allowed, status_name
from services.intake.handlers import IntakeContext
from services.intake.views import vn
from services.runtime.problems import ProblemError

EVENT_TYPES: dict[Action, str] = {
    "supplement": "dossier.supplement_submitted",
    "withdrawal": "dossier.withdrawal_requested",
    "payment": "dossier.obligation_paid",
}
ActionBody = SupplementBody | WithdrawalBody | PaymentBody


def _payload(action: Action, code: str, body: ActionBody, now: datetime) -> dict[str, Any]:
    if isinstance(body, SupplementBody):
        types = sorted({d.type_code for d in body.documents})
        event: Any = SupplementSubmitted(
            dossier_code=code, submitted_at=now, document_count=len(body.documents), documents=types
        )
    elif isinstance(body, WithdrawalBody):
        event = WithdrawalRequested(dossier_code=code, requested_at=now, reason=body.reason)
    else:
        event = ObligationPaid(
            dossier_code=code, paid_at=now, amount_vnd=body.amount_vnd, receipt_ref=body.receipt_ref
        )
    payload: dict[str, Any] = event.model_dump(mode="json")
    return payload


async def take_action(
    ctx: IntakeContext, portal: Portal, code: str, action: Action, body: ActionBody, now: datetime
) -> dict[str, Any]:
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        row = await repo.load_dossier_for_update(conn, code)
        if row is None or not portal.may_act_for(row["receiving_unit"]):
            raise ProblemError(404, "Không tìm thấy hồ sơ", f"No dossier {code}.")
        status = int(row["status"])
        if not action_allowed(action, status):
            raise ProblemError(
                409,
                f"Không thể {ACTION_NAMES[action]} khi hồ sơ ở trạng thái «{status_name(status)}»",
                f"Action {action} is not possible in status {status}.",
                dossier_status=status,
            )
        if row["last_action"] == action and row["last_action_version"] == row["status_version"]:
            raise ProblemError(
                409,
                f"Đã {ACTION_NAMES[action]}, đang chờ cơ quan xử lý",
                f"The same {action} was already sent and is awaiting the unit.",
                dossier_status=status,
            )
        envelope = await rt.publish(
            conn,
            "dossier.intake",
            EVENT_TYPES[action],
            row["id"],
            _payload(action, code, body, now),
        )
        documents = (
            flag_documents({**d.model_dump(), "supplement": True} for d in body.documents)
            if isinstance(body, SupplementBody)
            else []
        )
        await repo.record_action(conn, row["id"], action, row["status_version"], documents)
        await repo.append_timeline(
            conn,
            event_id=envelope.event_id,
            dossier_id=row["id"],
            source="intake",
            event_type=EVENT_TYPES[action],
            sequence=0,
            occurred_at=now,
            details={"action": action},
        )
    return {"dossier_code": code, "action": action, "accepted_at": vn(now), "status": status}


async def change_opt_out(
    ctx: IntakeContext, portal: Portal, code: str, channel: str, opted_out: bool, now: datetime
) -> dict[str, Any]:
    """A channel stopped (or resumed) for the dossier's contact, asked through the portal
    the dossier belongs to; notify reads the event and applies it to the contact it holds
    for the dossier (it never learns who asked beyond the portal's id)."""
    rt = ctx.runtime
    async with rt.pool.acquire() as conn, conn.transaction():
        row = await repo.load_dossier_for_update(conn, code)
        if row is None or not portal.may_act_for(row["receiving_unit"]):
            raise ProblemError(404, "Không tìm thấy hồ sơ", f"No dossier {code}.")
        event = OptOutChanged(
            dossier_code=row["code"],
            channel=channel,
            opted_out=opted_out,
            requested_at=now,
            portal_id=portal.id,
        )
        envelope = await rt.publish(
            conn,
            "dossier.intake",
            "dossier.opt_out_changed",
            row["id"],
            event.model_dump(mode="json"),
        )
        await repo.append_timeline(
            conn,
            event_id=envelope.event_id,
            dossier_id=row["id"],
            source="intake",
            event_type="dossier.opt_out_changed",
            sequence=0,
            occurred_at=now,
            details={"channel": channel, "opted_out": opted_out},
        )
    return {
        "dossier_code": row["code"],
        "channel": channel,
        "opted_out": opted_out,
        "accepted_at": vn(now),
    }
