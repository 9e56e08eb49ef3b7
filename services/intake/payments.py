"""Online payment of a dossier's financial obligation through VNPay.

The amount is the obligation routing assessed (its `dossier.obligation_requested`, kept in
intake's timeline), never the client's. Settlement comes only from a verified IPN or from
reconciliation with the query API; either publishes the same `dossier.obligation_paid` a
desk payment does, once per obligation, in the transaction that records the payment.
"""

from __future__ import annotations

import asyncio
import json
import logging
import secrets
from collections.abc import Mapping
from datetime import datetime, timedelta
from typing import Any

import httpx
from jinja2 import Environment, FileSystemLoader, select_autoescape

from contracts.events import ObligationPaid
from services.intake.adapters import payments_store as store
from services.intake.adapters import repository as repo
from services.intake.adapters.portals import Portal
from services.intake.adapters.vnpay_gateway import VnpayClient
from services.intake.domain import vnpay
from services.intake.domain.status import status_name
from services.intake.handlers import IntakeContext
from services.intake.views import vn
from services.runtime import clock
from services.runtime.db import DbConn
from services.runtime.problems import ProblemError

log = logging.getLogger(__name__)
AWAITING_PAYMENT = 6
EVENT_TYPE = "dossier.obligation_paid"
STATE_NAMES = {
    "pending": "Đang chờ cổng thanh toán xác nhận",
    "paid": "Đã thanh toán",
    "failed": "Thanh toán không thành công",
    "duplicate": "Đã thanh toán (nghĩa vụ đã được nộp trước đó, chờ hoàn tiền)",
}
_templates = Environment(
    loader=FileSystemLoader(__file__.rsplit("/", 1)[0] + "/templates"),
    autoescape=select_autoescape(["html"]),
)


def client_of(ctx: IntakeContext) -> VnpayClient:
    s = ctx.settings
    return VnpayClient(
        s.vnpay_api_url, s.vnpay_tmn_code, s.vnpay_hash_secret, s.vnpay_timeout_seconds, s.host
    )


def new_txn_ref() -> str:
    return secrets.token_hex(10).upper()  # unique per attempt, letters and digits only


async def _dossier_of_portal(conn: DbConn, portal: Portal, code: str) -> dict[str, Any]:
    row = await repo.load_dossier_for_update(conn, code)
    if row is None or not portal.may_act_for(row["receiving_unit"]):
        raise ProblemError(404, "Không tìm thấy hồ sơ", f"No dossier {code}.")
    return row


def _already_paid(row: Mapping[str, Any]) -> bool:
    return bool(
        row["last_action"] == "payment" and row["last_action_version"] == row["status_version"]
    )


async def start_payment(
    ctx: IntakeContext, portal: Portal, code: str, client_ip: str, locale: str, now: datetime
) -> dict[str, Any]:
    s = ctx.settings
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        row = await _dossier_of_portal(conn, portal, code)
        status = int(row["status"])
        if status != AWAITING_PAYMENT or _already_paid(row):
            raise ProblemError(
                409,
                f"Hồ sơ không có nghĩa vụ tài chính chờ nộp (trạng thái «{status_name(status)}»)",
                "The dossier has no open financial obligation.",
                dossier_status=status,
            )
        obligation = await store.open_obligation(conn, row["id"])
        if obligation is None or not obligation["amount_vnd"]:
            raise ProblemError(
                409,
                "Chưa có số tiền nghĩa vụ tài chính được xác định cho hồ sơ",
                "Routing assessed no amount for the dossier yet.",
                dossier_status=status,
            )
        txn_ref = new_txn_ref()
        await store.insert_payment(
            conn,
            txn_ref=txn_ref,
            dossier=row,
            portal_id=portal.id,
            obligation=obligation,
            created_at=now,
        )
    request = vnpay.PaymentRequest(
        tmn_code=s.vnpay_tmn_code,
        txn_ref=txn_ref,
        amount_vnd=int(obligation["amount_vnd"]),
        # VNPay asks for Vietnamese without diacritics here.
        order_info=f"Nop nghia vu tai chinh ho so {code}",
        return_url=s.vnpay_return_url,
        client_ip=client_ip,
        created_at=now,
        expires_in=timedelta(minutes=s.vnpay_expiry_minutes),
        locale="en" if locale == "en" else "vn",
    )
    return {
        "dossier_code": code,
        "txn_ref": txn_ref,
        "amount_vnd": request.amount_vnd,
        "payment_url": vnpay.payment_url(s.vnpay_pay_url, request, s.vnpay_hash_secret),
        "expires_at": vn(now + request.expires_in),
        "state": "pending",
    }


