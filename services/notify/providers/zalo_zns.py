"""Zalo Notification Service (ZNS): approved template messages to a phone number.

Only numbers with a Zalo account that accepts ZNS can be reached; for the others the
result carries `fallback_to_sms` and the caller sends the same notice by SMS.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus

from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.phone import InvalidPhoneError, to_msisdn84
from services.notify.providers.base import (
    DeliveryReceipt,
    ProviderResult,
    http_failure,
    transport_failure,
)
from services.runtime.http_client import HttpClient, TransportError

DEFAULT_BASE_URL = "https://business.openapi.zalo.me"
SEND_PATH = "/message/template"

# Response "error" codes (Zalo ZNS error table).
OK = 0
UNKNOWN_ERROR = -100
INVALID_APP = -101
INVALID_PHONE = -108
INVALID_TEMPLATE_ID = -109
TEMPLATE_DATA_EMPTY = -111
TEMPLATE_DATA_INVALID = -112
USER_INACTIVE_OR_REJECTING = -114
OUT_OF_QUOTA = -115
TEMPLATE_NOT_PERMITTED = -117
NOT_A_ZALO_ACCOUNT = -118  # no account, or disabled
ACCOUNT_CANNOT_RECEIVE = -119
INVALID_ACCESS_TOKEN = -124
PARAM_TOO_LONG = -1121
TEMPLATE_NOT_APPROVED = -131
NIGHT_TIME_RESTRICTED = -133  # this template may not be sent at night
USER_REFUSED_TEMPLATE_TYPE = -139
USER_NOT_ELIGIBLE = -140
USER_REFUSED_OA = -141
DAILY_PHONE_QUOTA_EXCEEDED = -144

# Recipient cannot get ZNS: the notice goes by SMS instead.
FALLBACK_TO_SMS_CODES = frozenset(
    {
        NOT_A_ZALO_ACCOUNT,
        ACCOUNT_CANNOT_RECEIVE,
        USER_INACTIVE_OR_REJECTING,
        USER_REFUSED_TEMPLATE_TYPE,
        USER_NOT_ELIGIBLE,
        USER_REFUSED_OA,
    }
)
# Our quota is gone for today: SMS can still carry the notice.
QUOTA_CODES = frozenset({OUT_OF_QUOTA, DAILY_PHONE_QUOTA_EXCEEDED})
RETRY_LATER_CODES = frozenset({UNKNOWN_ERROR, NIGHT_TIME_RESTRICTED})

EVENT_USER_RECEIVED = "user_received_message"


@dataclass(frozen=True, slots=True)
class ZaloConfig:
    access_token: str
    base_url: str = DEFAULT_BASE_URL


class ZaloZnsProvider:
    """Not an SmsProvider: ZNS sends template data, not text."""

    def __init__(self, client: HttpClient, config: ZaloConfig, name: str = "zalo") -> None:
        self._client = client
        self._config = config
        self.name = name

    async def send(
        self,
        request_id: str,
        phone: str,
        template_id: str,
        template_data: Mapping[str, str],
    ) -> ProviderResult:
        try:
            msisdn = to_msisdn84(phone)
        except InvalidPhoneError as exc:
            return ProviderResult(accepted=False, error=str(exc), recipient_rejected=True)
        payload = {
            "phone": msisdn,
            "template_id": template_id,
            "template_data": dict(template_data),
            "tracking_id": request_id,  # echoed in webhooks to match receipts
        }
        try:
            response = await self._client.post(
                self._config.base_url.rstrip("/") + SEND_PATH,
                json=payload,
                headers={"access_token": self._config.access_token},
                repeatable=True,  # as a retry after a doubtful answer: same tracking id
            )
        except TransportError as exc:
            return transport_failure(exc)
        if response.status_code != HTTPStatus.OK:
            return http_failure(response)
        try:
            body = response.json()
            code = int(body.get("error", UNKNOWN_ERROR))
        except (ValueError, TypeError, AttributeError):
            return ProviderResult(accepted=False, retryable=True, error="unparsable response")
        return _result(code, body)


def _result(code: int, body: Mapping[str, object]) -> ProviderResult:
    if code == OK:
        data = body.get("data")
        msg_id = data.get("msg_id") if isinstance(data, dict) else None
        return ProviderResult(accepted=True, provider_message_id=str(msg_id) if msg_id else None)
    error = f"zns {code}: {body.get('message', '')}".strip()
    if code in FALLBACK_TO_SMS_CODES:
        return ProviderResult(
            accepted=False,
            error=error,
            error_code=str(code),
            recipient_rejected=True,
            fallback_to_sms=True,
        )
    if code in QUOTA_CODES:
        return ProviderResult(
            accepted=False, error=error, error_code=str(code), fallback_to_sms=True
        )
    return ProviderResult(
        accepted=False, retryable=code in RETRY_LATER_CODES, error=error, error_code=str(code)
    )


def parse_webhook(payload: Mapping[str, object], provider: str = "zalo") -> DeliveryReceipt | None:
    """A `user_received_message` webhook as a receipt; other events give None."""
    if payload.get("event_name") != EVENT_USER_RECEIVED:
        return None
    message = payload.get("message")
    if not isinstance(message, dict):
        return None
    msg_id, tracking_id = message.get("msg_id"), message.get("tracking_id")
    return DeliveryReceipt(
        provider=provider,
        status=DeliveryStatus.DELIVERED,
        provider_message_id=str(msg_id) if msg_id else None,
        request_id=str(tracking_id) if tracking_id else None,
    )
