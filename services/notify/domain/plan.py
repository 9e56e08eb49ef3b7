"""Which messages a dossier event produces: per channel, with which template, when.

Pure: `plan(event, facts, prefs, now, rules)` is all the consumer decides; the store
loads the facts and preferences before and saves the messages after. Params that are
personal (the citizen's name, the signed opt-out link) are never planned: they are
filled in at send time. A message planned before intake's `dossier.received` told the
contact reference waits with `PENDING_CONTACT` (never the dossier id, which is public).
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from datetime import UTC, datetime
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import EventEnvelope
from contracts.vietnam import VN_TZ
from services.notify.domain.model import (
    ClaimedMessage,
    Contact,
    DossierFacts,
    NewMessage,
    Prefs,
    Rules,
)
from services.notify.domain.quiet_hours import quiet_hours_defer
from services.notify.domain.templates import RenderedMessage, render
from services.runtime.logs import mask_personal_data

CITIZEN_EVENTS = (
    "dossier.received",
    "dossier.supplement_requested",
    "dossier.obligation_requested",
    "dossier.result_ready",
    "apology.issued",
    "dossier.refused",
    "dossier.stopped",
    "dossier.postal_tracking",
)
# Events that tell notify about the dossier without a message of their own.
FACT_EVENTS = ("dossier.contact_ref_assigned", "dossier.opt_out_changed", "step.assigned")
# Params filled from the contact at send time; never stored in the message row.
PERSONAL_PARAMS = frozenset({"citizen_name", "opt_out_url", "rating_url"})
MASKED = "***"
# What the stored preview shows instead of the signed link (made at send time).
LINK_PLACEHOLDER = "[liên kết ngừng nhận tin]"
# When no link can be made (a reference intake did not issue): what the citizen reads.
NO_LINK = "xin liên hệ bộ phận một cửa"
# What the stored preview shows instead of the signed rating link (made at send time).
RATING_PLACEHOLDER = "[liên kết đánh giá]"
# The contact of a dossier notify has not heard of from intake yet: the message waits.
PENDING_CONTACT = ""
DEFAULT_REASON = "xin liên hệ bộ phận một cửa để biết chi tiết"
DEFAULT_PROCEDURE = "thủ tục hành chính"
NewId = Callable[[], UUID]


def _local_date(value: str) -> str:
    """An ISO datetime as the Vietnamese calendar date the citizen reads."""
    moment = datetime.fromisoformat(value)
    if moment.tzinfo is None:
        moment = moment.replace(tzinfo=UTC)
    return moment.astimezone(VN_TZ).date().isoformat()


def event_params(
    env: EventEnvelope, unit_names: Mapping[str, str]
) -> tuple[dict[str, Any], str | None]:
    """The stored (non-personal) params of an event, and the unit whose rules apply."""
    p = env.payload
    params: dict[str, Any] = {"dossier_code": p["dossier_code"]}
    if p.get("procedure_code"):
        params["procedure_code"] = p["procedure_code"]
    unit: str | None = p.get("unit_code") or p.get("receiving_unit")
    kind = env.event_type
    if kind == "dossier.received":
        params["appointment_date"] = _local_date(p["appointment_at"])
    elif kind == "dossier.supplement_requested":
        params["missing_papers"] = list(p["missing_documents"])
    elif kind == "dossier.obligation_requested":
        params["amount"] = int(p["amount_vnd"])
    elif kind in ("dossier.refused", "dossier.stopped"):
        # Officials' free text: no third person's phone, e-mail, ID number or name.
        params["reason"] = mask_personal_data(p.get("reason") or DEFAULT_REASON)
    elif kind == "dossier.postal_tracking":
        params["tracking_number"] = str(p["tracking_number"])
    elif kind == "apology.issued":
        unit = p["responsible_unit"]
        params["reason"] = mask_personal_data(p["reason"])
        params["responsible_unit"] = unit_names.get(unit, unit)
        params["new_appointment_date"] = _local_date(p["new_appointment_at"])
    return params, unit


def render_params(
    stored: Mapping[str, Any],
    procedure_names: Mapping[str, str],
    contact: Contact | None,
    opt_out_url: str | None = None,
    rating_url: str | None = None,
) -> dict[str, Any]:
    """Stored params plus what is known only now: procedure name, personal params (the
    citizen's name, the signed opt-out link; masked when there is no contact)."""
    params = dict(stored)
    code = params.get("procedure_code") or (contact.procedure_code if contact else None)
    params["procedure_name"] = procedure_names.get(code or "", DEFAULT_PROCEDURE)
    params["citizen_name"] = contact.full_name if contact is not None else MASKED
    if contact is None:
        params["opt_out_url"] = LINK_PLACEHOLDER
    else:
        params["opt_out_url"] = opt_out_url or NO_LINK
    # The result message's rating link (other templates do not use it).
    params["rating_url"] = (rating_url or NO_LINK) if contact is not None else RATING_PLACEHOLDER
    return params


def preview(
    event_type: str, channel: str, params: Mapping[str, Any], names: Mapping[str, str]
) -> RenderedMessage:
    """Render with personal params masked: validates the params now (a broken event is
    dead-lettered by the consumer instead of failing at every send) and gives the
    operator view a text free of personal data."""
    return render(event_type, channel, render_params(params, names, None))


def phone_channel(zalo_enabled: bool, opted_out: set[str] | frozenset[str]) -> str | None:
    """Zalo first when enabled (it falls back to SMS per number), else SMS."""
    if zalo_enabled and "zalo" not in opted_out:
        return "zalo"
    if "sms" not in opted_out:
        return "sms"
    return None


def facts_from_event(env: EventEnvelope) -> DossierFacts | None:
    """The facts a `dossier.received` carries (its opaque contact reference is
    required); other events carry none."""
    if env.event_type != "dossier.received":
        return None
    p = env.payload
    return DossierFacts(
        dossier_code=p["dossier_code"],
        procedure_code=p["procedure_code"],
        receiving_unit=p["receiving_unit"],
        contact_ref=str(p["contact_ref"]),
    )


def contact_ref_of(env: EventEnvelope, facts: DossierFacts | None) -> str:
    """Whom the event's messages go to: the event's reference or the dossier's. Never
    the dossier id: until intake's `dossier.received` arrives (topics keep no order
    between them) the messages wait with `PENDING_CONTACT`."""
    return str(
        env.payload.get("contact_ref")
        or (facts.contact_ref if facts is not None else None)
        or PENDING_CONTACT
    )


def event_unit(event: EventEnvelope, facts: DossierFacts | None, rules: Rules) -> str | None:
    """The unit whose rules apply to the event's messages (and whose operators may read
    them): the event's own, else the dossier's receiving unit."""
    _, unit = event_params(event, rules.unit_names)
    facts = facts or facts_from_event(event)
    return unit or (facts.receiving_unit if facts is not None else None)


def stale_contact_refs(dossier_id: UUID, current: str | None, new_ref: str) -> list[str]:
    """The references a dossier's rows may hold that `new_ref` replaces: the one notify
    knew and the dossier id (what references were before they were random)."""
    return sorted(r for r in {current, str(dossier_id)} if r is not None and r != new_ref)


def opt_out_source(event: EventEnvelope) -> str:
    """Who stopped or resumed a channel, as recorded (`dossier.opt_out_changed`)."""
    return f"portal:{event.payload['portal_id']}"


def quiet_until(rules: Rules, now: datetime, channel: str, unit: str | None) -> datetime | None:
    """When a message of this channel and unit may go instead of `now` (quiet hours)."""
    window = rules.quiet_for(unit)
    return quiet_hours_defer(now, channel, window) if window is not None else None


def plan(
    event: EventEnvelope,
    facts: DossierFacts | None,
    prefs: Prefs,
    now: datetime,
    rules: Rules,
    new_id: NewId = uuid4,
) -> list[NewMessage]:
    """The messages `event` produces for its citizen.

    `facts` are the dossier's remembered facts (None before its `dossier.received` was
    seen; then the event's own facts count); `prefs` are those of `contact_ref_of(event,
    facts)`. Email unless opted out, and one phone channel (Zalo, else SMS); SMS and Zalo
    inside the unit's quiet hours are due when they end.
    """
    if event.event_type == "dossier.postal_tracking" and (
        event.payload.get("postal_status") != "created"
    ):
        return []  # the parcel's later moves are in the timeline; the number was told once
    facts = facts or facts_from_event(event)
    params, unit = event_params(event, rules.unit_names)
    if facts is not None:
        params.setdefault("procedure_code", facts.procedure_code)
        unit = unit or facts.receiving_unit
    if "missing_papers" in params:
        names = rules.document_names.get(params.get("procedure_code") or "", {})
        params["missing_papers"] = [names.get(p, p) for p in params["missing_papers"]]
    contact_ref = contact_ref_of(event, facts)
    channels = [c for c in ("email",) if c not in prefs.opted_out]
    phone = phone_channel(prefs.zalo_enabled, prefs.opted_out)
    if phone is not None:
        channels.append(phone)
    return [
        new_message(
            event_id=event.event_id,
            event_type=event.event_type,
            dossier_id=event.dossier_id,
            channel=channel,
            contact_ref=contact_ref,
            unit_code=unit,
            params=params,
            rules=rules,
            send_at=quiet_until(rules, now, channel, unit) or now,
            new_id=new_id,
        )
        for channel in channels
    ]


def new_message(
    *,
    event_id: UUID,
    event_type: str,
    dossier_id: UUID,
    channel: str,
    contact_ref: str,
    unit_code: str | None,
    params: Mapping[str, Any],
    rules: Rules,
    send_at: datetime,
    fallback_of: UUID | None = None,
    new_id: NewId = uuid4,
) -> NewMessage:
    """One message with its masked preview (which also checks the params now)."""
    rendered = preview(event_type, channel, params, rules.procedure_names)
    text = rendered.sms.unaccented.text if rendered.sms is not None else rendered.text
    return NewMessage(
        id=new_id(),
        event_id=event_id,
        event_type=event_type,
        channel=channel,
        contact_ref=contact_ref,
        dossier_id=dossier_id,
        dossier_code=str(params["dossier_code"]),
        unit_code=unit_code,
        params=dict(params),
        send_at=send_at,
        template_id=rendered.template_id,
        template_version=rendered.template_version,
        provider_template=dict(rendered.provider_template_ids),
        subject=rendered.subject,
        body_text=text,
        body_html=rendered.html,
        detail=rendered.template_ref + (f"; fallback of {fallback_of}" if fallback_of else ""),
        fallback_of=fallback_of,
    )


def sms_fallback(
    message: ClaimedMessage, rules: Rules, now: datetime, new_id: NewId = uuid4
) -> NewMessage:
    """The same notice by SMS when Zalo cannot carry it (deduplicated like any other)."""
    return new_message(
        event_id=message.event_id,
        event_type=message.event_type,
        dossier_id=message.dossier_id,
        channel="sms",
        contact_ref=message.contact_ref,
        unit_code=message.unit_code,
        params=message.params,
        rules=rules,
        send_at=now,
        fallback_of=message.id,
        new_id=new_id,
    )