async def _settle(
    ctx: IntakeContext,
    conn: DbConn,
    order: dict[str, Any],
    *,
    success: bool,
    by: str,
    now: datetime,
    response_code: str,
    transaction_no: str,
    bank_code: str,
    pay_date: str,
) -> dict[str, Any]:
    """Record the outcome of a pending attempt the caller locked; a success resumes the
    dossier through `dossier.obligation_paid`, unless its obligation was already paid."""
    state = "failed"
    dossier: dict[str, Any] | None = None
    if success:
        dossier = await repo.load_dossier_for_update(conn, order["dossier_code"])
        current = await store.open_obligation(conn, order["dossier_id"])
        still_owed = (
            dossier is not None
            and int(dossier["status"]) == AWAITING_PAYMENT
            and not _already_paid(dossier)
            and current is not None
            and current["event_id"] == order["obligation_event"]
        )
        state = "paid" if still_owed else "duplicate"
    settled = await store.settle(
        conn,
        order["txn_ref"],
        state=state,
        at=now,
        by=by,
        response_code=response_code,
        transaction_no=transaction_no,
        bank_code=bank_code,
        pay_date=pay_date,
        with_receipt=success,
    )
    if state == "paid":
        assert dossier is not None
        # The gateway's times are the wall clock's; the payment, as a business fact, is
        # on the business clock (the same instant unless a simulation sets the clock).
        paid_at = now if clock.current().is_wall else clock.now()
        event = ObligationPaid(
            dossier_code=order["dossier_code"],
            paid_at=paid_at,
            amount_vnd=int(order["amount_vnd"]),
            receipt_ref=f"VNPAY-{order['txn_ref']}",
        )
        envelope = await ctx.runtime.publish(
            conn, "dossier.intake", EVENT_TYPE, order["dossier_id"], event.model_dump(mode="json")
        )
        await repo.record_action(
            conn, order["dossier_id"], "payment", dossier["status_version"], []
        )
        await repo.append_timeline(
            conn,
            event_id=envelope.event_id,
            dossier_id=order["dossier_id"],
            source="intake",
            event_type=EVENT_TYPE,
            sequence=0,
            occurred_at=paid_at,
            details={"action": "payment", "channel": "vnpay", "receipt_no": settled["receipt_no"]},
        )
    elif state == "duplicate":
        log.warning("payment %s paid an obligation already settled: refund", order["txn_ref"])
    return settled


async def handle_ipn(ctx: IntakeContext, params: dict[str, str], now: datetime) -> dict[str, str]:
    secret = ctx.settings.vnpay_hash_secret
    txn_ref = params.get("vnp_TxnRef", "")
    if not vnpay.verify(params, secret):
        # Refused before anything is read or written: a forged IPN changes nothing.
        log.warning("IPN refused: its signature does not verify (txn_ref %r)", txn_ref[:64])
        return vnpay.decide_ipn(params, secret, None).answer
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        row = await store.load_for_update(conn, txn_ref)
        order = (
            vnpay.Order(row["txn_ref"], int(row["amount_vnd"]), row["state"])
            if row is not None
            else None
        )
        decision = vnpay.decide_ipn(params, secret, order)
        if row is not None and decision.outcome != "refuse":
            await _settle(
                ctx,
                conn,
                row,
                success=decision.outcome == "paid",
                by="ipn",
                now=now,
                response_code=params.get("vnp_ResponseCode", ""),
                transaction_no=params.get("vnp_TransactionNo", ""),
                bank_code=params.get("vnp_BankCode", ""),
                pay_date=params.get("vnp_PayDate", ""),
            )
        await store.record_ipn(conn, txn_ref, params, decision.rsp_code)
    return decision.answer


