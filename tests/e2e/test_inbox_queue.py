"""A commune's queue of 1,000 tasks in the console's inbox API: counted per status and
urgency over the whole filtered queue, filtered, sorted, paged, searched by code, by the
applicant's name ignoring case and diacritics and by the phone's last digits; each name
or phone search audited with the query masked; an official of another unit sees none of
it. The tasks are seeded straight into the tables (tests/support/inbox_seed.py); what the
console must answer is computed here from the seeded rows, with the working calendar row
by row (the console buckets in SQL against precomputed instants)."""

from __future__ import annotations

import asyncio
import uuid
from collections import Counter
from datetime import UTC, date, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest

from contracts.vietnam import VN_TZ
from reference import load_unit_calendars, reference
from services.routing.console.workhours import merged_config, parse_overrides, urgency_at
from services.workcal.calendar import WorkingCalendar
from tests.support.credentials import bearer, portal_headers, service_headers
from tests.support.inbox_seed import LAN, PHONE_SUFFIX, Task, make_tasks, seed
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess

pytestmark = pytest.mark.e2e

UNIT = "002.00.00.H99"  # no other test's dossiers reach this unit's inbox
OTHER = "000.01.02.H99"


def calendar_of(system: dict[str, ServiceProcess], unit: str) -> WorkingCalendar:
    overrides = httpx.get(f"{system['sla'].url}/v1/calendar/overrides", timeout=10).json()
    base = load_unit_calendars("three_level")[unit]
    return WorkingCalendar(merged_config(base, parse_overrides(overrides), unit))


def expected_order(tasks: list[Task], sort: str, descending: bool) -> list[Task]:
    def key(t: Task) -> Any:
        value = t.due_at if sort == "remaining" else t.assigned_at
        return value, t.task_id

    dated = [t for t in tasks if (t.due_at if sort == "remaining" else t.assigned_at)]
    undated = [t for t in tasks if t not in dated]
    return sorted(dated, key=key, reverse=descending) + sorted(
        undated, key=lambda t: t.task_id, reverse=descending
    )


def access_rows(infra: Infra, prefix: str, actor: str) -> list[dict[str, Any]]:
    async def read() -> list[dict[str, Any]]:
        conn = await asyncpg.connect(infra.database_url)
        try:
            rows = await conn.fetch(
                f"SELECT actor, role, unit_code, what, parts FROM {prefix}routing.access_log"
                " WHERE actor = $1 ORDER BY id",
                actor,
            )
        finally:
            await conn.close()
        return [dict(r) for r in rows]

    return asyncio.run(read())


