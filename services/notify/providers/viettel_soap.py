"""Viettel brandname SOAP gateway (`wsCpMt` of the bulkSms web service).

One SOAP call per message; `<result>1</result>` means queued. The gateway has no
message id of its own, so the client RequestID doubles as the provider message id.
"""

from __future__ import annotations

import xml.etree.ElementTree as ET
from collections.abc import Mapping
from dataclasses import dataclass
from http import HTTPStatus
from xml.sax.saxutils import escape

from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.phone import InvalidPhoneError, to_msisdn84
from services.notify.domain.sms_text import unaccent
from services.notify.providers.base import (
    DeliveryReceipt,
    ProviderResult,
    http_failure,
    transport_failure,
)
from services.runtime.http_client import HttpClient, TransportError

SOAP_ENV_NS = "http://schemas.xmlsoap.org/soap/envelope/"
SERVICE_NS = "http://impl.bulkSms.ws/"
RESULT_OK = "1"
CONTENT_TYPE_UNACCENTED = "0"
CONTENT_TYPE_ACCENTED = "1"
COMMAND_CODE_BULK = "bulksms"

# Delivery report states (SMPP stat values as carriers report them).
DLR_DELIVERED = "DELIVRD"
DLR_ACCEPTED = "ACCEPTD"
DLR_ENROUTE = "ENROUTE"
DLR_EXPIRED = "EXPIRED"
DLR_UNDELIVERABLE = "UNDELIV"
DLR_REJECTED = "REJECTD"
DLR_DELETED = "DELETED"

_DLR_STATUS = {
    DLR_DELIVERED: DeliveryStatus.DELIVERED,
    DLR_ACCEPTED: DeliveryStatus.SENT,
    DLR_ENROUTE: DeliveryStatus.SENT,
    DLR_EXPIRED: DeliveryStatus.TEMPORARY_FAILURE,  # handset off for the validity period
    DLR_UNDELIVERABLE: DeliveryStatus.PERMANENT_FAILURE,
    DLR_REJECTED: DeliveryStatus.PERMANENT_FAILURE,
    DLR_DELETED: DeliveryStatus.PERMANENT_FAILURE,
}


@dataclass(frozen=True, slots=True)
class ViettelConfig:
    url: str
    user: str
    password: str
    cp_code: str
    service_id: str  # the brandname
    command_code: str = COMMAND_CODE_BULK
    allow_accented: bool = False  # ContentType 1 needs a contract that allows it


def build_envelope(config: ViettelConfig, request_id: str, msisdn: str, text: str) -> str:
    accented = config.allow_accented and text != unaccent(text)
    fields = {
        "User": config.user,
        "Password": config.password,
        "CPCode": config.cp_code,
        "RequestID": request_id,
        "UserID": msisdn,
        "ReceiverID": msisdn,
        "ServiceID": config.service_id,
        "CommandCode": config.command_code,
        "Content": text if accented else unaccent(text),
        "ContentType": CONTENT_TYPE_ACCENTED if accented else CONTENT_TYPE_UNACCENTED,
    }
    body = "".join(f"<{k}>{escape(v)}</{k}>" for k, v in fields.items())
    return (
        '<?xml version="1.0" encoding="UTF-8"?>'
        f'<soapenv:Envelope xmlns:soapenv="{SOAP_ENV_NS}" xmlns:impl="{SERVICE_NS}">'
        f"<soapenv:Header/><soapenv:Body><impl:wsCpMt>{body}</impl:wsCpMt>"
        "</soapenv:Body></soapenv:Envelope>"
    )


def parse_response(xml_text: str) -> tuple[str, str]:
    """(result, message) from a wsCpMtResponse; raises ValueError when malformed."""
    try:
        root = ET.fromstring(xml_text)
    except ET.ParseError as exc:
        raise ValueError("malformed SOAP response") from exc
    result = root.find(".//result")
    if result is None or result.text is None:
        raise ValueError("SOAP response without <result>")
    message = root.find(".//message")
    return result.text.strip(), (message.text or "").strip() if message is not None else ""


class ViettelSoapProvider:
    def __init__(self, client: HttpClient, config: ViettelConfig, name: str = "viettel") -> None:
        self._client = client
        self._config = config
        self.name = name

    async def send(
        self, request_id: str, phone: str, text: str, template_id: str | None
    ) -> ProviderResult:
        # The brandname template is matched by content at Viettel; no id is sent.
        del template_id
        try:
            msisdn = to_msisdn84(phone)
        except InvalidPhoneError as exc:
            return ProviderResult(accepted=False, error=str(exc), recipient_rejected=True)
        envelope = build_envelope(self._config, request_id, msisdn, text)
        try:
            response = await self._client.post(
                self._config.url,
                content=envelope.encode("utf-8"),
                headers={"Content-Type": "text/xml; charset=utf-8", "SOAPAction": '""'},
                repeatable=True,  # Viettel dedupes on RequestID
            )
        except TransportError as exc:
            return transport_failure(exc)
        if response.status_code != HTTPStatus.OK:
            return http_failure(response)
        try:
            result, message = parse_response(response.text)
        except ValueError as exc:
            return ProviderResult(accepted=False, retryable=True, error=str(exc))
        if result == RESULT_OK:
            return ProviderResult(accepted=True, provider_message_id=request_id)
        # The gateway answers 0 with a free-text reason (authentication, balance,
        # msisdn check...); none of it is specific enough to rule out another gateway.
        return ProviderResult(
            accepted=False, retryable=True, error=f"viettel {result}: {message}", error_code=result
        )


def parse_receipt(payload: Mapping[str, object], provider: str = "viettel") -> DeliveryReceipt:
    """Map a delivery report {RequestID, ReceiverID, Status, ...} onto a receipt."""
    state = str(payload.get("Status", "")).upper()
    status = _DLR_STATUS.get(state, DeliveryStatus.SENT)
    request_id = str(payload.get("RequestID") or "") or None
    return DeliveryReceipt(
        provider=provider,
        status=status,
        provider_message_id=request_id,
        request_id=request_id,
        error=None if status is not DeliveryStatus.PERMANENT_FAILURE else f"dlr {state}",
    )
