"""Notify's use cases: turn citizen-facing events into messages (the sender sends them).

Each handler loads, decides (pure, in ``domain/``), saves: `on_citizen_event` loads the
dossier's facts and the contact's preferences, `plan` decides the messages, the store
creates them (deduplicated on event id, channel and contact reference). A message stores
the template id and version and the event's params, never personal data: params that
need it (the citizen's name, the signed opt-out link) are filled in at send time from
intake's contacts. `on_fact_event` records what changes what notify knows (a dossier's
new contact reference, a portal's opt-out, a unit the dossier was assigned to).
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field, replace
from datetime import datetime, time, timedelta
from uuid import UUID

from contracts.envelope import EventEnvelope
from services.notify.adapters import store
from services.notify.adapters.contacts import ContactDirectory
from services.notify.adapters.email import SmtpSender
from services.notify.domain.admission import AdmissionRules
from services.notify.domain.lifecycle import RetryPolicy
from services.notify.domain.model import DossierFacts, NewMessage, Prefs, Rules
from services.notify.domain.opt_out_link import OptOutLinks
from services.notify.domain.plan import (
    CITIZEN_EVENTS,
    DEFAULT_PROCEDURE,
    DEFAULT_REASON,
    FACT_EVENTS,
    LINK_PLACEHOLDER,
    MASKED,
    NO_LINK,
    PENDING_CONTACT,
    PERSONAL_PARAMS,
    contact_ref_of,
    event_params,
    event_unit,
    facts_from_event,
    opt_out_source,
    phone_channel,
    plan,
    preview,
    quiet_until,
    render_params,
)
from services.notify.domain.quiet_hours import DEFAULT_QUIET_WINDOW
from services.notify.domain.rate_limit import DEFAULT_LIMITS, RateLimit
from services.notify.domain.rating import RatingLinks
from services.notify.providers.esms import EsmsProvider
from services.notify.providers.failover import WeightedFailover
from services.notify.providers.zalo_zns import ZaloZnsProvider
from services.runtime import clock
from services.runtime.db import DbConn
from services.runtime.service import Runtime

__all__ = [
    "CITIZEN_EVENTS",
    "DEFAULT_PROCEDURE",
    "DEFAULT_REASON",
    "FACT_EVENTS",
    "LINK_PLACEHOLDER",
    "MASKED",
    "NO_LINK",
    "PENDING_CONTACT",
    "PERSONAL_PARAMS",
    "NotifyContext",
    "event_params",
    "on_citizen_event",
    "on_citizen_events",
    "on_events",
    "on_fact_event",
    "parse_quiet_hours",
    "parse_rate_limits",
    "phone_channel",
    "preview",
    "quiet_hours_defer_for",
    "render_params",
]

log = logging.getLogger(__name__)
STEP_ASSIGNED = "step.assigned"


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
    zalo_enabled: bool = True
    # Retries: 30 s doubling to 30 min, for 24 h from the first failure (or the count).
    max_attempts: int = 100
    retry_base_seconds: float = 30.0
    retry_cap_seconds: float = 1800.0
    retry_for_seconds: float = 24 * 3600.0
    # A Zalo message failing this often goes by SMS instead of waiting for Zalo.
    zalo_max_attempts: int = 3
    lease_seconds: float = 30.0
    batch_size: int = 200
    concurrency: int = 64  # messages in flight at most
    zalo_concurrency: int = 16  # requests in flight to the Zalo gateway at most
    links: OptOutLinks | None = None  # signs each message's opt-out link at send time
    rating_links: RatingLinks | None = None  # signs the result message's rating link

    def quiet_for(self, unit_code: str | None) -> tuple[time, time] | None:
        if unit_code is not None and unit_code in self.quiet_by_unit:
            return self.quiet_by_unit[unit_code]
        return self.quiet_window

    @property
    def rules(self) -> Rules:
        return Rules(
            procedure_names=self.procedure_names,
            unit_names=self.unit_names,
            document_names=self.document_names,
            quiet_window=self.quiet_window,
            quiet_by_unit=self.quiet_by_unit,
        )

    @property
    def retry_policy(self) -> RetryPolicy:
        return RetryPolicy(
            self.max_attempts,
            self.retry_base_seconds,
            self.retry_cap_seconds,
            self.retry_for_seconds,
        )

    @property
    def admission(self) -> AdmissionRules:
        return AdmissionRules(self.rules, self.rate_limits, self.max_attempts)


def parse_quiet_hours(text: str) -> tuple[time, time] | None:
    """``"22:00-07:00"`` → (22:00, 07:00); empty → None (no quiet hours)."""
    if not text.strip():
        return None
    start, end = text.split("-")
    return time.fromisoformat(start.strip()), time.fromisoformat(end.strip())


def parse_rate_limits(text: str) -> tuple[RateLimit, ...]:
    """``"5/600,20/86400"`` → 5 per 10 minutes and 20 per day; empty → no limit."""
    limits = []
    for part in text.split(","):
        if part.strip():
            count, seconds = part.split("/")
            limits.append(RateLimit(int(count), timedelta(seconds=float(seconds))))
    return tuple(limits)


def quiet_hours_defer_for(
    ctx: NotifyContext, now: datetime, channel: str, unit: str | None
) -> datetime | None:
    quiet = Rules(quiet_window=ctx.quiet_window, quiet_by_unit=ctx.quiet_by_unit)
    return quiet_until(quiet, now, channel, unit)


def on_wall(messages: list[NewMessage]) -> list[NewMessage]:
    """Quiet hours are decided on the business clock; the sender schedules on the wall
    clock, so each message's send time is the wall instant business time reaches it."""
    if clock.current().is_wall:
        return messages
    return [replace(m, send_at=clock.wall_of(m.send_at)) for m in messages]