def test_a_thousand_task_inbox_is_counted_filtered_sorted_paged_and_searched(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    routing = system["routing"].url
    prefix = system["routing"].env["SCHEMA_PREFIX"]
    tag = f"IQ{uuid.uuid4().hex[:6].upper()}"
    seeded_at = datetime.now(UTC).replace(microsecond=0)
    tasks = make_tasks(UNIT, 1000, seeded_at, tag)
    asyncio.run(seed(infra.database_url, prefix, UNIT, tasks, clear=True))
    searched_before = len(access_rows(infra, prefix, f"canbo@{UNIT}"))
    calendar = calendar_of(system, UNIT)
    official = bearer(routing, f"canbo@{UNIT}")

    def inbox(headers: dict[str, str] = official, **params: Any) -> dict[str, Any]:
        answer = httpx.get(
            f"{routing}/console/api/inbox",
            params={"unit": UNIT, **params},
            headers=headers,
            timeout=30,
        )
        assert answer.status_code == 200, answer.text
        body: dict[str, Any] = answer.json()
        return body

    first = inbox()
    now = datetime.fromisoformat(first["now"])
    level = {t.task_id: urgency_at(calendar, now, t.due_at) for t in tasks}
    active = [t for t in tasks if t.status in ("open", "claimed")]

    # Counts over the whole queue (not the page): per status, per urgency of the active.
    assert first["counts"]["status"] == {"open": 700, "claimed": 200, "waiting": 100}
    assert first["counts"]["urgency"] == {
        u: sum(1 for t in active if level[t.task_id] == u)
        for u in ("overdue", "critical", "soon", "ok", "none")
    }
    assert sum(first["counts"]["urgency"].values()) == first["total"] == 900
    assert all(first["counts"]["urgency"][u] > 0 for u in ("overdue", "critical", "soon", "ok"))
    # Paged 50 at a time, the least working time left first; each row's own hours.
    assert (first["page"], first["page_size"], first["pages"]) == (1, 50, 18)
    by_remaining = expected_order(active, "remaining", False)
    assert [r["dossier_code"] for r in first["items"]] == [t.code for t in by_remaining[:50]]
    for row in first["items"]:
        task = next(t for t in tasks if t.task_id == row["task_id"])
        assert task.due_at is not None
        assert row["remaining_hours"] == pytest.approx(
            float(calendar.working_hours_between(now, task.due_at)), abs=0.02
        )
        assert row["urgency"] == level[task.task_id]
    third = inbox(page=3)
    assert [r["dossier_code"] for r in third["items"]] == [t.code for t in by_remaining[100:150]]
    last = inbox(page=18)
    assert [r["dossier_code"] for r in last["items"]] == [t.code for t in by_remaining[850:]]
    assert all(r["due_at"] is None for r in last["items"][-18:])  # no deadline: last

    # Filters: open and overdue of one procedure, newest received first, page 2 of 7.
    chosen = [
        t
        for t in tasks
        if t.status == "open" and level[t.task_id] == "overdue" and t.procedure == "1.001193"
    ]
    body = inbox(
        status="open",
        urgency="overdue",
        procedure="1.001193",
        sort="received",
        order="desc",
        page=2,
        page_size=7,
    )
    assert body["total"] == len(chosen) > 14
    newest = expected_order(chosen, "received", True)
    assert [r["dossier_code"] for r in body["items"]] == [t.code for t in newest[7:14]]
    # The status counts under the urgency filter and vice versa: what each click lists.
    of_procedure = [t for t in tasks if t.procedure == "1.001193"]
    assert body["counts"]["status"] == {
        s: sum(1 for t in of_procedure if t.status == s and level[t.task_id] == "overdue")
        for s in ("open", "claimed", "waiting")
    }
    assert body["counts"]["urgency"]["overdue"] == len(chosen)

    # A field (lĩnh vực), several statuses, received between two local days.
    field = reference("three_level").procedures["1.004873"].field
    in_field = {c for c, p in reference("three_level").procedures.items() if p.field == field}
    day_from: date = (now - timedelta(days=12)).astimezone(VN_TZ).date()
    day_to: date = (now - timedelta(days=5)).astimezone(VN_TZ).date()
    chosen = [
        t
        for t in tasks
        if t.procedure in in_field
        and t.status in ("claimed", "waiting")
        and day_from <= t.assigned_at.astimezone(VN_TZ).date() <= day_to
    ]
    body = inbox(
        field=field,
        status=["claimed", "waiting"],
        received_from=day_from.isoformat(),
        received_to=day_to.isoformat(),
        sort="received",
        order="asc",
        page_size=100,
    )
    assert body["total"] == len(chosen) > 0
    oldest = expected_order(chosen, "received", False)
    assert [r["dossier_code"] for r in body["items"]] == [t.code for t in oldest[:100]]

    # Search by code fragment.
    fragment = f"{tag}-0004"
    body = inbox(q=fragment, mode="code")
    assert sorted(r["dossier_code"] for r in body["items"]) == sorted(
        t.code for t in active if fragment in t.code
    )

    # By name, case and diacritics ignored; whole words ("Nguyễn Thị Lanh" is not found).
    lan = [t for t in active if t.full_name in LAN]
    assert len(lan) == 10 and len(Counter(t.full_name for t in lan)) == 3
    for query in ("nguyen thi lan", "NGUYEN  Thi LAN", "Nguyễn Thị Lan", "thi lan"):
        body = inbox(q=query, mode="name")
        assert body["total"] == 10, query
        assert [r["dossier_code"] for r in body["items"]] == [
            t.code for t in expected_order(lan, "remaining", False)
        ]
    assert inbox(q="dang quoc bao", mode="name", status="waiting")["total"] == sum(
        1 for t in tasks if t.full_name == "Đặng Quốc Bảo" and t.status == "waiting"
    )

    # By the phone's last four digits.
    body = inbox(q=PHONE_SUFFIX, mode="phone")
    suffixed = [t for t in active if t.phone.endswith(PHONE_SUFFIX)]
    assert body["total"] == len(suffixed) == 4
    assert sorted(r["dossier_code"] for r in body["items"]) == sorted(t.code for t in suffixed)

    # Every name and phone search is in the trail, masked; the query itself is not.
    trail = access_rows(infra, prefix, f"canbo@{UNIT}")[searched_before:]
    assert {r["what"] for r in trail} == {"console.search"}
    assert len(trail) == 6
    assert all(r["role"] == "official" and r["unit_code"] == UNIT for r in trail)
    assert "query:N… T… L…" in trail[0]["parts"] and "mode:name" in trail[0]["parts"]
    assert "query:***8" in trail[-1]["parts"] and "mode:phone" in trail[-1]["parts"]
    written = " ".join(" ".join(r["parts"]) for r in trail).lower()
    assert "nguyen" not in written and "lan" not in written and PHONE_SUFFIX not in written

    # The overdue screen: the same overdue steps, late in working hours, longest first.
    late = httpx.get(f"{routing}/console/api/overdue", headers=official, timeout=30).json()
    overdue = [t for t in active if level[t.task_id] == "overdue"]
    assert late["total"] == len(late["items"]) == len(overdue)
    assert late["total"] == first["counts"]["urgency"]["overdue"]
    assert [r["dossier_code"] for r in late["items"]] == [
        t.code for t in expected_order(overdue, "remaining", False)
    ]
    for row in late["items"][:20]:
        task = next(t for t in tasks if t.task_id == row["task_id"])
        assert task.due_at is not None
        hours = float(calendar.working_hours_between(task.due_at, now))
        assert row["late_working_hours"] == pytest.approx(hours, abs=0.02) and hours >= 0

    # Bounds: a page is at most 100 rows; a phone search needs 4 to 10 digits.
    too_big = httpx.get(
        f"{routing}/console/api/inbox", params={"unit": UNIT, "page_size": 101}, headers=official
    )
    assert too_big.status_code == 422
    short = httpx.get(
        f"{routing}/console/api/inbox",
        params={"unit": UNIT, "q": "78", "mode": "phone"},
        headers=official,
    )
    assert short.status_code == 422 and short.json()["title"].startswith("Nhập")


def test_an_official_of_another_unit_finds_none_of_that_queue(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    """The attacker's attempt: another commune's official asks for the queue, then
    searches its applicants by name and phone from their own inbox."""
    routing = system["routing"].url
    prefix = system["routing"].env["SCHEMA_PREFIX"]
    tag = f"IX{uuid.uuid4().hex[:6].upper()}"
    tasks = make_tasks(UNIT, 300, datetime.now(UTC), tag)
    asyncio.run(seed(infra.database_url, prefix, UNIT, tasks))
    outsider = bearer(routing, f"canbo@{OTHER}")
    before = access_rows(infra, prefix, f"canbo@{OTHER}")

    for params in ({}, {"q": "nguyen thi lan", "mode": "name"}, {"q": "5678", "mode": "phone"}):
        refused = httpx.get(
            f"{routing}/console/api/inbox", params={"unit": UNIT, **params}, headers=outsider
        )
        assert refused.status_code == 403
        assert refused.json()["title"] == "Không có quyền xem hộp hồ sơ của đơn vị khác"
        assert tag not in refused.text
    assert access_rows(infra, prefix, f"canbo@{OTHER}") == before  # no search was made

    own = {"q": "nguyen thi lan", "mode": "name"}, {"q": PHONE_SUFFIX, "mode": "phone"}
    for params in own:
        answer = httpx.get(f"{routing}/console/api/inbox", params=params, headers=outsider)
        assert answer.status_code == 200, answer.text
        assert answer.json()["unit_code"] == OTHER
        assert tag not in answer.text
    assert len(access_rows(infra, prefix, f"canbo@{OTHER}")) == len(before) + 2


def test_only_routing_may_search_applicants_at_intake(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    """The attacker's attempt: a portal, notify, the ops scripts or nobody at all asks
    intake which dossiers a name or a phone belongs to; each is refused and learns
    nothing. Routing's own credential is answered with ids and codes, no personal data."""
    intake = system["intake"].url
    prefix = system["routing"].env["SCHEMA_PREFIX"]
    tag = f"IS{uuid.uuid4().hex[:6].upper()}"
    tasks = make_tasks(UNIT, 120, datetime.now(UTC), tag)
    asyncio.run(seed(infra.database_url, prefix, UNIT, tasks))
    within = [str(t.dossier_id) for t in tasks]
    body = {"mode": "name", "query": "nguyen thi lan", "within": within}
    for headers in (
        {},
        portal_headers(),
        service_headers("notify"),
        service_headers("sla"),
        service_headers("ops"),
        {"X-Service-Token": "not-a-token"},
    ):
        refused = httpx.post(
            f"{intake}/internal/v1/dossier-search", json=body, headers=headers, timeout=10
        )
        assert refused.status_code in (401, 403), (headers, refused.text)
        assert tag not in refused.text and "matches" not in refused.text

    found = httpx.post(
        f"{intake}/internal/v1/dossier-search",
        json=body,
        headers=service_headers("routing"),
        timeout=10,
    )
    assert found.status_code == 200, found.text
    lan = sorted(t.code for t in tasks if t.full_name in LAN)
    assert sorted(m["code"] for m in found.json()["matches"]) == lan and len(lan) == 2
    assert "Nguyễn" not in found.text and "phone" not in found.text
    by_phone = httpx.post(
        f"{intake}/internal/v1/dossier-search",
        json={"mode": "phone", "query": PHONE_SUFFIX, "within": within},
        headers=service_headers("routing"),
        timeout=10,
    )
    assert [m["code"] for m in by_phone.json()["matches"]] == [
        t.code for t in tasks if t.phone.endswith(PHONE_SUFFIX)
    ]
    # A wildcard is a literal, not "any name".
    wild = httpx.post(
        f"{intake}/internal/v1/dossier-search",
        json={"mode": "name", "query": "%%", "within": within},
        headers=service_headers("routing"),
        timeout=10,
    )
    assert wild.status_code == 200 and wild.json()["matches"] == []


def test_a_supervisor_searches_any_units_queue_and_is_audited(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    routing = system["routing"].url
    prefix = system["routing"].env["SCHEMA_PREFIX"]
    tag = f"IV{uuid.uuid4().hex[:6].upper()}"
    tasks = make_tasks(UNIT, 120, datetime.now(UTC), tag)
    asyncio.run(seed(infra.database_url, prefix, UNIT, tasks))
    before = len(access_rows(infra, prefix, "giamsat"))
    answer = httpx.get(
        f"{routing}/console/api/inbox",
        params={"unit": UNIT, "q": "Nguyễn Thị Lan", "mode": "name", "page_size": 100},
        headers=bearer(routing, "giamsat"),
        timeout=30,
    )
    assert answer.status_code == 200, answer.text
    codes = {r["dossier_code"] for r in answer.json()["items"]}
    assert {t.code for t in tasks if t.full_name in LAN} <= codes
    trail = access_rows(infra, prefix, "giamsat")[before:]
    assert [(r["role"], r["unit_code"], r["what"]) for r in trail] == [
        ("province_supervisor", UNIT, "console.search")
    ]
    assert "query:N… T… L…" in trail[0]["parts"]
