"""Notify's PostgreSQL store: every statement notify runs lives here (the notifications
read view aside, in ``entrypoints/http.py``).

Writes are set-based: a batch of messages is one INSERT, a batch of status changes is
one UPDATE, one multi-row history INSERT and one outbox INSERT, whatever its size.
"""

from __future__ import annotations

import json
import logging
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta
from typing import Any
from uuid import UUID

from asyncpg import Record

from contracts.envelope import EventEnvelope
from contracts.events import NotificationStatusChanged
from services.notify.domain.admission import (
    AdmissionRules,
    Candidate,
    RecipientKey,
    Verdict,
    admit_batch,
)
from services.notify.domain.lifecycle import DeliveryStatus
from services.notify.domain.model import (
    ClaimedMessage,
    DossierFacts,
    NewMessage,
    Prefs,
    StatusChange,
)
from services.notify.domain.outcome import Merged, merge
from services.notify.domain.plan import PENDING_CONTACT, stale_contact_refs
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, append_records
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers

log = logging.getLogger(__name__)

STATUS_TOPIC = "dossier.notify"
STATUS_EVENT = "notification.status_changed"

# --- dossier facts and preferences ------------------------------------------------------


async def load_facts(conn: DbConn, dossier_id: UUID) -> DossierFacts | None:
    row = await conn.fetchrow(
        "SELECT dossier_code, procedure_code, receiving_unit, contact_ref FROM dossier_facts"
        " WHERE dossier_id = $1",
        dossier_id,
    )
    if row is None:
        return None
    return DossierFacts(
        row["dossier_code"], row["procedure_code"], row["receiving_unit"], row["contact_ref"]
    )


# A dossier's events come on several topics, so two instances may hold events of one
# dossier at once. Without this lock an event planned while the dossier's
# `dossier.received` is still uncommitted elsewhere would read no facts, and its messages
# would wait for a contact that the other transaction's UPDATE could not see. Keys in a
# fixed order, so two batches never wait on each other.
_LOCK_DOSSIERS = (
    "SELECT count(pg_advisory_xact_lock(k)) FROM (SELECT DISTINCT"
    " hashtextextended('notify.dossier:' || id::text, 0) AS k FROM unnest($1::uuid[]) AS id"
    " ORDER BY k) AS s"
)


async def lock_dossiers(conn: DbConn, dossier_ids: Iterable[UUID]) -> None:
    """Serialise this transaction with any other on the same dossiers (until it ends)."""
    ids = list(dict.fromkeys(dossier_ids))
    if ids:
        await conn.fetchval(_LOCK_DOSSIERS, ids)


async def save_facts(conn: DbConn, dossier_id: UUID, facts: DossierFacts) -> None:
    """The first `dossier.received` wins (a redelivery changes nothing); messages of
    events that arrived first (other topics) waited for its contact and now have it."""
    await conn.execute(
        "INSERT INTO dossier_facts (dossier_id, dossier_code, procedure_code, receiving_unit,"
        " contact_ref) VALUES ($1,$2,$3,$4,$5) ON CONFLICT (dossier_id) DO NOTHING",
        dossier_id,
        facts.dossier_code,
        facts.procedure_code,
        facts.receiving_unit,
        facts.contact_ref,
    )
    await conn.execute(
        "UPDATE messages SET contact_ref = $2, updated_at = now()"
        " WHERE dossier_id = $1 AND contact_ref = $3",
        dossier_id,
        facts.contact_ref,
        PENDING_CONTACT,
    )


async def load_facts_many(conn: DbConn, dossier_ids: Sequence[UUID]) -> dict[UUID, DossierFacts]:
    """The remembered facts of several dossiers (one statement)."""
    if not dossier_ids:
        return {}
    rows = await conn.fetch(
        "SELECT dossier_id, dossier_code, procedure_code, receiving_unit, contact_ref"
        " FROM dossier_facts WHERE dossier_id = ANY($1::uuid[])",
        list(dossier_ids),
    )
    return {
        r["dossier_id"]: DossierFacts(
            r["dossier_code"], r["procedure_code"], r["receiving_unit"], r["contact_ref"]
        )
        for r in rows
    }


