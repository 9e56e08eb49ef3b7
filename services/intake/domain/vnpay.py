"""VNPay's payment gateway (API 2.1.0), its pure part: the signed payment URL, the check
of a return or IPN, the IPN decision in the order VNPay prescribes, and the querydr
request and answer (facts: ../shared/reference/providers.md, "VNPay payment gateway").

Amounts travel as VND x 100 (`vnp_Amount`); dates as `yyyyMMddHHmmss` in Vietnam time.
"""

from __future__ import annotations

import hashlib
import hmac
from collections.abc import Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Literal
from urllib.parse import urlencode
from zoneinfo import ZoneInfo

VERSION = "2.1.0"
VN_TZ = ZoneInfo("Asia/Ho_Chi_Minh")
DATE_FORMAT = "%Y%m%d%H%M%S"
SUCCESS = "00"
# The IPN answers VNPay expects (RspCode).
RSP_CONFIRMED = "00"
RSP_ORDER_NOT_FOUND = "01"
RSP_ALREADY_CONFIRMED = "02"
RSP_INVALID_AMOUNT = "04"
RSP_INVALID_SIGNATURE = "97"
RSP_OTHER = "99"
RSP_MESSAGES = {
    RSP_CONFIRMED: "Confirm Success",
    RSP_ORDER_NOT_FOUND: "Order not found",
    RSP_ALREADY_CONFIRMED: "Order already confirmed",
    RSP_INVALID_AMOUNT: "Invalid amount",
    RSP_INVALID_SIGNATURE: "Invalid signature",
    RSP_OTHER: "Unknown error",
}
# vnp_ResponseCode / vnp_TransactionStatus values seen in VNPay's SDKs (unverified beyond 00).
CUSTOMER_CANCELLED = "24"
TIMED_OUT = "15"
UNSIGNED = frozenset({"vnp_SecureHash", "vnp_SecureHashType"})


def vnd_to_gateway(amount_vnd: int) -> str:
    return str(amount_vnd * 100)


def vn_date(moment: datetime) -> str:
    return moment.astimezone(VN_TZ).strftime(DATE_FORMAT)


def parse_vn_date(text: str) -> datetime:
    return datetime.strptime(text, DATE_FORMAT).replace(tzinfo=VN_TZ)


def hash_data(params: Mapping[str, str]) -> str:
    """Every `vnp_*` parameter but the hash itself, sorted by name, URL-encoded, `k=v&...`."""
    signed = sorted(
        (k, str(v)) for k, v in params.items() if k.startswith("vnp_") and k not in UNSIGNED
    )
    return urlencode(signed)


def hmac_sha512(secret: str, data: str) -> str:
    return hmac.new(secret.encode(), data.encode(), hashlib.sha512).hexdigest()


def sign(params: Mapping[str, str], secret: str) -> str:
    return hmac_sha512(secret, hash_data(params))


def verify(params: Mapping[str, str], secret: str) -> bool:
    given = params.get("vnp_SecureHash", "")
    return bool(given) and hmac.compare_digest(given.lower(), sign(params, secret))


@dataclass(frozen=True, slots=True)
class PaymentRequest:
    tmn_code: str
    txn_ref: str
    amount_vnd: int
    order_info: str
    return_url: str
    client_ip: str
    created_at: datetime
    expires_in: timedelta
    locale: Literal["vn", "en"] = "vn"
    order_type: str = "billpayment"


def payment_params(req: PaymentRequest, secret: str) -> dict[str, str]:
    params = {
        "vnp_Version": VERSION,
        "vnp_Command": "pay",
        "vnp_TmnCode": req.tmn_code,
        "vnp_Amount": vnd_to_gateway(req.amount_vnd),
        "vnp_CurrCode": "VND",
        "vnp_TxnRef": req.txn_ref,
        "vnp_OrderInfo": req.order_info,
        "vnp_OrderType": req.order_type,
        "vnp_Locale": req.locale,
        "vnp_ReturnUrl": req.return_url,
        "vnp_IpAddr": req.client_ip,
        "vnp_CreateDate": vn_date(req.created_at),
        "vnp_ExpireDate": vn_date(req.created_at + req.expires_in),
    }
    return {**params, "vnp_SecureHash": sign(params, secret)}


def payment_url(base_url: str, req: PaymentRequest, secret: str) -> str:
    return f"{base_url}?{urlencode(payment_params(req, secret))}"


# --------------------------------------------------------------------------------- IPN


@dataclass(frozen=True, slots=True)
class Order:
    """What the merchant recorded of one attempt (`vnp_TxnRef`)."""

    txn_ref: str
    amount_vnd: int
    state: str  # pending | paid | failed | duplicate


IpnOutcome = Literal["refuse", "paid", "failed"]


@dataclass(frozen=True, slots=True)
class IpnDecision:
    rsp_code: str
    outcome: IpnOutcome

    @property
    def answer(self) -> dict[str, str]:
        return {"RspCode": self.rsp_code, "Message": RSP_MESSAGES[self.rsp_code]}


def paid(response_code: str, transaction_status: str) -> bool:
    return response_code == SUCCESS and transaction_status == SUCCESS


