"""Notify's use cases: turn citizen-facing events into messages (the sender sends them).

A message is created in the consumer's transaction, deduplicated on (event id, channel,
contact reference). It stores the template id and version and the event's params, never
personal data: params that need it (the citizen's name) are filled in at send time from
intake's contact endpoint.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime, time
from typing import Any
from uuid import UUID, uuid4

from contracts.envelope import EventEnvelope
from services.notify.adapters.contacts import Contact, ContactDirectory
from services.notify.adapters.email import SmtpSender
from services.notify.domain.opt_out_link import OptOutLinks
from services.notify.domain.quiet_hours import DEFAULT_QUIET_WINDOW, VN_TZ, quiet_hours_defer
from services.notify.domain.rate_limit import DEFAULT_LIMITS, RateLimit
from services.notify.domain.templates import RenderedMessage, render
from services.notify.providers.esms import EsmsProvider
from services.notify.providers.failover import WeightedFailover
from services.notify.providers.zalo_zns import ZaloZnsProvider
from services.runtime.db import DbConn
from services.runtime.logs import mask_personal_data
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers

log = logging.getLogger(__name__)

CITIZEN_EVENTS = (
    "dossier.received",
    "dossier.supplement_requested",
    "dossier.obligation_requested",
    "dossier.result_ready",
    "apology.issued",
    "dossier.refused",
    "dossier.stopped",
)
# Events that tell notify about the dossier without a message of their own.
FACT_EVENTS = ("dossier.contact_ref_assigned", "dossier.opt_out_changed", "step.assigned")
# Params filled from the contact at send time; never stored in the message row.
PERSONAL_PARAMS = frozenset({"citizen_name", "opt_out_url"})
MASKED = "***"
# What the stored preview shows instead of the signed link (made at send time).
LINK_PLACEHOLDER = "[liên kết ngừng nhận tin]"
# When no link can be made (a reference intake did not issue): what the citizen reads.
NO_LINK = "xin liên hệ bộ phận một cửa"
# The contact of a dossier notify has not heard of from intake yet: the message waits.
PENDING_CONTACT = ""
DEFAULT_REASON = "xin liên hệ bộ phận một cửa để biết chi tiết"
DEFAULT_PROCEDURE = "thủ tục hành chính"


@dataclass
class NotifyContext:
    runtime: Runtime
    procedure_names: dict[str, str]
    contacts: ContactDirectory
    smtp: SmtpSender
    sms: WeightedFailover
    zalo: ZaloZnsProvider | None = None
    esms: EsmsProvider | None = None  # also inside `sms`; here for its status query
    unit_names: dict[str, str] = field(default_factory=dict)
    # Procedure code → document type code → name: routing names missing papers by code.
    document_names: dict[str, dict[str, str]] = field(default_factory=dict)
    quiet_window: tuple[time, time] | None = DEFAULT_QUIET_WINDOW
    quiet_by_unit: dict[str, tuple[time, time] | None] = field(default_factory=dict)
    rate_limits: tuple[RateLimit, ...] = DEFAULT_LIMITS
    max_attempts: int = 5
    retry_base_seconds: float = 2.0
    retry_cap_seconds: float = 300.0
    lease_seconds: float = 30.0
    batch_size: int = 200
    concurrency: int = 64
    links: OptOutLinks | None = None

    def quiet_for(self, unit_code: str | None) -> tuple[time, time] | None:
        if unit_code is not None and unit_code in self.quiet_by_unit:
            return self.quiet_by_unit[unit_code]
        return self.quiet_window


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``"22:00-07:00"`` → (22:00, 07:00); empty → None (no quiet hours)."""
    if not text.strip():
        return None
    start, end = text.split("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def parse_rate_limits(text: str) -> tuple[RateLimit, ...]:
    """``"5/600,20/86400"`` → 5 per 10 minutes and 20 per day; empty → no limit."""
    from datetime import timedelta

    limits = []
    for part in text.split(","):
        if part.strip():
            count, seconds = part.split("/")
            limits.append(RateLimit(int(count), timedelta(seconds=float(seconds))))
    return tuple(limits)


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
    return params


def phone_channel(zalo_enabled: bool, opted_out: set[str]) -> str | None:
    """Zalo first when enabled (it falls back to SMS per number), else SMS."""
    if zalo_enabled and "zalo" not in opted_out:
        return "zalo"
    if "sms" not in opted_out:
        return "sms"
    return None


async def remember_dossier(conn: DbConn, env: EventEnvelope) -> None:
    p = env.payload
    contact_ref = str(p["contact_ref"])
    await conn.execute(
        "INSERT INTO dossier_facts (dossier_id, dossier_code, procedure_code, receiving_unit,"
        " contact_ref) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (dossier_id) DO NOTHING",
        env.dossier_id,
        p["dossier_code"],
        p["procedure_code"],
        p["receiving_unit"],
        contact_ref,
    )
    # Messages of events that arrived first (other topics) waited for the contact.
    await conn.execute(
        "UPDATE messages SET contact_ref = $2, updated_at = now()"
        " WHERE dossier_id = $1 AND contact_ref = $3",
        env.dossier_id,
        contact_ref,
        PENDING_CONTACT,
    )


async def remember_unit(conn: DbConn, dossier_id: UUID, unit_code: str | None) -> None:
    """A unit the dossier belongs to: its operators may read its messages and opt-outs."""
    if unit_code:
        await conn.execute(
            "INSERT INTO dossier_units (dossier_id, unit_code) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            dossier_id,
            unit_code,
        )


async def on_fact_event(conn: DbConn, env: EventEnvelope) -> None:
    """Events that change what notify knows, not what it sends."""
    p = env.payload
    if env.event_type == "step.assigned":
        await remember_unit(conn, env.dossier_id, p.get("unit_code"))
    elif env.event_type == "dossier.contact_ref_assigned":
        await replace_contact_ref(conn, env.dossier_id, str(p["contact_ref"]))
    elif env.event_type == "dossier.opt_out_changed":
        contact_ref = await conn.fetchval(
            "SELECT contact_ref FROM dossier_facts WHERE dossier_id = $1", env.dossier_id
        )
        if contact_ref is None:
            log.warning("opt-out for dossier %s before its facts; ignored", env.dossier_id)
            return
        await set_opt_out(
            conn, contact_ref, p["channel"], bool(p["opted_out"]), f"portal:{p['portal_id']}"
        )


async def replace_contact_ref(conn: DbConn, dossier_id: UUID, new_ref: str) -> None:
    """Intake gave the dossier a new (random) reference: every table holding the old one
    (the dossier id, before references were random) moves to the new one."""
    old = await conn.fetchval(
        "SELECT contact_ref FROM dossier_facts WHERE dossier_id = $1", dossier_id
    )
    olds = [r for r in {old, str(dossier_id)} if r is not None and r != new_ref]
    await conn.execute(
        "UPDATE dossier_facts SET contact_ref = $2 WHERE dossier_id = $1", dossier_id, new_ref
    )
    await conn.execute(
        "UPDATE messages SET contact_ref = $2, updated_at = now()"
        " WHERE dossier_id = $1 AND contact_ref <> $2",
        dossier_id,
        new_ref,
    )
    if olds:
        await conn.execute(
            "INSERT INTO opt_outs (contact_ref, channel, created_at, source)"
            " SELECT $2, channel, created_at, source FROM opt_outs"
            " WHERE contact_ref = ANY($1::text[]) ON CONFLICT DO NOTHING",
            olds,
            new_ref,
        )
        await conn.execute("DELETE FROM opt_outs WHERE contact_ref = ANY($1::text[])", olds)


async def set_opt_out(
    conn: DbConn, contact_ref: str, channel: str, opted_out: bool, source: str
) -> bool:
    """Stop (or resume) a channel for a contact; True when something changed."""
    if opted_out:
        result: str = await conn.execute(
            "INSERT INTO opt_outs (contact_ref, channel, source) VALUES ($1, $2, $3)"
            " ON CONFLICT DO NOTHING",
            contact_ref,
            channel,
            source,
        )
    else:
        result = await conn.execute(
            "DELETE FROM opt_outs WHERE contact_ref = $1 AND channel = $2", contact_ref, channel
        )
    changed = not result.endswith(" 0")
    if changed:
        log.info(
            "opt-out %s for channel %s by %s", "set" if opted_out else "lifted", channel, source
        )
    return changed


async def on_citizen_event(
    ctx: NotifyContext, conn: DbConn, env: EventEnvelope, *, zalo_enabled: bool
) -> int:
    """Create this event's messages; returns how many were new."""
    if env.event_type == "dossier.received":
        await remember_dossier(conn, env)
    facts = await conn.fetchrow(
        "SELECT procedure_code, receiving_unit, contact_ref FROM dossier_facts"
        " WHERE dossier_id = $1",
        env.dossier_id,
    )
    params, unit = event_params(env, ctx.unit_names)
    if facts is not None:
        params.setdefault("procedure_code", facts["procedure_code"])
        unit = unit or facts["receiving_unit"]
    await remember_unit(conn, env.dossier_id, unit)
    if "missing_papers" in params:
        names = ctx.document_names.get(params.get("procedure_code") or "", {})
        params["missing_papers"] = [names.get(p, p) for p in params["missing_papers"]]
    # Never the dossier id: until intake's `dossier.received` arrives (topics keep no
    # order between them) the message waits with no contact.
    contact_ref = str(
        env.payload.get("contact_ref")
        or (facts["contact_ref"] if facts is not None else None)
        or PENDING_CONTACT
    )
    opted_out = {
        r["channel"]
        for r in await conn.fetch(
            "SELECT channel FROM opt_outs WHERE contact_ref = $1", contact_ref
        )
    }
    channels = [c for c in ("email",) if c not in opted_out]
    phone = phone_channel(zalo_enabled, opted_out)
    if phone is not None:
        channels.append(phone)
    now = datetime.now(UTC)
    created = 0
    for channel in channels:
        send_at = quiet_hours_defer_for(ctx, now, channel, unit) or now
        if await create_message(
            conn,
            event_id=env.event_id,
            event_type=env.event_type,
            dossier_id=env.dossier_id,
            channel=channel,
            contact_ref=contact_ref,
            unit_code=unit,
            params=params,
            procedure_names=ctx.procedure_names,
            send_at=send_at,
        ):
            created += 1
    return created


def quiet_hours_defer_for(
    ctx: NotifyContext, now: datetime, channel: str, unit: str | None
) -> datetime | None:
    window = ctx.quiet_for(unit)
    return quiet_hours_defer(now, channel, window) if window is not None else None


def preview(
    event_type: str, channel: str, params: Mapping[str, Any], names: Mapping[str, str]
) -> RenderedMessage:
    """Render with personal params masked: validates the params now (a broken event is
    dead-lettered by the consumer instead of failing at every send) and gives the
    operator view a text free of personal data."""
    return render(event_type, channel, render_params(params, names, None))


async def create_message(
    conn: DbConn,
    *,
    event_id: UUID,
    event_type: str,
    dossier_id: UUID,
    channel: str,
    contact_ref: str,
    unit_code: str | None,
    params: Mapping[str, Any],
    procedure_names: Mapping[str, str],
    send_at: datetime,
    fallback_of: UUID | None = None,
) -> UUID | None:
    rendered = preview(event_type, channel, params, procedure_names)
    text = rendered.sms.unaccented.text if rendered.sms is not None else rendered.text
    message_id = uuid4()
    inserted = await conn.fetchval(
        "INSERT INTO messages (id, event_id, event_type, channel, contact_ref, dossier_id,"
        " dossier_code, unit_code, template_id, template_version, provider_template, subject,"
        " body_text, body_html, status, next_attempt_at, trace_headers, params, fallback_of)"
        " VALUES ($1,$2,$3,$4,$5,$6,$7,$8,$9,$10,$11::jsonb,$12,$13,$14,'created',$15,"
        " $16::jsonb,$17::jsonb,$18)"
        " ON CONFLICT (event_id, channel, contact_ref) DO NOTHING RETURNING true",
        message_id,
        event_id,
        event_type,
        channel,
        contact_ref,
        dossier_id,
        params["dossier_code"],
        unit_code,
        rendered.template_id,
        rendered.template_version,
        _json(dict(rendered.provider_template_ids)),
        rendered.subject,
        text,
        rendered.html,
        send_at,
        # The send happens later, in the sender job; this keeps it in the dossier's trace.
        _json(current_trace_headers()),
        _json(dict(params)),
        fallback_of,
    )
    if not inserted:
        return None
    await conn.execute(
        "INSERT INTO message_status_history (message_id, status, detail)"
        " VALUES ($1, 'created', $2)",
        message_id,
        f"{rendered.template_ref}" + (f"; fallback of {fallback_of}" if fallback_of else ""),
    )
    return message_id


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_default)


def _default(value: object) -> str:
    if isinstance(value, date | datetime | UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