async def on_citizen_event(
    ctx: NotifyContext,
    conn: DbConn,
    env: EventEnvelope,
    *,
    zalo_enabled: bool | None = None,
    rules: Rules | None = None,
) -> int:
    """Create this event's messages; returns how many were new. Messages of an event
    that came before the dossier's `dossier.received` wait for its contact reference."""
    rules = rules or ctx.rules
    await store.lock_dossiers(conn, [env.dossier_id])
    facts = await store.load_facts(conn, env.dossier_id)
    told = facts_from_event(env)
    if told is not None:  # also moves the messages waiting for this contact to it
        await store.save_facts(conn, env.dossier_id, told)
    await store.remember_unit(conn, env.dossier_id, event_unit(env, facts, rules))
    contact_ref = contact_ref_of(env, facts or told)
    zalo = ctx.zalo_enabled if zalo_enabled is None else zalo_enabled
    prefs = await store.load_prefs(conn, contact_ref, zalo_enabled=zalo)
    messages = on_wall(plan(env, facts, prefs, clock.now(), rules))
    return len(await store.insert_messages(conn, messages))


async def on_citizen_events(
    ctx: NotifyContext,
    conn: DbConn,
    events: Sequence[EventEnvelope],
    trace_headers: Sequence[Mapping[str, str]] | None = None,
    *,
    zalo_enabled: bool | None = None,
) -> int:
    """`on_citizen_event` for a run of consecutive events, with set-based statements: one
    load of the dossiers' facts and one of the contacts' opt-outs, the events planned in
    order (a dossier's facts told by an event count for the events after it), then one
    INSERT of every message, of the facts and of the units. Returns how many messages
    were new. `trace_headers[i]` is the trace context of event i's messages."""
    if not events:
        return 0
    rules = ctx.rules
    zalo = ctx.zalo_enabled if zalo_enabled is None else zalo_enabled
    dossiers = list({e.dossier_id: None for e in events})
    await store.lock_dossiers(conn, dossiers)
    known = await store.load_facts_many(conn, dossiers)
    told: dict[UUID, DossierFacts] = {}
    units: dict[tuple[UUID, str], None] = {}
    planned: list[tuple[EventEnvelope, DossierFacts | None, str, int]] = []
    for i, env in enumerate(events):
        facts = known.get(env.dossier_id)
        new_facts = facts_from_event(env)
        if new_facts is not None:
            told.setdefault(env.dossier_id, new_facts)
            if facts is None:  # the first dossier.received wins, as in the store
                known[env.dossier_id] = new_facts
        unit = event_unit(env, facts, rules)
        if unit:
            units[(env.dossier_id, unit)] = None
        planned.append((env, facts, contact_ref_of(env, facts or new_facts), i))
    refused = await store.opted_out(conn, sorted({ref for _, _, ref, _ in planned}))
    now = clock.now()
    messages: list[NewMessage] = []
    headers: list[Mapping[str, str]] = []
    for env, facts, ref, i in planned:
        prefs = Prefs(
            opted_out=frozenset(ch for r, ch in refused if r == ref) if refused else frozenset(),
            zalo_enabled=zalo,
        )
        made = on_wall(plan(env, facts, prefs, now, rules))
        messages.extend(made)
        headers.extend([trace_headers[i] if trace_headers else {}] * len(made))
    created = await store.insert_messages(conn, messages, headers)
    await store.save_facts_many(conn, list(told.items()))
    await store.remember_units(conn, list(units))
    return len(created)


