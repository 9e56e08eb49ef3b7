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
from services.notify.domain.quiet_hours import DEFAULT_QUIET_WINDOW, VN_TZ, quiet_hours_defer
from services.notify.domain.rate_limit import DEFAULT_LIMITS, RateLimit
from services.notify.domain.templates import RenderedMessage, render
from services.notify.providers.esms import EsmsProvider
from services.notify.providers.failover import WeightedFailover
from services.notify.providers.zalo_zns import ZaloZnsProvider
from services.runtime.db import DbConn
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
# Params filled from the contact at send time; never stored in the message row.
PERSONAL_PARAMS = frozenset({"citizen_name"})
MASKED = "***"
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
        params["reason"] = p.get("reason") or DEFAULT_REASON
    elif kind == "apology.issued":
        unit = p["responsible_unit"]
        params["reason"] = p["reason"]
        params["responsible_unit"] = unit_names.get(unit, unit)
        params["new_appointment_date"] = _local_date(p["new_appointment_at"])
    return params, unit


def render_params(
    stored: Mapping[str, Any],
    procedure_names: Mapping[str, str],
    contact: Contact | None,
) -> dict[str, Any]:
    """Stored params plus what is known only now: procedure name, personal params."""
    params = dict(stored)
    code = params.get("procedure_code") or (contact.procedure_code if contact else None)
    params["procedure_name"] = procedure_names.get(code or "", DEFAULT_PROCEDURE)
    params["citizen_name"] = contact.full_name if contact is not None else MASKED
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
    await conn.execute(
        "INSERT INTO dossier_facts (dossier_id, dossier_code, procedure_code, receiving_unit,"
        " contact_ref) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (dossier_id) DO NOTHING",
        env.dossier_id,
        p["dossier_code"],
        p["procedure_code"],
        p["receiving_unit"],
        str(p.get("contact_ref") or env.dossier_id),
    )


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
    if "missing_papers" in params:
        names = ctx.document_names.get(params.get("procedure_code") or "", {})
        params["missing_papers"] = [names.get(p, p) for p in params["missing_papers"]]
    contact_ref = str(
        env.payload.get("contact_ref")
        or (facts["contact_ref"] if facts is not None else None)
        or env.dossier_id
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