async def save_facts_many(conn: DbConn, told: Sequence[tuple[UUID, DossierFacts]]) -> None:
    """`save_facts` for a batch: the first `dossier.received` of each dossier wins (one
    INSERT); messages that waited for the contact get it (one UPDATE). Run it after the
    batch's messages were inserted: those planned before their dossier's facts wait too."""
    if not told:
        return
    await conn.execute(
        "INSERT INTO dossier_facts (dossier_id, dossier_code, procedure_code, receiving_unit,"
        " contact_ref) SELECT * FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[],"
        " $5::text[]) ON CONFLICT (dossier_id) DO NOTHING",
        [d for d, _ in told],
        [f.dossier_code for _, f in told],
        [f.procedure_code for _, f in told],
        [f.receiving_unit for _, f in told],
        [f.contact_ref for _, f in told],
    )
    await conn.execute(
        "UPDATE messages m SET contact_ref = u.ref, updated_at = now()"
        " FROM unnest($1::uuid[], $2::text[]) AS u(dossier_id, ref)"
        " WHERE m.dossier_id = u.dossier_id AND m.contact_ref = $3",
        [d for d, _ in told],
        [f.contact_ref for _, f in told],
        PENDING_CONTACT,
    )


async def remember_units(conn: DbConn, pairs: Sequence[tuple[UUID, str]]) -> None:
    """`remember_unit` for a batch (one statement)."""
    if not pairs:
        return
    await conn.execute(
        "INSERT INTO dossier_units (dossier_id, unit_code)"
        " SELECT * FROM unnest($1::uuid[], $2::text[]) ON CONFLICT DO NOTHING",
        [d for d, _ in pairs],
        [u for _, u in pairs],
    )


async def facts_contact_ref(conn: DbConn, dossier_id: UUID) -> str | None:
    value: str | None = await conn.fetchval(
        "SELECT contact_ref FROM dossier_facts WHERE dossier_id = $1", dossier_id
    )
    return value


async def remember_unit(conn: DbConn, dossier_id: UUID, unit_code: str | None) -> None:
    """A unit the dossier belongs to: its operators may read its messages and opt-outs."""
    if unit_code:
        await conn.execute(
            "INSERT INTO dossier_units (dossier_id, unit_code) VALUES ($1, $2)"
            " ON CONFLICT DO NOTHING",
            dossier_id,
            unit_code,
        )


async def replace_contact_ref(conn: DbConn, dossier_id: UUID, new_ref: str) -> None:
    """Intake gave the dossier a new (random) reference: every table holding the old one
    (the dossier id, before references were random) moves to the new one."""
    olds = stale_contact_refs(dossier_id, await facts_contact_ref(conn, dossier_id), new_ref)
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


async def load_prefs(conn: DbConn, contact_ref: str, *, zalo_enabled: bool) -> Prefs:
    rows = await conn.fetch("SELECT channel FROM opt_outs WHERE contact_ref = $1", contact_ref)
    return Prefs(opted_out=frozenset(r["channel"] for r in rows), zalo_enabled=zalo_enabled)


async def opted_out(conn: DbConn, refs: Sequence[str]) -> set[RecipientKey]:
    return {
        (r["contact_ref"], r["channel"])
        for r in await conn.fetch(
            "SELECT contact_ref, channel FROM opt_outs WHERE contact_ref = ANY($1::text[])",
            list(refs),
        )
    }


# --- messages ---------------------------------------------------------------------------


