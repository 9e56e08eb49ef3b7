"""An official works a queue of 120 tasks in the console's inbox in a real browser: the
counts per status and urgency, a count clicked as a filter, the next page, a search by
the applicant's name typed without diacritics, the overdue screen in working hours.
Screenshots go to ``test-artifacts/screenshots/``."""

from __future__ import annotations

import asyncio
import uuid
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime

import pytest

from reference import reference
from services.routing.console.workhours import urgency_at
from tests.e2e.test_console import SHOTS, browser, login
from tests.e2e.test_inbox_queue import calendar_of, expected_order
from tests.support.axe import check_axe
from tests.support.inbox_seed import LAN, make_tasks, seed
from tests.support.infra import Infra
from tests.support.processes import ServiceProcess

try:
    from playwright.sync_api import Browser
except ImportError:
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the Chromium fixture, shared with test_console.py

UNIT = "003.00.02.H99"  # no other test's dossiers reach this unit's inbox


def test_an_official_counts_filters_pages_and_searches_the_inbox(
    system: dict[str, ServiceProcess], infra: Infra, browser: Browser
) -> None:
    routing = system["routing"].url
    prefix = system["routing"].env["SCHEMA_PREFIX"]
    tag = f"IB{uuid.uuid4().hex[:6].upper()}"
    tasks = make_tasks(UNIT, 120, datetime.now(UTC).replace(microsecond=0), tag)
    with ThreadPoolExecutor(1) as pool:  # Playwright's sync API holds this thread's loop
        pool.submit(asyncio.run, seed(infra.database_url, prefix, UNIT, tasks, clear=True)).result()
    calendar = calendar_of(system, UNIT)
    page = browser.new_page(viewport={"width": 1400, "height": 1000})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    login(page, routing, f"canbo@{UNIT}")
    page.locator("#inbox-table tbody tr[data-task]").first.wait_for()
    now = datetime.now(UTC)
    level = {t.task_id: urgency_at(calendar, now, t.due_at) for t in tasks}
    active = [t for t in tasks if t.status in ("open", "claimed")]
    unit_name = next(u.name for u in reference("three_level").units if u.code == UNIT)
    assert unit_name in page.locator("#view h1").inner_text()

    # The counts of the whole queue, per status and per urgency.
    def count(kind: str, key: str) -> int:
        text = page.locator(f'#inbox-counts button[data-{kind}="{key}"] .count-n').inner_text()
        return int(text.replace(".", ""))

    assert [count("status", s) for s in ("open", "claimed", "waiting")] == [84, 24, 12]
    overdue = [t for t in active if level[t.task_id] == "overdue"]
    assert count("urgency", "overdue") == len(overdue) > 0
    rows = page.locator("#inbox-table tbody tr[data-task]")
    assert rows.count() == 50
    first = expected_order(active, "remaining", False)
    assert rows.first.get_attribute("data-dossier") == first[0].code
    # Human names of the step and the procedure, the status in Vietnamese.
    step = reference("three_level").procedures[first[0].procedure]
    assert step.name in rows.first.inner_text()
    assert "Chờ nhận" in rows.first.inner_text() or "Đang xử lý" in rows.first.inner_text()
    check_axe(page, "inbox-01-counts")
    page.screenshot(path=str(SHOTS / "inbox-01-counts.png"), full_page=True)

    # A count is a filter: the overdue ones only, the button pressed.
    page.click('#inbox-counts button[data-urgency="overdue"]')
    page.wait_for_selector('#inbox-counts button[data-urgency="overdue"][aria-pressed="true"]')
    assert rows.count() == min(len(overdue), 50)
    assert all(
        "urg-overdue" in (c or "") for c in rows.evaluate_all("r => r.map(x => x.className)")
    )
    assert page.locator("#f-urgency").input_value() == "overdue"
    check_axe(page, "inbox-02-overdue-filter")
    page.screenshot(path=str(SHOTS / "inbox-02-overdue-filter.png"), full_page=True)
    page.click('#inbox-counts button[data-urgency="overdue"]')  # off again
    page.wait_for_selector('#inbox-counts button[data-urgency="overdue"][aria-pressed="false"]')

    # The next page, by keyboard.
    page.focus('#inbox-pager button[aria-label="Trang sau"]')
    page.keyboard.press("Enter")
    page.wait_for_selector("#inbox-page:has-text('Trang 2 / 3')")
    codes = rows.evaluate_all("r => r.map(x => x.dataset.dossier)")
    assert codes == [t.code for t in first[50:100]]
    check_axe(page, "inbox-03-page-2")
    page.screenshot(path=str(SHOTS / "inbox-03-page-2.png"), full_page=True)

    # Filters: one procedure's dossiers, newest received first.
    page.select_option("#f-procedure", "1.004873")
    page.select_option("#f-sort", "received:desc")
    page.click("#filter-apply")
    chosen = expected_order([t for t in active if t.procedure == "1.004873"], "received", True)
    page.wait_for_function(
        "n => document.querySelectorAll('#inbox-table tbody tr[data-task]').length === n",
        arg=len(chosen),
    )
    codes = rows.evaluate_all("r => r.map(x => x.dataset.dossier)")
    assert codes == [t.code for t in chosen]
    page.click("#filter-clear")
    page.wait_for_selector("#inbox-page:has-text('Trang 1 / 3')")

    # Search by name, typed without diacritics: "Nguyễn Thị Lan" in every spelling.
    page.select_option("#search-mode", "name")
    page.fill("#search-q", "nguyen thi lan")
    page.press("#search-q", "Enter")
    lan = [t for t in active if t.full_name in LAN]
    page.wait_for_function(
        "n => document.querySelectorAll('#inbox-table tbody tr[data-task]').length === n",
        arg=len(lan),
    )
    codes = rows.evaluate_all("r => r.map(x => x.dataset.dossier)")
    assert sorted(codes) == sorted(t.code for t in lan) and len(lan) == 2
    check_axe(page, "inbox-04-name-search")
    page.screenshot(path=str(SHOTS / "inbox-04-name-search.png"), full_page=True)
    page.fill("#search-q", "khong co ai ten nay")
    page.press("#search-q", "Enter")
    page.wait_for_selector("#inbox-empty")
    assert "Không tìm thấy hồ sơ nào" in page.locator("#inbox-empty").inner_text()

    # The overdue screen: names, the responsible unit, hours late in working time.
    page.goto(f"{routing}/console/#/overdue")
    page.locator("#overdue-table tbody tr[data-dossier]").first.wait_for()
    table = page.locator("#overdue-table").inner_text()
    assert "Trễ (giờ làm việc)" in table and unit_name in table and "trễ" in table
    assert (
        sum(1 for t in active if level[t.task_id] == "overdue")
        == page.locator("#overdue-table tbody tr[data-dossier]").count()
    )
    check_axe(page, "inbox-05-overdue")
    page.screenshot(path=str(SHOTS / "inbox-05-overdue.png"), full_page=True)
    assert errors == []
    page.close()
