"""eSMS-style JSON brandname gateway (SendMultipleMessage_V4_post_json).

The client RequestId is deduplicated by the gateway (a repeat answers CodeResult 124),
which makes retries after a timeout safe. Delivery reports come back by HTTP GET to
the CallbackUrl given with each message. eSMS signs nothing, so that URL carries the
message id and a token only notify can compute (`receipt_token`), and a report that
would end a message is confirmed with the status query (`query_status`) first.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.phone import InvalidPhoneError, to_local
from services.notify.domain.receipt_auth import receipt_token
from services.notify.domain.sms_text import unaccent
from services.notify.providers.base import (
    DeliveryReceipt,
    ProviderResult,
    http_failure,
    transport_failure,
)
from services.runtime.http_client import HttpClient, TransportError

SEND_PATH = "/MainService.svc/json/SendMultipleMessage_V4_post_json/"
# Status of one sent message by its SMSID (`RefId`); answers CodeResult, SendStatus,
# SendSuccess, SendFailed like the callback (unverified: an answer we cannot read
# confirms nothing, so the receipt is then not trusted).
STATUS_PATH = "/MainService.svc/json/GetSendStatus"
SMS_TYPE_CUSTOMER_CARE = "2"

# CodeResult values (eSMS "table of error codes").
CODE_ACCEPTED = "100"
CODE_PHONE_BLOCKED = "99"
CODE_BAD_CREDENTIALS = "101"
CODE_NO_PRICE_LIST = "102"
CODE_LOW_BALANCE = "103"
CODE_UNKNOWN_BRANDNAME = "104"
CODE_BAD_PHONE = "108"
CODE_DUPLICATE_REQUEST = "124"
CODE_IP_NOT_WHITELISTED = "140"
CODE_WRONG_TEMPLATE = "146"
CODE_NETWORK_NOT_REGISTERED = "177"

_RECIPIENT_CODES = frozenset({CODE_PHONE_BLOCKED, CODE_BAD_PHONE})
# Account-side problems another gateway does not share: fail over, do not retry here.
_ACCOUNT_CODES = frozenset(
    {
        CODE_BAD_CREDENTIALS,
        CODE_NO_PRICE_LIST,
        CODE_LOW_BALANCE,
        CODE_UNKNOWN_BRANDNAME,
        CODE_IP_NOT_WHITELISTED,
        CODE_WRONG_TEMPLATE,
        CODE_NETWORK_NOT_REGISTERED,
    }
)

# Callback SendStatus values.
SEND_STATUS_PENDING_APPROVAL = "1"
SEND_STATUS_WAITING = "2"
SEND_STATUS_REJECTED = "4"
SEND_STATUS_DONE = "5"
SEND_STATUS_AT_CARRIER = "7"


@dataclass(frozen=True, slots=True)
class EsmsConfig:
    base_url: str
    api_key: str
    secret_key: str
    brandname: str
    # Base of the receipt URL; each message gets ``{callback_url}/{message id}/{token}``.
    callback_url: str | None = None
    # Key of the per-message token in the receipt URL (notify's RECEIPT_TOKEN_SECRET).
    callback_secret: str = ""
    # Many brandname contracts allow unaccented text only; then accents are stripped
    # here rather than having the carrier reject or garble the message.
    allow_unicode: bool = False
    sandbox: bool = False


class EsmsProvider:
    def __init__(self, client: HttpClient, config: EsmsConfig, name: str = "esms") -> None:
        self._client = client
        self._config = config
        self.name = name

    def _payload(self, request_id: str, phone: str, text: str) -> dict[str, str]:
        cfg = self._config
        unicode = cfg.allow_unicode and text != unaccent(text)
        payload = {
            "ApiKey": cfg.api_key,
            "SecretKey": cfg.secret_key,
            "Phone": phone,
            "Content": text if unicode else unaccent(text),
            "Brandname": cfg.brandname,
            "SmsType": SMS_TYPE_CUSTOMER_CARE,
            "IsUnicode": "1" if unicode else "0",
            "Sandbox": "1" if cfg.sandbox else "0",
            "RequestId": request_id,
        }
        if cfg.callback_url:
            payload["CallbackUrl"] = callback_url_for(cfg, request_id, self.name)
        return payload

    async def query_status(self, sms_id: str) -> DeliveryReceipt | None:
        """Ask eSMS where a sent message stands; None when it gives no usable answer."""
        cfg = self._config
        url = cfg.base_url.rstrip("/") + STATUS_PATH
        params = {"ApiKey": cfg.api_key, "SecretKey": cfg.secret_key, "RefId": sms_id}
        try:
            response = await self._client.get(url, params=params)
        except TransportError:
            return None
        if response.status_code != HTTPStatus.OK:
            return None
        try:
            body = response.json()
        except ValueError:
            return None
        if not isinstance(body, dict) or str(body.get("CodeResult", "")) != CODE_ACCEPTED:
            return None
        fields = {k: str(v) for k, v in body.items() if v is not None}
        return parse_callback({**fields, "SMSID": sms_id}, provider=self.name)

    async def send(
        self, request_id: str, phone: str, text: str, template_id: str | None
    ) -> ProviderResult:
        # eSMS matches customer-care content against the registered template itself;
        # the template id is not part of its API.
        del template_id
        try:
            local_phone = to_local(phone)
        except InvalidPhoneError as exc:
            return ProviderResult(accepted=False, error=str(exc), recipient_rejected=True)
        url = self._config.base_url.rstrip("/") + SEND_PATH
        try:
            response = await self._client.post(
                url,
                json=self._payload(request_id, local_phone, text),
                repeatable=True,  # eSMS dedupes on RequestId
            )
        except TransportError as exc:
            return transport_failure(exc)
        if response.status_code != HTTPStatus.OK:
            return http_failure(response)
        try:
            body = response.json()
        except ValueError:
            return ProviderResult(accepted=False, retryable=True, error="unparsable response")
        if not isinstance(body, dict):
            return ProviderResult(accepted=False, retryable=True, error="unparsable response")
        return _result(body)


def callback_url_for(config: EsmsConfig, message_id: str, provider: str = "esms") -> str:
    """The CallbackUrl for one message: the base, the message id and its token."""
    base = (config.callback_url or "").rstrip("/")
    return f"{base}/{message_id}/{receipt_token(config.callback_secret, provider, message_id)}"


def _result(body: Mapping[str, object]) -> ProviderResult:
    code = str(body.get("CodeResult", ""))
    sms_id = body.get("SMSID")
    message_id = str(sms_id) if sms_id else None
    if code == CODE_ACCEPTED:
        return ProviderResult(accepted=True, provider_message_id=message_id)
    if code == CODE_DUPLICATE_REQUEST:
        # The gateway already holds this request id: the first send counts.
        return ProviderResult(accepted=True, provider_message_id=message_id, error_code=code)
    error = f"esms {code}: {body.get('ErrorMessage', '')}".strip()
    if code in _RECIPIENT_CODES:
        return ProviderResult(accepted=False, error=error, error_code=code, recipient_rejected=True)
    # Account codes and unknown ones: this gateway cannot send it now, another may.
    return ProviderResult(
        accepted=False, retryable=code not in _ACCOUNT_CODES, error=error, error_code=code
    )


def parse_callback(query: Mapping[str, str], provider: str = "esms") -> DeliveryReceipt:
    """Map the GET parameters eSMS sends to CallbackUrl onto a receipt."""
    send_status = query.get("SendStatus", "")
    failed = _as_int(query.get("SendFailed"))
    succeeded = _as_int(query.get("SendSuccess"))
    error = None
    if send_status == SEND_STATUS_DONE:
        if failed > 0 and succeeded == 0:
            status, error = DeliveryStatus.PERMANENT_FAILURE, "carrier reported failure"
        else:
            status = DeliveryStatus.DELIVERED
    elif send_status == SEND_STATUS_REJECTED:
        status, error = DeliveryStatus.PERMANENT_FAILURE, "rejected by gateway"
    elif send_status == SEND_STATUS_AT_CARRIER:
        status = DeliveryStatus.SENT
    else:
        status = DeliveryStatus.SENDING
    return DeliveryReceipt(
        provider=provider,
        status=status,
        provider_message_id=query.get("SMSID") or None,
        request_id=query.get("RequestId") or None,
        error=error,
    )


def _as_int(value: str | None) -> int:
    try:
        return int(value or "0")
    except ValueError:
        return 0