async def insert_messages(
    conn: DbConn,
    messages: Sequence[NewMessage],
    trace_headers: Sequence[Mapping[str, str]] | None = None,
) -> list[UUID]:
    """Create messages (one statement) with their 'created' history rows; a message whose
    (event, channel, contact) already exists is skipped. Returns the ids created."""
    if not messages:
        return []
    headers = trace_headers or [current_trace_headers()] * len(messages)
    inserted = await conn.fetch(
        "INSERT INTO messages (id, event_id, event_type, channel, contact_ref, dossier_id,"
        " dossier_code, unit_code, template_id, template_version, provider_template, subject,"
        " body_text, body_html, status, next_attempt_at, trace_headers, params, fallback_of)"
        " SELECT id, ev, et, ch, cr, di, dc, uc, ti, tv, pt::jsonb, su, bt, bh, 'created', na,"
        " th::jsonb, pa::jsonb, fo FROM unnest($1::uuid[], $2::uuid[], $3::text[], $4::text[],"
        " $5::text[], $6::uuid[], $7::text[], $8::text[], $9::text[], $10::int[], $11::text[],"
        " $12::text[], $13::text[], $14::text[], $15::timestamptz[], $16::text[], $17::text[],"
        " $18::uuid[]) WITH ORDINALITY AS u(id, ev, et, ch, cr, di, dc, uc, ti, tv, pt, su, bt,"
        " bh, na, th, pa, fo, n) ORDER BY n"
        " ON CONFLICT (event_id, channel, contact_ref) DO NOTHING RETURNING id",
        [m.id for m in messages],
        [m.event_id for m in messages],
        [m.event_type for m in messages],
        [m.channel for m in messages],
        [m.contact_ref for m in messages],
        [m.dossier_id for m in messages],
        [m.dossier_code for m in messages],
        [m.unit_code for m in messages],
        [m.template_id for m in messages],
        [m.template_version for m in messages],
        [_json(dict(m.provider_template)) for m in messages],
        [m.subject for m in messages],
        [m.body_text for m in messages],
        [m.body_html for m in messages],
        [m.send_at for m in messages],
        [_json(dict(h)) for h in headers],
        [_json(dict(m.params)) for m in messages],
        [m.fallback_of for m in messages],
    )
    created = {r["id"] for r in inserted}
    fresh = [m for m in messages if m.id in created]
    rows = [(m.id, DeliveryStatus.CREATED.value, m.detail) for m in fresh]
    await _history(conn, rows, wake_senders=True)
    return [m.id for m in fresh]


def due_channel(schema: str) -> str:
    """Where new messages are announced (at commit) to the senders of every instance."""
    return f"{schema}_messages_due"


_ADD_HISTORY = (
    "INSERT INTO message_status_history (message_id, status, detail)"
    " SELECT m, s, d FROM unnest($1::uuid[], $2::text[], $3::text[])"
    " WITH ORDINALITY AS u(m, s, d, n) ORDER BY n"
)
# The pool's connections work in the service's schema (search_path): `due_channel` of it.
_ADD_HISTORY_AND_WAKE = (
    f"WITH added AS ({_ADD_HISTORY}) SELECT pg_notify(current_schema() || '_messages_due', '')"
)


async def _history(
    conn: DbConn, rows: Sequence[tuple[UUID, str, str]], *, wake_senders: bool = False
) -> None:
    if not rows:
        return
    await conn.execute(
        _ADD_HISTORY_AND_WAKE if wake_senders else _ADD_HISTORY,
        [r[0] for r in rows],
        [r[1] for r in rows],
        [r[2] for r in rows],
    )


# --- the claim --------------------------------------------------------------------------

_CLAIM_COLUMNS = (
    "id, event_id, event_type, channel, contact_ref, dossier_id, dossier_code, unit_code,"
    " template_id, template_version, params, trace_headers, attempts, status, provider,"
    " first_failure_at, lease_expiries"
)
# What a status change needs to know of its message (and announces).
_STATUS_COLUMNS = (
    "id, status, dossier_id, dossier_code, channel, template_id, template_version, provider"
)