def decide_ipn(params: Mapping[str, str], secret: str, order: Order | None) -> IpnDecision:
    """In VNPay's order: hash, order, amount, not yet confirmed, then the outcome."""
    if not verify(params, secret):
        return IpnDecision(RSP_INVALID_SIGNATURE, "refuse")
    if order is None:
        return IpnDecision(RSP_ORDER_NOT_FOUND, "refuse")
    if params.get("vnp_Amount") != vnd_to_gateway(order.amount_vnd):
        return IpnDecision(RSP_INVALID_AMOUNT, "refuse")
    if order.state != "pending":
        return IpnDecision(RSP_ALREADY_CONFIRMED, "refuse")
    success = paid(params.get("vnp_ResponseCode", ""), params.get("vnp_TransactionStatus", ""))
    return IpnDecision(RSP_CONFIRMED, "paid" if success else "failed")


# ------------------------------------------------------------------------------ querydr
# The query API signs its fields joined by "|" in a fixed order (VNPay's 2.1.0 merchant
# web API; from its integration guide, not re-checked against a live sandbox).

QUERY_REQUEST_FIELDS = (
    "vnp_RequestId",
    "vnp_Version",
    "vnp_Command",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_TransactionDate",
    "vnp_CreateDate",
    "vnp_IpAddr",
    "vnp_OrderInfo",
)
QUERY_RESPONSE_FIELDS = (
    "vnp_ResponseId",
    "vnp_Command",
    "vnp_ResponseCode",
    "vnp_Message",
    "vnp_TmnCode",
    "vnp_TxnRef",
    "vnp_Amount",
    "vnp_BankCode",
    "vnp_PayDate",
    "vnp_TransactionNo",
    "vnp_TransactionType",
    "vnp_TransactionStatus",
    "vnp_OrderInfo",
    "vnp_PromotionCode",
    "vnp_PromotionAmount",
)


def pipe_hash(body: Mapping[str, object], fields: tuple[str, ...], secret: str) -> str:
    return hmac_sha512(secret, "|".join(str(body.get(f) or "") for f in fields))


def query_request(
    *,
    request_id: str,
    tmn_code: str,
    txn_ref: str,
    transaction_date: datetime,
    now: datetime,
    client_ip: str,
    secret: str,
) -> dict[str, str]:
    body = {
        "vnp_RequestId": request_id,
        "vnp_Version": VERSION,
        "vnp_Command": "querydr",
        "vnp_TmnCode": tmn_code,
        "vnp_TxnRef": txn_ref,
        "vnp_OrderInfo": f"Truy van giao dich {txn_ref}",
        "vnp_TransactionDate": vn_date(transaction_date),
        "vnp_CreateDate": vn_date(now),
        "vnp_IpAddr": client_ip,
    }
    return {**body, "vnp_SecureHash": pipe_hash(body, QUERY_REQUEST_FIELDS, secret)}


def query_request_valid(body: Mapping[str, object], secret: str) -> bool:
    given = str(body.get("vnp_SecureHash") or "")
    return bool(given) and hmac.compare_digest(
        given.lower(), pipe_hash(body, QUERY_REQUEST_FIELDS, secret)
    )


def sign_query_response(body: Mapping[str, str], secret: str) -> dict[str, str]:
    return {**body, "vnp_SecureHash": pipe_hash(body, QUERY_RESPONSE_FIELDS, secret)}


def query_response_valid(body: Mapping[str, object], secret: str) -> bool:
    given = str(body.get("vnp_SecureHash") or "")
    return bool(given) and hmac.compare_digest(
        given.lower(), pipe_hash(body, QUERY_RESPONSE_FIELDS, secret)
    )


# ------------------------------------------------------------------------ reconciliation

Finding = Literal[
    "recovered",  # the gateway has it paid, we had no IPN: recorded now
    "failed_at_gateway",  # the gateway says it failed; recorded as failed
    "paid_here_not_at_gateway",  # we recorded it paid, the gateway does not say so
    "amount_mismatch",  # the gateway's amount is not what we recorded
    "paid_at_gateway_failed_here",  # an IPN said failed, the gateway now says paid
    "paid_twice",  # paid after the obligation was settled (desk or another attempt): refund
    "unknown_at_gateway",  # the gateway does not know the reference
    "query_failed",  # no valid answer from the query API
]


@dataclass(frozen=True, slots=True)
class GatewayState:
    response_code: str  # the query's own result ("00": found)
    transaction_status: str
    amount: str  # VND x 100
    transaction_no: str = ""
    bank_code: str = ""
    pay_date: str = ""


def reconcile_one(order: Order, gateway: GatewayState | None) -> Finding | None:
    """What one recorded attempt and the gateway's word on it say together (None: they
    agree, or it is still open at both ends)."""
    if gateway is None:
        return "query_failed"
    if gateway.response_code in (RSP_ORDER_NOT_FOUND, "91"):  # 91: not found (querydr)
        return "paid_here_not_at_gateway" if order.state == "paid" else "unknown_at_gateway"
    if gateway.response_code != SUCCESS:
        return "query_failed"
    if gateway.amount != vnd_to_gateway(order.amount_vnd):
        return "amount_mismatch"
    settled = gateway.transaction_status == SUCCESS
    if order.state == "duplicate":
        return "paid_twice" if settled else "paid_here_not_at_gateway"
    if order.state == "paid":
        return None if settled else "paid_here_not_at_gateway"
    if order.state == "pending":
        if settled:
            return "recovered"
        if gateway.transaction_status in ("01", ""):  # not finished yet at the gateway
            return None
        return "failed_at_gateway"
    # Recorded failed: only a payment the gateway settled is a mismatch (for a person).
    return "paid_at_gateway_failed_here" if settled else None
