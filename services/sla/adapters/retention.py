"""SLA's retention purge: the contact reference (SLA's only link to the citizen) is cleared
from its dossier facts and apology letters once the dossier ended that long ago. The
letters, deadlines and report facts stay: they name no one."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime, timedelta

from services.runtime.db import DbConn
from services.runtime.retention import count


@dataclass(frozen=True)
class SlaRetention:
    contact_days: int = 3650


async def purge(conn: DbConn, now: datetime, policy: SlaRetention) -> dict[str, int]:
    cutoff = now - timedelta(days=policy.contact_days)
    letters = count(
        await conn.execute(
            "UPDATE apologies a SET letter = jsonb_set(a.letter, '{contact_ref}', 'null')"
            " FROM dossiers d WHERE d.dossier_id = a.dossier_id"
            " AND COALESCE(d.returned_at, d.ended_at) < $1"
            " AND a.letter ->> 'contact_ref' IS NOT NULL",
            cutoff,
        )
    )
    facts = count(
        await conn.execute(
            "UPDATE dossiers SET contact_ref = NULL"
            " WHERE contact_ref IS NOT NULL AND COALESCE(returned_at, ended_at) < $1",
            cutoff,
        )
    )
    return {"letter_contact_refs": letters, "dossier_contact_refs": facts}
