"""Statistics in the console, by each role, in a real browser: the period ends now, the
overdue steps are the overdue screen's, every table exports to CSV and Excel (read back
here), the sign-in hint appears only in development, and axe-core finds nothing serious."""

from __future__ import annotations

import asyncio
import csv
import io
from collections import Counter
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any

import asyncpg
import httpx
import pytest
from openpyxl import load_workbook

from tests.support.axe import check_axe
from tests.support.credentials import PORTAL
from tests.support.infra import Infra
from tests.support.officials import Official
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, eventually

try:
    from playwright.sync_api import Browser, Page
except ImportError:  # the lock file does not carry it yet
    pytest.skip("the playwright package is not installed", allow_module_level=True)

from tests.e2e.test_console import SHOTS, browser, login, submit

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared with the console test


def headers_of(console: str, username: str) -> dict[str, str]:
    token = httpx.post(
        f"{console}/v1/auth/login", json={"username": username, "password": "demo"}, timeout=10
    ).json()["access_token"]
    return {"Authorization": f"Bearer {token}"}


def in_thread(coro: Any) -> Any:
    # Playwright's sync API keeps an event loop on this thread while the browser lives.
    with ThreadPoolExecutor(max_workers=1) as pool:
        return pool.submit(asyncio.run, coro).result()


async def make_overdue(infra: Infra, schema: str, dossier_code: str) -> int:
    """Time travel: the dossier's open steps were due an hour ago."""
    conn = await asyncpg.connect(infra.database_url)
    try:
        result = await conn.execute(
            f"UPDATE \"{schema}\".inbox SET due_at = now() - interval '1 hour'"
            " WHERE dossier_code = $1 AND status IN ('open', 'claimed')",
            dossier_code,
        )
    finally:
        await conn.close()
    return int(result.split()[-1])


def open_steps(console: str, headers: dict[str, str], code: str) -> bool:
    inbox = httpx.get(f"{console}/console/api/inbox", headers=headers, timeout=30).json()
    return any(t["dossier_code"] == code for t in inbox["items"])


