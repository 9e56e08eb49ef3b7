"""The inbox's pure rules: who may search people, how a search is masked in the audit
trail, the counts from the queue's (status, urgency) cells, paging bounds."""

from __future__ import annotations

import math
from collections.abc import Collection, Mapping
from dataclasses import dataclass

from services.routing.adapters.console_store import QUEUE_STATUSES, URGENCIES
from services.routing.console.access import can_see_unit
from services.runtime.auth import Principal

DEFAULT_STATUSES = ("open", "claimed")
PAGE_SIZE_MAX = 100
#: At most this many dossiers from intake's name/phone search are matched to the queue.
SEARCH_LIMIT = 1000
#: A name/phone search is made among at most this many dossiers of the queue (intake's
#: bound); a larger queue is searched in its first ones.
QUEUE_LIMIT = 20_000


def may_search_people(who: Principal, unit_code: str) -> bool:
    """Search by an applicant's name or phone is personal data: an official and a unit
    head within their own unit's queue, a province supervisor within any unit's queue
    (the search is always narrowed to one unit's inbox), each search audited."""
    return who.role in ("official", "unit_head", "province_supervisor") and can_see_unit(
        who, unit_code
    )


def masked(mode: str, query: str) -> str:
    """What the audit trail keeps of a search: never the name or the digits themselves.
    A name: the initial of each word ("N… T… L…"); a phone suffix: its length and last
    digit ("***8")."""
    if mode == "phone":
        return "*" * max(len(query) - 1, 0) + query[-1:]
    words = query.split()
    return " ".join(f"{w[0].upper()}…" for w in words) if words else "…"


@dataclass(frozen=True)
class Counts:
    by_status: dict[str, int]
    by_urgency: dict[str, int]
    total: int


def counts(
    cells: Mapping[tuple[str, str], int], statuses: Collection[str], urgencies: Collection[str]
) -> Counts:
    """Tasks per status (under the urgency filter), per urgency (under the status filter)
    and in both filters: each count is what a click on it would list."""
    by_status = {
        s: sum(n for (st, u), n in cells.items() if st == s and u in urgencies)
        for s in QUEUE_STATUSES
    }
    by_urgency = {
        u: sum(n for (st, ur), n in cells.items() if ur == u and st in statuses) for u in URGENCIES
    }
    total = sum(n for (st, u), n in cells.items() if st in statuses and u in urgencies)
    return Counts(by_status, by_urgency, total)


def pages(total: int, page_size: int) -> int:
    return max(1, math.ceil(total / page_size))