async def on_events(
    ctx: NotifyContext,
    conn: DbConn,
    events: Sequence[EventEnvelope],
    trace_headers: Sequence[Mapping[str, str]],
    *,
    zalo_enabled: bool | None = None,
) -> None:
    """A consumed batch of every type notify hears, in order, with few statements.

    All its dossiers are locked at once (in one order). A unit a step was assigned to
    only widens who may read the dossier's messages and changes no decision, so every
    `step.assigned` of the batch is remembered in one statement. The other facts (a new
    contact reference, an opt-out) change what the events after them mean: each is
    applied in its place, and the citizen events between two of them are one run."""
    if not events:
        return
    await store.lock_dossiers(conn, [e.dossier_id for e in events])
    await store.remember_units(
        conn,
        list(
            dict.fromkeys(
                (e.dossier_id, str(e.payload["unit_code"]))
                for e in events
                if e.event_type == STEP_ASSIGNED and e.payload.get("unit_code")
            )
        ),
    )
    start = 0
    for i, env in enumerate(events):
        if env.event_type in CITIZEN_EVENTS:
            continue
        if start < i:
            await on_citizen_events(
                ctx, conn, events[start:i], trace_headers[start:i], zalo_enabled=zalo_enabled
            )
        start = i + 1
        if env.event_type != STEP_ASSIGNED:
            await on_fact_event(conn, env)
    if start < len(events):
        await on_citizen_events(
            ctx, conn, events[start:], trace_headers[start:], zalo_enabled=zalo_enabled
        )


async def on_fact_event(conn: DbConn, env: EventEnvelope) -> None:
    """Events that change what notify knows, not what it sends."""
    await store.lock_dossiers(conn, [env.dossier_id])
    p = env.payload
    if env.event_type == STEP_ASSIGNED:
        await store.remember_unit(conn, env.dossier_id, p.get("unit_code"))
    elif env.event_type == "dossier.contact_ref_assigned":
        await store.replace_contact_ref(conn, env.dossier_id, str(p["contact_ref"]))
    elif env.event_type == "dossier.opt_out_changed":
        contact_ref = await store.facts_contact_ref(conn, env.dossier_id)
        if contact_ref is None:
            log.warning("opt-out for dossier %s before its facts; ignored", env.dossier_id)
            return
        await store.set_opt_out(
            conn, contact_ref, p["channel"], bool(p["opted_out"]), opt_out_source(env)
        )