async def claim(
    rt: Runtime,
    now: datetime,
    *,
    limit: int,
    lease_seconds: float,
    policy: AdmissionRules,
    first_provider: Callable[[str, str | None], str],
) -> list[ClaimedMessage]:
    """Take up to `limit` due messages (FOR UPDATE SKIP LOCKED: several senders never
    take the same one), decide admission, and mark the admitted ones 'sending' with a
    lease, all in one transaction. `first_provider(channel, provider)` names the gateway
    each admitted message goes to first."""
    async with rt.pool.acquire() as conn, conn.transaction():
        # Leases that ran out (a crash mid-send) first, then the due messages: two
        # index-friendly statements rather than one OR over both.
        rows = list(
            await conn.fetch(
                f"SELECT {_CLAIM_COLUMNS} FROM messages WHERE status = 'sending'"
                " AND lease_until < $1 ORDER BY lease_until LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                limit,
            )
        )
        if len(rows) < limit:
            rows += await conn.fetch(
                f"SELECT {_CLAIM_COLUMNS} FROM messages"
                " WHERE status IN ('created', 'temporary_failure') AND sent_at IS NULL"
                " AND next_attempt_at <= $1 AND contact_ref <> $3"
                " ORDER BY next_attempt_at LIMIT $2 FOR UPDATE SKIP LOCKED",
                now,
                limit - len(rows),
                PENDING_CONTACT,
            )
        if not rows:
            return []
        refs = sorted({r["contact_ref"] for r in rows})
        recent: dict[RecipientKey, list[datetime]] = {}
        if policy.rate_limits:
            horizon = now - max(limit.per for limit in policy.rate_limits)
            # Messages still in flight count too: another batch may be sending them now.
            for r in await conn.fetch(
                "SELECT contact_ref, channel, COALESCE(sent_at, updated_at) AS sent_at"
                " FROM messages WHERE contact_ref = ANY($1::text[])"
                " AND (sent_at > $2 OR status = 'sending')",
                refs,
                horizon,
            ):
                recent.setdefault((r["contact_ref"], r["channel"]), []).append(r["sent_at"])
        candidates = [
            Candidate(
                r["contact_ref"],
                r["channel"],
                r["unit_code"],
                DeliveryStatus(r["status"]),
                r["attempts"],
                r["lease_expiries"],
            )
            for r in rows
        ]
        decisions = admit_batch(
            candidates,
            now,
            opted_out=await opted_out(conn, refs),
            recent_sends=recent,
            policy=policy,
        )
        held: list[tuple[UUID, datetime]] = []
        ended: list[StatusChange] = []
        admitted: list[tuple[Record, str | None, bool]] = []  # row, provider, resent
        for row, decision in zip(rows, decisions, strict=True):
            verdict = decision.verdict
            if verdict is Verdict.HOLD:
                assert decision.until is not None
                held.append((row["id"], decision.until))
            elif verdict is Verdict.DROP:
                ended.append(
                    StatusChange(row["id"], DeliveryStatus.PERMANENT_FAILURE, decision.reason)
                )
            elif verdict is Verdict.GIVE_UP:
                ended.append(
                    StatusChange(
                        row["id"],
                        DeliveryStatus.TECHNICAL_FAILURE,
                        decision.reason,
                        dead_letter=True,
                        attempts=row["attempts"],
                    )
                )
            elif verdict is Verdict.RESEND:  # as it was: same gateway, same request id
                admitted.append((row, row["provider"], True))
            else:
                admitted.append((row, first_provider(row["channel"], row["provider"]), False))
        if held:
            await conn.execute(
                "UPDATE messages m SET next_attempt_at = u.at"
                " FROM unnest($1::uuid[], $2::timestamptz[]) AS u(id, at) WHERE m.id = u.id",
                [h[0] for h in held],
                [h[1] for h in held],
            )
        if ended:
            await apply_changes(conn, rt, ended, locked=rows)
        if not admitted:
            return []
        await conn.execute(
            "UPDATE messages m SET status = 'sending', attempts = m.attempts + 1,"
            " lease_until = $4, provider = u.provider,"
            " lease_expiries = m.lease_expiries + CASE WHEN u.resent THEN 1 ELSE 0 END,"
            " updated_at = now()"
            " FROM unnest($1::uuid[], $2::text[], $3::bool[]) AS u(id, provider, resent)"
            " WHERE m.id = u.id",
            [a[0]["id"] for a in admitted],
            [a[1] for a in admitted],
            [a[2] for a in admitted],
            now + timedelta(seconds=lease_seconds),
        )
        await _history(
            conn,
            [(a[0]["id"], DeliveryStatus.SENDING.value, "") for a in admitted if not a[2]],
        )
        return [_claimed(row, provider, resent) for row, provider, resent in admitted]


