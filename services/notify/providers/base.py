"""What every gateway adapter returns, and the SMS provider protocol."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Protocol

from services.notify.domain.lifecycle import DeliveryStatus
from services.runtime.http_client import HttpResponse, TransportError


@dataclass(frozen=True, slots=True)
class ProviderResult:
    accepted: bool
    provider_message_id: str | None = None
    # Another attempt (later, or through another provider) may succeed.
    retryable: bool = False
    error: str | None = None  # short, free of personal data: safe to log
    error_code: str | None = None  # the gateway's own code, e.g. eSMS "103", ZNS "-118"
    # The recipient cannot be reached this way; failover to another SMS gateway is
    # pointless and the message is a permanent failure.
    recipient_rejected: bool = False
    # Zalo only: the number has no usable Zalo account, send the notice by SMS.
    fallback_to_sms: bool = False
    # The request may have reached the gateway (timeout after sending): only that gateway,
    # asked again with the same request id, can tell; another gateway would send a copy.
    ambiguous: bool = False


@dataclass(frozen=True, slots=True)
class DeliveryReceipt:
    """A gateway's delivery report, mapped onto our lifecycle."""

    provider: str
    status: DeliveryStatus
    provider_message_id: str | None = None
    request_id: str | None = None
    error: str | None = None


class SmsProvider(Protocol):
    name: str

    async def send(
        self, request_id: str, phone: str, text: str, template_id: str | None
    ) -> ProviderResult:
        """Hand one SMS to the gateway; `request_id` makes a repeat harmless."""
        ...


def transport_failure(exc: TransportError) -> ProviderResult:
    """Timeouts and connection errors: the gateway may or may not have the message,
    so the same request id is retried and the gateway's dedup resolves it."""
    return ProviderResult(
        accepted=False,
        retryable=True,
        error=f"transport: {exc.kind}",
        ambiguous=not exc.never_arrived,
    )


def http_failure(response: HttpResponse) -> ProviderResult:
    retryable = response.status_code >= 500 or response.status_code in (408, 429)
    return ProviderResult(
        accepted=False,
        retryable=retryable,
        error=f"http {response.status_code}",
        error_code=str(response.status_code),
    )