# ------------------------------------------------------------------------ reconciliation


async def reconcile(
    ctx: IntakeContext, now: datetime, grace_seconds: float | None = None
) -> dict[str, Any]:
    """Ask the gateway about every attempt of the window; record what an IPN never told
    (paid or failed), report whatever disagrees."""
    s = ctx.settings
    grace = s.payment_reconcile_grace_seconds if grace_seconds is None else grace_seconds
    since = now - timedelta(days=s.payment_reconcile_window_days)
    async with ctx.runtime.pool.acquire() as conn:
        rows = await store.to_reconcile(conn, since, now - timedelta(seconds=grace))
    gateway = client_of(ctx)
    findings: list[dict[str, Any]] = []
    async with httpx.AsyncClient() as http:
        for row in rows:
            answer = await gateway.query(http, row["txn_ref"], row["created_at"], now)
            order = vnpay.Order(row["txn_ref"], int(row["amount_vnd"]), row["state"])
            finding = vnpay.reconcile_one(order, answer)
            if finding is None:
                continue
            recorded = row["state"]
            if finding in ("recovered", "failed_at_gateway") and answer is not None:
                recorded = await _recover(ctx, row["txn_ref"], answer, finding, now)
            findings.append(
                {
                    "txn_ref": row["txn_ref"],
                    "dossier_code": row["dossier_code"],
                    "finding": finding,
                    "state_before": row["state"],
                    "state_after": recorded,
                    "amount_vnd": int(row["amount_vnd"]),
                    "gateway_amount": answer.amount if answer else None,
                    "gateway_status": answer.transaction_status if answer else None,
                }
            )
    async with ctx.runtime.pool.acquire() as conn:
        run_id = await store.record_reconciliation(
            conn, now, datetime.now(now.tzinfo), len(rows), findings
        )
    mismatches = [f for f in findings if f["finding"] not in ("recovered", "failed_at_gateway")]
    if mismatches:
        log.warning("payment reconciliation %d: %d mismatches", run_id, len(mismatches))
    return {
        "run_id": run_id,
        "checked": len(rows),
        "findings": findings,
        "mismatches": len(mismatches),
    }


async def _recover(
    ctx: IntakeContext, txn_ref: str, answer: vnpay.GatewayState, finding: str, now: datetime
) -> str:
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        row = await store.load_for_update(conn, txn_ref)
        if row is None or row["state"] != "pending":  # an IPN came meanwhile
            return str(row["state"]) if row else "missing"
        settled = await _settle(
            ctx,
            conn,
            row,
            success=finding == "recovered",
            by="reconciliation",
            now=now,
            response_code=answer.transaction_status,
            transaction_no=answer.transaction_no,
            bank_code=answer.bank_code,
            pay_date=answer.pay_date,
        )
    return str(settled["state"])


async def run_reconciliation(ctx: IntakeContext, interval_seconds: float) -> None:
    """The daily job: every instance may run it; row locks keep each recovery single."""
    from datetime import UTC

    while True:
        await asyncio.sleep(interval_seconds)
        try:
            await reconcile(ctx, datetime.now(UTC))
        except Exception:
            log.exception("payment reconciliation failed; next run in %.0fs", interval_seconds)


# ------------------------------------------------------------------ views and receipts