def _claimed(row: Record, provider: str | None, resent: bool) -> ClaimedMessage:
    return ClaimedMessage(
        id=row["id"],
        event_id=row["event_id"],
        event_type=row["event_type"],
        channel=row["channel"],
        contact_ref=row["contact_ref"],
        dossier_id=row["dossier_id"],
        dossier_code=row["dossier_code"],
        unit_code=row["unit_code"],
        template_id=row["template_id"],
        template_version=row["template_version"],
        params=json.loads(row["params"]),
        trace_headers=json.loads(row["trace_headers"]),
        attempts=row["attempts"] + 1,
        status=DeliveryStatus(row["status"]),
        provider=provider,
        first_failure_at=row["first_failure_at"],
        lease_expiries=row["lease_expiries"] + (1 if resent else 0),
    )


# --- status changes ---------------------------------------------------------------------


@dataclass(slots=True)
class _RowUpdate:
    """The column values one message ends with after its changes in a batch."""

    id: UUID
    status: str
    provider: str | None = None
    provider_message_id: str | None = None
    sent: bool = False
    error: str = ""
    next_attempt_at: datetime | None = None
    failure_at: datetime | None = None


def _row_updates(merged: Sequence[Merged]) -> list[_RowUpdate]:
    """Fold several changes of one message the way single updates would have."""
    rows: dict[UUID, _RowUpdate] = {}
    for m in merged:
        c = m.change
        row = rows.setdefault(c.message_id, _RowUpdate(c.message_id, m.after.value))
        row.status = m.after.value
        row.provider = c.provider or row.provider
        row.provider_message_id = row.provider_message_id or c.provider_message_id
        row.sent = row.sent or c.sent
        if c.status is not DeliveryStatus.SENT and c.detail:
            row.error = c.detail
        row.next_attempt_at = c.next_attempt_at or row.next_attempt_at
        row.failure_at = row.failure_at or c.failure_at
    return list(rows.values())


