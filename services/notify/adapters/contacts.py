"""Contact details fetched from intake by reference, only at the moment of sending."""

from __future__ import annotations

from dataclasses import dataclass

import httpx


class ContactNotFound(Exception):
    """Intake knows no such reference: the message can never be sent."""


@dataclass(frozen=True)
class Contact:
    full_name: str
    phone: str
    email: str | None
    procedure_code: str | None = None

    def __repr__(self) -> str:  # never let a log line print the person
        return "Contact(***)"


class ContactDirectory:
    def __init__(self, client: httpx.AsyncClient, intake_url: str, token: str) -> None:
        self._client = client
        self._url = intake_url.rstrip("/")
        self._token = token

    async def fetch(self, contact_ref: str) -> Contact:
        response = await self._client.get(
            f"{self._url}/internal/v1/contacts/{contact_ref}",
            headers={"X-Service-Token": self._token},
            timeout=5.0,
        )
        if response.status_code == httpx.codes.NOT_FOUND:
            raise ContactNotFound(contact_ref)
        response.raise_for_status()
        body = response.json()
        return Contact(
            full_name=body["full_name"],
            phone=body["phone"],
            email=body.get("email"),
            procedure_code=body.get("procedure_code"),
        )