def payment_view(row: Mapping[str, Any]) -> dict[str, Any]:
    return {
        "txn_ref": row["txn_ref"],
        "dossier_code": row["dossier_code"],
        "amount_vnd": int(row["amount_vnd"]),
        "state": row["state"],
        "state_name": STATE_NAMES[row["state"]],
        "created_at": vn(row["created_at"]),
        "settled_at": vn(row["settled_at"]) if row["settled_at"] else None,
        "receipt_no": row["receipt_no"],
    }


async def payments_of(ctx: IntakeContext, portal: Portal, code: str) -> list[dict[str, Any]]:
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        row = await _dossier_of_portal(conn, portal, code)
        return [payment_view(p) for p in await store.of_dossier(conn, row["id"])]


async def receipt(ctx: IntakeContext, portal: Portal, code: str, txn_ref: str) -> dict[str, Any]:
    """Biên lai điện tử of a settled payment, for the dossier's own portal."""
    async with ctx.runtime.pool.acquire() as conn, conn.transaction():
        dossier = await _dossier_of_portal(conn, portal, code)
        row = await store.load(conn, txn_ref)
    if row is None or row["dossier_id"] != dossier["id"] or row["receipt_no"] is None:
        raise ProblemError(404, "Không tìm thấy biên lai", f"No receipt for payment {txn_ref}.")
    applicant = json.loads(dossier["applicant"])
    procedure = ctx.catalog.procedures.get(dossier["procedure_code"])
    unit = ctx.catalog.units.get(row["assessing_unit"])
    return {
        "title": "BIÊN LAI THU TIỀN ĐIỆN TỬ",
        "receipt_no": row["receipt_no"],
        "issued_at": vn(row["settled_at"]),
        "collecting_unit": row["assessing_unit"],
        "collecting_unit_name": unit.name if unit else row["assessing_unit"],
        "payer_name": applicant.get("full_name", ""),  # gone once anonymised
        "dossier_code": dossier["code"],
        "procedure_code": dossier["procedure_code"],
        "procedure_name": procedure.name if procedure else dossier["procedure_code"],
        "content": f"Nộp nghĩa vụ tài chính của hồ sơ {dossier['code']}",
        "amount_vnd": int(row["amount_vnd"]),
        "currency": "VND",
        "payment_method": "Thanh toán trực tuyến qua cổng VNPay",
        "txn_ref": row["txn_ref"],
        "gateway_transaction_no": row["transaction_no"],
        "bank_code": row["bank_code"],
        "state": row["state"],
        "state_name": STATE_NAMES[row["state"]],
    }


def vnd_text(amount: int) -> str:
    return f"{amount:,}".replace(",", ".") + " đồng"


def receipt_html(data: Mapping[str, Any]) -> str:
    return _templates.get_template("payment_receipt.html").render(
        r=data,
        amount=vnd_text(int(data["amount_vnd"])),
        issued=f"{data['issued_at']:%H:%M, %d/%m/%Y}",
    )


async def return_page(ctx: IntakeContext, params: dict[str, str]) -> tuple[int, str]:
    """What the citizen's browser shows back from VNPay: the outcome it claims, checked by
    its hash, beside what intake recorded. It changes nothing."""
    valid = vnpay.verify(params, ctx.settings.vnpay_hash_secret)
    recorded = None
    if valid:
        async with ctx.runtime.pool.acquire() as conn:
            recorded = await store.load(conn, params.get("vnp_TxnRef", ""))
    success = valid and vnpay.paid(
        params.get("vnp_ResponseCode", ""), params.get("vnp_TransactionStatus", "")
    )
    amount = params.get("vnp_Amount", "0")
    html = _templates.get_template("payment_return.html").render(
        valid=valid,
        success=success,
        txn_ref=params.get("vnp_TxnRef", ""),
        amount=vnd_text(int(amount) // 100) if valid and amount.isdigit() else "",
        recorded=STATE_NAMES[recorded["state"]] if recorded else None,
        dossier_code=recorded["dossier_code"] if recorded else None,
    )
    return (200 if valid else 400), html