async def apply_changes(
    conn: DbConn,
    rt: Runtime,
    changes: Sequence[StatusChange],
    *,
    locked: Sequence[Record] | None = None,
) -> list[Merged]:
    """Merge a batch of status changes into their messages, inside the caller's
    transaction: rows locked (in id order), one UPDATE, one history INSERT, one outbox
    INSERT of `notification.status_changed` per real change, dead letters and SMS
    fallbacks. Returns every change with the status it left."""
    if not changes:
        return []
    ids = sorted({c.message_id for c in changes})
    if locked is None:
        locked = await conn.fetch(
            f"SELECT {_STATUS_COLUMNS} FROM messages WHERE id = ANY($1::uuid[])"
            " ORDER BY id FOR UPDATE",
            ids,
        )
    by_id = {r["id"]: r for r in locked}
    merged = merge({i: DeliveryStatus(r["status"]) for i, r in by_id.items()}, changes)
    updates = _row_updates(merged)
    if updates:
        await conn.execute(
            "UPDATE messages m SET status = u.status,"
            " provider = COALESCE(u.provider, m.provider),"
            " provider_message_id = COALESCE(m.provider_message_id, u.pmid),"
            " sent_at = CASE WHEN u.sent THEN COALESCE(m.sent_at, now()) ELSE m.sent_at END,"
            " last_error = CASE WHEN u.error = '' THEN m.last_error ELSE u.error END,"
            " next_attempt_at = COALESCE(u.next_at, m.next_attempt_at),"
            " lease_until = CASE WHEN u.status = 'sending' THEN m.lease_until END,"
            " first_failure_at = COALESCE(m.first_failure_at, u.failure_at),"
            " updated_at = now()"
            " FROM unnest($1::uuid[], $2::text[], $3::text[], $4::text[], $5::bool[],"
            " $6::text[], $7::timestamptz[], $8::timestamptz[])"
            " AS u(id, status, provider, pmid, sent, error, next_at, failure_at)"
            " WHERE m.id = u.id",
            [u.id for u in updates],
            [u.status for u in updates],
            [u.provider for u in updates],
            [u.provider_message_id for u in updates],
            [u.sent for u in updates],
            [u.error for u in updates],
            [u.next_attempt_at for u in updates],
            [u.failure_at for u in updates],
        )
    real = [m for m in merged if m.changed]
    await _history(conn, [(m.change.message_id, m.after.value, m.change.detail) for m in real])
    await append_records(
        conn,
        rt.schema,
        [_status_event(rt, by_id[m.change.message_id], m) for m in real],
        current_trace_headers(),
    )
    dead = [
        m.change
        for m in real
        if m.change.dead_letter and m.after is DeliveryStatus.TECHNICAL_FAILURE
    ]
    if dead:
        await conn.execute(
            "INSERT INTO message_dead_letters (message_id, channel, error, attempts)"
            " SELECT m, c, e, a FROM unnest($1::uuid[], $2::text[], $3::text[], $4::int[])"
            " AS u(m, c, e, a) ON CONFLICT (message_id) DO NOTHING",
            [c.message_id for c in dead],
            [by_id[c.message_id]["channel"] for c in dead],
            [c.detail[:4000] for c in dead],
            [c.attempts for c in dead],
        )
    fallbacks = [(m.change.fallback, m.change.trace_headers) for m in real if m.change.fallback]
    if fallbacks:
        refused = await opted_out(conn, [f.contact_ref for f, _ in fallbacks if f])
        wanted = [(f, h) for f, h in fallbacks if f and (f.contact_ref, "sms") not in refused]
        await insert_messages(conn, [f for f, _ in wanted], [h for _, h in wanted])
    return merged


def _status_event(rt: Runtime, row: Record, merged: Merged) -> OutboxRecord:
    change = merged.change
    event = NotificationStatusChanged(
        dossier_code=row["dossier_code"],
        message_id=change.message_id,
        channel=row["channel"],
        status=merged.after.value,
        template_id=row["template_id"],
        template_version=row["template_version"],
        provider=change.provider or row["provider"],
    )
    dossier_id = UUID(str(row["dossier_id"]))
    envelope = EventEnvelope(
        event_type=STATUS_EVENT,
        dossier_id=dossier_id,
        correlation_id=dossier_id,
        producer=rt.settings.service_name,
        payload=event.model_dump(mode="json"),
    )
    return OutboxRecord(
        rt.topic(STATUS_TOPIC),
        str(dossier_id),
        envelope.event_id,
        envelope.event_type,
        envelope.model_dump_json().encode(),
        headers=dict(change.trace_headers) or None,
    )


async def record_changes(rt: Runtime, changes: Sequence[StatusChange]) -> list[Merged]:
    """`apply_changes` in a transaction of its own."""
    async with rt.pool.acquire() as conn, conn.transaction():
        return await apply_changes(conn, rt, changes)


# --- receipts ---------------------------------------------------------------------------

_RECEIPT_COLUMNS = f"{_STATUS_COLUMNS}, provider_message_id, sent_at"
_RECEIPT_COLUMNS_M = ", ".join(f"m.{c.strip()}" for c in _RECEIPT_COLUMNS.split(","))


