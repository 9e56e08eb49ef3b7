"""Notify's retention purge: set-based statements, one transaction per run.

* messages whose delivery ended (sent, delivered, failed for good) and that have not
  changed for the body retention lose their text: subject, bodies and params (the
  status history stays, as proof the citizen was told); ratings' comments go after the
  same time (their scores stay);
* a dossier's cached contact reference (``dossier_facts``) and its opt-outs are deleted
  once nothing of that contact changed for the contact retention.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.runtime.db import DbConn
from services.runtime.retention import count

ENDED = ["sent", "delivered", "permanent_failure", "technical_failure"]


@dataclass(frozen=True)
class NotifyRetention:
    body_days: int = 90
    contact_days: int = 365


async def purge(conn: DbConn, now: datetime, policy: NotifyRetention) -> dict[str, int]:
    bodies = count(
        await conn.execute(
            "UPDATE messages SET subject = NULL, body_text = '', body_html = NULL,"
            " params = '{}'::jsonb"
            " WHERE body_text <> '' AND status = ANY($1::text[]) AND updated_at < $2",
            ENDED,
            now - timedelta(days=policy.body_days),
        )
    )
    comments = count(
        await conn.execute(
            "UPDATE ratings SET comment = NULL WHERE comment IS NOT NULL AND rated_at < $1",
            now - timedelta(days=policy.body_days),
        )
    )
    cutoff = now - timedelta(days=policy.contact_days)
    facts = count(
        await conn.execute(
            "DELETE FROM dossier_facts f WHERE f.created_at < $1 AND NOT EXISTS ("
            " SELECT 1 FROM messages m WHERE m.contact_ref = f.contact_ref"
            " AND m.updated_at >= $1)",
            cutoff,
        )
    )
    opt_outs = count(
        await conn.execute(
            "DELETE FROM opt_outs o WHERE o.created_at < $1 AND NOT EXISTS ("
            " SELECT 1 FROM messages m WHERE m.contact_ref = o.contact_ref"
            " AND m.updated_at >= $1)"
            " AND NOT EXISTS (SELECT 1 FROM dossier_facts f WHERE f.contact_ref = o.contact_ref)",
            cutoff,
        )
    )
    return {
        "message_bodies": bodies,
        "rating_comments": comments,
        "contact_facts": facts,
        "opt_outs": opt_outs,
    }