def test_the_statistics_count_the_overdue_screens_steps_and_the_period_ends_now(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    console = system["routing"].url
    head = headers_of(console, f"lanhdao@{COMMUNE}")
    late = submit(system, "stats-late@example.vn")["code"]
    fresh = submit(system, "stats-fresh@example.vn")["code"]
    eventually(lambda: open_steps(console, head, late) and open_steps(console, head, fresh))
    schema = f"{system['routing'].env['SCHEMA_PREFIX']}routing"
    assert in_thread(make_overdue(infra, schema, late)) >= 1

    for who in (f"lanhdao@{COMMUNE}", "giamsat"):
        headers = headers_of(console, who)
        overdue = httpx.get(f"{console}/console/api/overdue", headers=headers, timeout=30)
        assert overdue.status_code == 200
        stats = httpx.get(f"{console}/console/api/stats", headers=headers, timeout=60)
        assert stats.status_code == 200, stats.text
        data = stats.json()
        screen = Counter(i["responsible_unit"] for i in overdue.json()["items"])
        counted = {u["unit_code"]: u["overdue"] for u in data["steps_by_unit"] if u["overdue"]}
        assert counted == dict(screen), who  # the same steps, unit by unit
        assert screen[COMMUNE] >= 1
        assert late in {i["dossier_code"] for i in overdue.json()["items"]}
        assert fresh not in {i["dossier_code"] for i in overdue.json()["items"]}
        # The period ends now, not at the start of next month.
        end = datetime.fromisoformat(data["to"])
        assert abs(end - datetime.now(UTC)) < timedelta(minutes=2)
        assert end == datetime.fromisoformat(data["now"])
        if data["sla"] is not None:
            total = data["sla"]["total"]
            # The fresh dossier is open and not late: not every open dossier is overdue.
            assert total["in_progress_overdue"] < total["in_progress"]
        if who.startswith("lanhdao"):
            assert {u["unit_code"] for u in data["steps_by_unit"]} == {COMMUNE}


def test_a_step_is_done_when_handed_on_not_when_its_dossier_is_withdrawn(
    system: dict[str, ServiceProcess],
) -> None:
    console, intake = system["routing"].url, system["intake"].url
    head = headers_of(console, f"lanhdao@{COMMUNE}")
    official = Official(console, COMMUNE)

    def ours() -> dict[str, Any]:
        answer = httpx.get(f"{console}/console/api/stats", headers=head, timeout=60)
        assert answer.status_code == 200, answer.text
        row: dict[str, Any] = next(
            u for u in answer.json()["steps_by_unit"] if u["unit_code"] == COMMUNE
        )
        return row

    worked = submit(system, "stats-worked@example.vn")
    dropped = submit(system, "stats-dropped@example.vn")

    def first_task(dossier_id: str) -> dict[str, Any] | None:
        return next((t for t in official.inbox() if t["dossier_id"] == dossier_id), None)

    task = eventually(lambda: first_task(worked["id"]))
    eventually(lambda: first_task(dropped["id"]))
    before = ours()
    official.claim(task)
    official.complete(task, "Xong")
    withdrawn = httpx.post(
        f"{intake}/v1/dossiers/{dropped['code']}/withdrawal",
        json={"reason": "Không còn nhu cầu"},
        headers=PORTAL,
        timeout=10,
    )
    assert withdrawn.status_code == 202, withdrawn.text
    eventually(lambda: first_task(dropped["id"]) is None or None)
    eventually(lambda: ours()["done"] == before["done"] + 1 or None)
    after = ours()
    # The withdrawal closed the other dossier's step: it is not "done", let alone on time.
    assert after["done"] == before["done"] + 1
    assert after["done_on_time"] == before["done_on_time"] + 1


def test_a_period_is_chosen_and_a_wrong_one_is_refused_in_vietnamese(
    system: dict[str, ServiceProcess],
) -> None:
    console = system["routing"].url
    headers = headers_of(console, "giamsat")
    today = datetime.now(UTC).date()
    chosen = httpx.get(
        f"{console}/console/api/stats",
        params={"from": str(today - timedelta(days=40)), "to": str(today - timedelta(days=10))},
        headers=headers,
        timeout=60,
    )
    assert chosen.status_code == 200, chosen.text
    assert chosen.json()["last_day"] == str(today - timedelta(days=10))
    backwards = httpx.get(
        f"{console}/console/api/stats",
        params={"from": str(today), "to": str(today - timedelta(days=3))},
        headers=headers,
        timeout=30,
    )
    assert backwards.status_code == 422
    assert backwards.json()["title"] == "Ngày kết thúc phải sau ngày bắt đầu"
    garbage = httpx.get(
        f"{console}/console/api/stats", params={"from": "hôm qua"}, headers=headers, timeout=30
    )
    assert garbage.status_code == 422
    assert garbage.json()["errors"][0]["loc"] == ["query", "from"]


def test_an_official_may_neither_read_nor_export_the_statistics(
    system: dict[str, ServiceProcess],
) -> None:
    console = system["routing"].url
    official = headers_of(console, f"canbo@{COMMUNE}")
    for path in ("/console/api/stats", "/console/api/stats/export/stats-table.csv"):
        answer = httpx.get(f"{console}{path}", headers=official, timeout=30)
        assert answer.status_code == 403
        assert answer.json()["title"] == "Chỉ lãnh đạo đơn vị và giám sát cấp tỉnh xem thống kê"
        assert "Đơn vị" not in answer.text  # no table leaked with the refusal
    unsigned = httpx.get(f"{console}/console/api/stats/export/stats-table.xlsx", timeout=30)
    assert unsigned.status_code == 401


def download(page: Page, table: str, fmt: str) -> tuple[str, bytes]:
    button = page.locator(f'button.export[data-table="{table}"][data-format="{fmt}"]')
    with page.expect_download() as info:
        button.click()
    got = info.value
    path = got.path()
    return got.suggested_filename, path.read_bytes()


def read_csv(raw: bytes) -> list[list[str]]:
    assert raw.startswith(b"\xef\xbb\xbf")  # Excel opens the Vietnamese right
    return list(csv.reader(io.StringIO(raw.decode("utf-8-sig"))))


def read_xlsx(raw: bytes) -> list[tuple[Any, ...]]:
    sheet = load_workbook(io.BytesIO(raw)).active
    assert sheet is not None
    return list(sheet.iter_rows(values_only=True))


def test_each_role_sees_its_statistics_and_downloads_every_table(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console = system["routing"].url
    submit(system, "stats-browser@example.vn")
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    # The sign-in page, in development, names the development accounts.
    page.goto(f"{console}/console/")
    page.locator("#dev-hint").wait_for()
    assert "giamsat" in page.locator("#dev-hint").inner_text()
    check_axe(page, "login")

    # An official: no statistics in the menu, and a Vietnamese refusal at the address.
    login(page, console, f"canbo@{COMMUNE}")
    check_axe(page, "inbox-official")
    assert page.locator('#nav a[data-view="stats"]').is_hidden()
    page.goto(f"{console}/console/#/stats")
    refusal = page.locator("#view-error")
    refusal.wait_for()
    assert "Vai trò của bạn không được xem nội dung này" in refusal.inner_text()
    assert "Chỉ lãnh đạo đơn vị và giám sát cấp tỉnh xem thống kê" in refusal.inner_text()
    check_axe(page, "stats-official")
    page.screenshot(path=str(SHOTS / "stats-01-official-refused.png"), full_page=True)
    page.click("#logout-btn")

    # The unit head: their unit only, charts with axes and legends, names not codes.
    login(page, console, f"lanhdao@{COMMUNE}")
    page.click('#nav a[data-view="stats"]')
    page.locator("#stats-table").wait_for()
    assert "đơn vị Ủy ban nhân dân xã Đông Lâm" in page.locator("#stats-period-text").inner_text()
    assert "(thời điểm hiện tại)" in page.locator("#stats-period-text").inner_text()
    rows = page.locator("#stats-table tbody tr")
    assert rows.count() == 1 and COMMUNE in rows.first.inner_text()
    charts = page.locator("svg.chart")
    assert charts.count() >= 2
    legend = page.locator("figure.chart-wrap figcaption").first.inner_text()
    assert "Từ 95% trở lên" in legend or "Đang xử lý" in legend
    # Every chart names both its axes.
    assert page.locator("svg.chart text.axis-title").count() == 2 * charts.count()
    check_axe(page, "stats-unit-head")
    page.screenshot(path=str(SHOTS / "stats-02-unit-head.png"), full_page=True)

    name, raw = download(page, "stats-table", "csv")
    assert name.startswith("thong-ke-stats-table-") and name.endswith(".csv")
    table = read_csv(raw)
    assert table[0][:4] == ["Đơn vị", "Mã đơn vị", "Đang xử lý", "Quá hạn"]
    assert [r[1] for r in table[1:]] == [COMMUNE]
    shown = page.locator("#stats-table tbody tr td").nth(2).inner_text()
    assert table[1][2] == shown  # what is downloaded is what is shown
    has_sla = page.locator("#sla-by-unit").count() == 1
    if has_sla:
        name, raw = download(page, "sla-by-unit", "xlsx")
        assert name.endswith(".xlsx")
        sheet = read_xlsx(raw)
        assert sheet[0][0] == "Theo đơn vị tiếp nhận"
        assert "đơn vị " + COMMUNE in str(sheet[1][0])
        assert sheet[2][:3] == ("Đơn vị", "Mã đơn vị", "Tiếp nhận mới")
        assert {r[1] for r in sheet[3:]} <= {COMMUNE}
        for table_id in ("sla-total", "sla-by-month", "sla-by-field"):
            got, raw = download(page, table_id, "csv")
            assert read_csv(raw)[0][0] in ("Chỉ tiêu", "Tháng", "Lĩnh vực"), got
            assert read_xlsx(download(page, table_id, "xlsx")[1])[2][0] in (
                "Chỉ tiêu",
                "Tháng",
                "Lĩnh vực",
            )
        month_names = page.locator("#sla-by-month tbody tr td:first-child").all_inner_texts()
        assert all("/" in m for m in month_names)  # 11/2026, not 2026-11

    # A period chosen in the form; a wrong one refused in Vietnamese, field by field.
    page.fill("#stats-from", "2026-01-01")
    page.fill("#stats-to", "2025-12-01")
    page.click("#stats-apply")
    page.locator("#view-error").wait_for()
    assert "Ngày kết thúc phải sau ngày bắt đầu" in page.locator("#view-error").inner_text()
    page.goto(f"{console}/console/#/stats?from=hôm-qua")
    # Only the hash changes, so the previous refusal is still on screen: wait for the new one.
    page.locator("#view-error", has_text="Từ ngày").wait_for()
    text = page.locator("#view-error").inner_text()
    assert "Dữ liệu không hợp lệ" in text and "Từ ngày: không phải ngày hợp lệ" in text
    assert "Input should" not in text and "invalid" not in text
    check_axe(page, "stats-wrong-period")
    page.screenshot(path=str(SHOTS / "stats-03-wrong-period.png"), full_page=True)
    # The form stays to correct the period; a good one shows its figures.
    first = (datetime.now(UTC) - timedelta(days=60)).date()
    last = (datetime.now(UTC) - timedelta(days=1)).date()
    page.fill("#stats-from", str(first))
    page.fill("#stats-to", str(last))
    page.click("#stats-apply")
    page.locator("#stats-table").wait_for()
    assert "(thời điểm hiện tại)" not in page.locator("#stats-period-text").inner_text()
    assert page.locator("#stats-from").input_value() == str(first)
    assert page.locator("#stats-to").input_value() == str(last)
    page.click("#logout-btn")

    # The province supervisor: every unit, the whole province.
    login(page, console, "giamsat")
    page.click('#nav a[data-view="stats"]')
    page.locator("#stats-table").wait_for()
    assert "toàn tỉnh" in page.locator("#stats-period-text").inner_text()
    units = page.locator("#stats-table tbody tr td:nth-child(2)").all_inner_texts()
    assert COMMUNE in units
    check_axe(page, "stats-supervisor")
    page.screenshot(path=str(SHOTS / "stats-04-supervisor.png"), full_page=True)
    name, raw = download(page, "stats-table", "xlsx")
    sheet = read_xlsx(raw)
    assert sheet[1][0].endswith("toàn tỉnh")
    assert sorted(r[1] for r in sheet[3:]) == sorted(units)
    if has_sla:
        fields = read_csv(download(page, "sla-by-field", "csv")[1])
        assert fields[0][:2] == ["Lĩnh vực", "Mã lĩnh vực"]
        assert all(r[0] and r[0] != r[1] for r in fields[1:])  # a name, not the code
    assert errors == []
    page.close()


def test_the_development_hint_is_not_shown_where_the_server_gives_none(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console = system["routing"].url
    page = browser.new_page()
    # What a production routing answers (tests/unit/test_console_hints.py proves it does).
    page.route(
        "**/console/api/login-hint",
        lambda route: route.fulfill(json={"development_accounts": None}),
    )
    page.goto(f"{console}/console/")
    page.locator("#login-form").wait_for()
    page.wait_for_load_state("networkidle")
    assert page.locator("#dev-hint").is_hidden()
    assert "giamsat" not in page.content() and "demo" not in page.locator("main").inner_text()
    check_axe(page, "login-production")
    page.close()


def test_the_statistics_are_used_from_the_keyboard(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console = system["routing"].url
    page = browser.new_page(viewport={"width": 1400, "height": 900}, accept_downloads=True)
    page.goto(f"{console}/console/")
    page.locator("#login-form").wait_for()
    # The first Tab reaches the skip link, which is shown when focused.
    page.keyboard.press("Tab")
    assert page.evaluate("() => document.activeElement.className") == "skip"
    assert page.locator(".skip").bounding_box()["y"] >= 0  # type: ignore[index]
    page.keyboard.press("Enter")
    assert page.evaluate("() => document.activeElement.id") == "main"
    # Sign in with the keyboard alone.
    page.focus("#username")
    page.keyboard.type(f"lanhdao@{COMMUNE}")
    page.keyboard.press("Tab")
    page.keyboard.type("demo")
    page.keyboard.press("Enter")
    page.locator("#inbox-table").wait_for()
    page.focus('#nav a[data-view="stats"]')
    page.keyboard.press("Enter")
    page.locator("#stats-table").wait_for()
    assert page.locator('#nav a[aria-current="page"]').inner_text() == "Thống kê"
    # The period field and the download are reached and used from the keyboard.
    page.focus("#stats-to")
    outline = page.evaluate("() => getComputedStyle(document.activeElement).outlineStyle")
    assert outline != "none"  # the focus is visible
    button = page.locator('button.export[data-table="stats-table"][data-format="xlsx"]')
    button.focus()
    with page.expect_download() as info:
        page.keyboard.press("Enter")
    sheet = read_xlsx(info.value.path().read_bytes())
    assert sheet[2][0] == "Đơn vị" and {r[1] for r in sheet[3:]} == {COMMUNE}
    page.close()


def test_the_page_shows_no_urgency_for_an_ended_dossier_and_no_english_detail(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console = system["routing"].url
    page = browser.new_page()
    page.goto(f"{console}/console/")
    page.locator("#login-form").wait_for()
    verdicts = page.evaluate(
        """() => [3, 7, 8, 9, 10, 4].map((s) => [s, deadlineVerdict(s, "early"),
                                             deadlineVerdict(s, null)])"""
    )
    by_status = {s: (with_outcome, without) for s, with_outcome, without in verdicts}
    for ended in (3, 7, 8):  # refused, withdrawn, stopped: never "Sớm hạn"
        assert by_status[ended][0]["label"] == "Không tính hạn"
        assert by_status[ended][1]["label"] == "Không tính hạn"
    for resolved in (9, 10):  # finished, returned: the verdict, never a running urgency
        assert by_status[resolved][0]["label"] == "Sớm hạn"
        assert by_status[resolved][1]["label"] == "Đã kết thúc"
    assert by_status[4][1] is None  # still running: the deadline's own urgency applies
    message = page.evaluate(
        """() => new ApiError(409, {title: "Xung đột với trạng thái hiện tại",
                                   detail: "expected_version 3 but the dossier is at 4"}).message"""
    )
    assert message == "Xung đột với trạng thái hiện tại"
    assert page.evaluate("() => new ApiError(502, null).message") == (
        "Dịch vụ tạm thời không phản hồi"
    )
    page.close()