async def receipt_messages(
    conn: DbConn, keys: Sequence[tuple[UUID | None, str, str | None]]
) -> list[Record | None]:
    """`receipt_message` for a batch of receipts, unlocked: each key is (the message id
    its callback URL is bound to, or None; gateway; gateway's message id). At most two
    statements whatever the batch's size."""
    ids = sorted({m for m, _, _ in keys if m is not None})
    pairs = sorted({(p, pm) for m, p, pm in keys if m is None and pm})
    by_id: dict[UUID, Record] = {}
    if ids:
        for r in await conn.fetch(
            f"SELECT {_RECEIPT_COLUMNS} FROM messages WHERE id = ANY($1::uuid[])", ids
        ):
            by_id[r["id"]] = r
    by_pair: dict[tuple[str, str], Record] = {}
    if pairs:
        for r in await conn.fetch(
            f"SELECT {_RECEIPT_COLUMNS_M} FROM messages m"
            " JOIN unnest($1::text[], $2::text[]) AS u(provider, pmid)"
            " ON m.provider = u.provider AND m.provider_message_id = u.pmid"
            " ORDER BY m.created_at",
            [p for p, _ in pairs],
            [pm for _, pm in pairs],
        ):
            by_pair.setdefault((r["provider"], r["provider_message_id"]), r)  # the first
    return [
        by_id.get(m) if m is not None else by_pair.get((p, pm)) if pm else None for m, p, pm in keys
    ]


async def lock_receipt_messages(conn: DbConn, ids: Sequence[UUID]) -> dict[UUID, Record]:
    """The messages receipts will move, locked in id order (as the recorder locks)."""
    rows = await conn.fetch(
        f"SELECT {_RECEIPT_COLUMNS} FROM messages WHERE id = ANY($1::uuid[])"
        " ORDER BY id FOR UPDATE",
        sorted(set(ids)),
    )
    return {r["id"]: r for r in rows}


# --- technical failures for operators ---------------------------------------------------


async def list_failures(conn: DbConn, limit: int) -> list[dict[str, Any]]:
    """Messages that ended in a technical failure, newest first (no personal data)."""
    rows = await conn.fetch(
        "SELECT m.id, m.dossier_code, m.event_type, m.channel, m.template_id,"
        " m.template_version, m.status, m.provider, m.attempts, m.first_failure_at,"
        " m.last_error, d.error, d.recorded_at FROM message_dead_letters d"
        " JOIN messages m ON m.id = d.message_id WHERE m.status = 'technical_failure'"
        " ORDER BY d.recorded_at DESC, m.id LIMIT $1",
        limit,
    )
    return [dict(r) for r in rows]


async def replay_failure(
    conn: DbConn, rt: Runtime, message_id: UUID, caller: str, now: datetime
) -> bool:
    """Give a technical failure its tries back: due now, a new retry window, the dead
    letter removed; recorded and announced as a temporary failure. False when the
    message is not a technical failure (nothing changes)."""
    row = await conn.fetchrow(
        f"SELECT {_STATUS_COLUMNS} FROM messages WHERE id = $1 FOR UPDATE", message_id
    )
    if row is None or row["status"] != DeliveryStatus.TECHNICAL_FAILURE.value:
        return False
    await conn.execute(
        "UPDATE messages SET status = 'temporary_failure', attempts = 0, lease_expiries = 0,"
        " first_failure_at = NULL, lease_until = NULL, next_attempt_at = $2,"
        " updated_at = now() WHERE id = $1",
        message_id,
        now,
    )
    await conn.execute("DELETE FROM message_dead_letters WHERE message_id = $1", message_id)
    detail = f"replayed by {caller}"
    await _history(conn, [(message_id, DeliveryStatus.TEMPORARY_FAILURE.value, detail)])
    change = StatusChange(message_id, DeliveryStatus.TEMPORARY_FAILURE, detail)
    replayed = Merged(change, DeliveryStatus.TECHNICAL_FAILURE, DeliveryStatus.TEMPORARY_FAILURE)
    await append_records(
        conn, rt.schema, [_status_event(rt, row, replayed)], current_trace_headers()
    )
    return True


def _json(value: Any) -> str:
    return json.dumps(value, ensure_ascii=False, default=_default)


def _default(value: object) -> str:
    if isinstance(value, date | datetime | UUID):
        return str(value)
    raise TypeError(f"not JSON serialisable: {type(value).__name__}")
