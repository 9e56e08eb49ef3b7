"""Notify's ratings table: one citizen rating per dossier, written with its
`dossier.rated` outbox record in the caller's transaction."""

from __future__ import annotations

from datetime import datetime
from uuid import UUID

from contracts.envelope import EventEnvelope
from contracts.events import DossierRated, RatingScores
from services.notify.domain.rating import Rating
from services.runtime import clock
from services.runtime.db import DbConn
from services.runtime.outbox import OutboxRecord, append_records
from services.runtime.service import Runtime
from services.runtime.telemetry import current_trace_headers

RATED_TOPIC = "dossier.notify"
RATED_EVENT = "dossier.rated"


async def dossier_code(conn: DbConn, dossier_id: UUID) -> str | None:
    """The code of a dossier notify has heard of (its `dossier.received`), or None."""
    found: str | None = await conn.fetchval(
        "SELECT dossier_code FROM dossier_facts WHERE dossier_id = $1", dossier_id
    )
    return found


async def rated_at(conn: DbConn, dossier_id: UUID) -> datetime | None:
    found: datetime | None = await conn.fetchval(
        "SELECT rated_at FROM ratings WHERE dossier_id = $1", dossier_id
    )
    return found


async def add_rating(
    rt: Runtime, conn: DbConn, dossier_id: UUID, code: str, rating: Rating
) -> bool:
    """Store the rating and publish `dossier.rated`; False (nothing written) when the
    dossier was rated already."""
    s = rating.scores
    at: datetime | None = await conn.fetchval(
        "INSERT INTO ratings (dossier_id, dossier_code, timeliness, attitude, clarity,"
        " outcome, comment, rated_at) VALUES ($1, $2, $3, $4, $5, $6, $7, $8)"
        " ON CONFLICT (dossier_id) DO NOTHING RETURNING rated_at",
        dossier_id,
        code,
        s["timeliness"],
        s["attitude"],
        s["clarity"],
        s["outcome"],
        rating.comment,
        clock.now(),
    )
    if at is None:
        return False
    payload = DossierRated(
        dossier_code=code, scores=RatingScores(**s), comment=rating.comment, rated_at=at
    )
    envelope = EventEnvelope(
        event_type=RATED_EVENT,
        dossier_id=dossier_id,
        correlation_id=dossier_id,
        producer=rt.settings.service_name,
        payload=payload.model_dump(mode="json"),
    )
    record = OutboxRecord(
        rt.topic(RATED_TOPIC),
        str(dossier_id),
        envelope.event_id,
        envelope.event_type,
        envelope.model_dump_json().encode(),
    )
    await append_records(conn, rt.schema, [record], current_trace_headers())
    return True
