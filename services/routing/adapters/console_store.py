"""The console's reads of routing's inbox (SQL): one unit's queue counted, filtered,
sorted and paged; the steps past their deadline.

Urgency is bucketed in SQL from ``due_at`` against instants the caller computed with the
working calendar (now, one and three working days from now), so the counts cover the
whole filtered queue without a per-row calendar call.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any, Literal
from uuid import UUID

from services.runtime.db import DbConn

QUEUE_STATUSES = ("open", "claimed", "waiting")
URGENCIES = ("overdue", "critical", "soon", "ok", "none")

# $2 now, $3 one working day from now, $4 three working days from now.
_URGENCY = (
    "CASE WHEN b.due_at IS NULL THEN 'none' WHEN b.due_at < $2 THEN 'overdue'"
    " WHEN b.due_at < $3 THEN 'critical' WHEN b.due_at < $4 THEN 'soon' ELSE 'ok' END"
)
# $5 procedures, $6 received from, $7 received before, $8 dossier ids, $9 code fragment.
_FILTERS = (
    "b.unit_code = $1 AND b.status = ANY('{open,claimed,waiting}'::text[])"
    " AND ($5::text[] IS NULL OR b.procedure_code = ANY($5::text[]))"
    " AND ($6::timestamptz IS NULL OR b.assigned_at >= $6)"
    " AND ($7::timestamptz IS NULL OR b.assigned_at < $7)"
    " AND ($8::uuid[] IS NULL OR b.dossier_id = ANY($8::uuid[]))"
    " AND ($9::text IS NULL OR b.dossier_code ILIKE '%' || $9 || '%' ESCAPE '\\')"
)

Sort = Literal["remaining", "received"]


@dataclass(frozen=True)
class QueueFilter:
    unit_code: str
    now: datetime
    day_edge: datetime
    three_days_edge: datetime
    procedures: Sequence[str] | None = None
    received_from: datetime | None = None
    received_before: datetime | None = None
    dossier_ids: Sequence[UUID] | None = None
    code_fragment: str | None = None  # LIKE-escaped

    def args(self) -> list[Any]:
        return [
            self.unit_code,
            self.now,
            self.day_edge,
            self.three_days_edge,
            list(self.procedures) if self.procedures is not None else None,
            self.received_from,
            self.received_before,
            list(self.dossier_ids) if self.dossier_ids is not None else None,
            self.code_fragment,
        ]


async def queue_cells(conn: DbConn, f: QueueFilter) -> dict[tuple[str, str], int]:
    """(status, urgency) -> tasks, over the whole queue the filters leave (status and
    urgency filters aside: the caller sums the cells for each count)."""
    rows = await conn.fetch(
        f"SELECT b.status, {_URGENCY} AS urgency, count(*) AS n FROM inbox b"
        f" WHERE {_FILTERS} GROUP BY 1, 2",
        *f.args(),
    )
    return {(r["status"], r["urgency"]): int(r["n"]) for r in rows}


async def queue_page(
    conn: DbConn,
    f: QueueFilter,
    *,
    statuses: Sequence[str],
    urgencies: Sequence[str],
    sort: Sort,
    descending: bool,
    limit: int,
    offset: int,
) -> list[dict[str, Any]]:
    """One page of the filtered queue. Within one unit the working hours left grow with
    ``due_at`` (one calendar), so sorting by remaining time is sorting by ``due_at``;
    tasks without a deadline come last either way, ties by task id."""
    column = "b.due_at" if sort == "remaining" else "b.assigned_at"
    direction = "DESC" if descending else "ASC"
    rows = await conn.fetch(
        "SELECT b.task_id, b.dossier_id, b.dossier_code, b.procedure_code, b.step_id,"
        " b.unit_code, b.status, b.claimed_by, b.assigned_at, b.due_at, b.allotment_hours,"
        f" i.version AS dossier_version, {_URGENCY} AS urgency"
        " FROM inbox b JOIN instances i USING (dossier_id)"
        f" WHERE {_FILTERS} AND b.status = ANY($10::text[]) AND {_URGENCY} = ANY($11::text[])"
        f" ORDER BY {column} {direction} NULLS LAST, b.task_id {direction}"
        " LIMIT $12 OFFSET $13",
        *f.args(),
        list(statuses),
        list(urgencies),
        limit,
        offset,
    )
    return [dict(r) for r in rows]


async def overdue_count(conn: DbConn, units: Sequence[str] | None, now: datetime) -> int:
    """How many active steps are past their own deadline (the screen lists the first)."""
    found = await conn.fetchval(
        "SELECT count(*) FROM inbox WHERE status = ANY('{open,claimed}'::text[])"
        " AND due_at < $2 AND ($1::text[] IS NULL OR unit_code = ANY($1::text[]))",
        list(units) if units is not None else None,
        now,
    )
    return int(found or 0)


async def overdue_steps(
    conn: DbConn, units: Sequence[str] | None, limit: int, now: datetime
) -> list[dict[str, Any]]:
    """Active steps past their own deadline, the longest late first."""
    rows = await conn.fetch(
        "SELECT task_id, dossier_id, dossier_code, procedure_code, step_id,"
        " unit_code AS responsible_unit, status, claimed_by, assigned_at, due_at FROM inbox"
        " WHERE status = ANY('{open,claimed}'::text[]) AND due_at < $3"
        " AND ($1::text[] IS NULL OR unit_code = ANY($1::text[]))"
        " ORDER BY due_at, task_id LIMIT $2",
        list(units) if units is not None else None,
        limit,
        now,
    )
    return [dict(r) for r in rows]


async def queue_dossier_ids(conn: DbConn, unit_code: str, limit: int) -> list[UUID]:
    """The dossiers in one unit's queue (a search by applicant is made among them)."""
    rows = await conn.fetch(
        "SELECT DISTINCT dossier_id FROM inbox"
        " WHERE unit_code = $1 AND status = ANY('{open,claimed,waiting}'::text[]) LIMIT $2",
        unit_code,
        limit,
    )
    return [r["dossier_id"] for r in rows]
