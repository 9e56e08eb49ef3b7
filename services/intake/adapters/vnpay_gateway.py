"""VNPay's merchant web API over HTTP: the query (querydr) for one transaction."""

from __future__ import annotations

import logging
import uuid
from datetime import datetime

import httpx

from services.intake.domain import vnpay

log = logging.getLogger(__name__)


class VnpayClient:
    def __init__(
        self, api_url: str, tmn_code: str, secret: str, timeout: float, server_ip: str
    ) -> None:
        self.api_url, self.tmn_code, self._secret = api_url, tmn_code, secret
        self.timeout, self.server_ip = timeout, server_ip

    async def query(
        self, client: httpx.AsyncClient, txn_ref: str, created_at: datetime, now: datetime
    ) -> vnpay.GatewayState | None:
        """The gateway's word on one attempt; None when it gave no valid, signed answer."""
        body = vnpay.query_request(
            request_id=uuid.uuid4().hex,
            tmn_code=self.tmn_code,
            txn_ref=txn_ref,
            transaction_date=created_at,
            now=now,
            client_ip=self.server_ip,
            secret=self._secret,
        )
        try:
            response = await client.post(self.api_url, json=body, timeout=self.timeout)
            answer = response.json()
        except (httpx.HTTPError, ValueError) as exc:
            log.warning("querydr %s failed: %s", txn_ref, type(exc).__name__)
            return None
        if not isinstance(answer, dict):
            return None
        code = str(answer.get("vnp_ResponseCode") or "")
        # A found transaction's answer is signed; a refusal may not carry the fields.
        if code == vnpay.SUCCESS and not vnpay.query_response_valid(answer, self._secret):
            log.warning("querydr %s: the answer's signature does not verify", txn_ref)
            return None
        if code == vnpay.SUCCESS and answer.get("vnp_TxnRef") != txn_ref:
            return None
        return vnpay.GatewayState(
            response_code=code,
            transaction_status=str(answer.get("vnp_TransactionStatus") or ""),
            amount=str(answer.get("vnp_Amount") or ""),
            transaction_no=str(answer.get("vnp_TransactionNo") or ""),
            bank_code=str(answer.get("vnp_BankCode") or ""),
            pay_date=str(answer.get("vnp_PayDate") or ""),
        )
