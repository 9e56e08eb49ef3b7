"""Officials of each unit finish dossiers through the console alone, in a real browser.

Only the citizen and the portal use APIs here (submission, papers, payment through the
stand-in VNPay gateway, as a citizen would); every official's action is a click in the
console: the dossier page, its confirmation dialogs and the outcome it shows. Final
states are checked through the public APIs. Screenshots go to
``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import asyncio
import time
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, datetime, timedelta
from typing import Any
from uuid import UUID, uuid4

import httpx
import pytest

from services.sla.domain.apology import ApologyLetter
from tests.e2e.test_console import SHOTS, browser, login
from tests.e2e.test_intake_payments import citizen_pays, gateway, payments_of, start_payment
from tests.e2e.test_read_api_security import insert_letter
from tests.support.axe import check_axe
from tests.support.credentials import PORTAL, bearer
from tests.support.infra import Infra
from tests.support.officials import (
    DISTRICT_LABOUR,
    DISTRICT_LAND_OFFICE,
    DISTRICT_SOCIAL_INSURANCE,
    DISTRICT_TAX,
    DONG_LAM,
    DONG_LAM_POLICE,
    DONG_PHU,
    Citizen,
    StatusWatch,
    application,
    public_view,
    submit,
)
from tests.support.processes import ServiceProcess

try:
    from playwright.sync_api import Browser, Page, expect
except ImportError:
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.e2e
__all__ = ["browser"]  # the fixture, shared with test_console.py

BIRTH = "1.001193"
BIRTH_CHAIN = "1.012601"
DEATH_CHAIN = "1.012602"
LAND_TAX = "1.012603"
AMOUNT = 12_500_000
WAIT_MS = 30_000


class Desk:
    """One official's browser tab on the console."""

    def __init__(self, browser: Browser, console: str, username: str) -> None:
        self.console = console
        self.username = username
        self.page: Page = browser.new_page(viewport={"width": 1400, "height": 1000})
        self.errors: list[str] = []
        self.page.on("pageerror", lambda exc: self.errors.append(str(exc)))
        login(self.page, console, username)

    def shot(self, name: str) -> None:
        self.page.screenshot(path=str(SHOTS / f"actions-{name}.png"), full_page=True)
        check_axe(self.page, f"actions-{name}")

    def from_inbox(self, code: str) -> None:
        """Find the dossier in the unit's inbox (refreshing while the hand-off arrives)
        and open its page."""
        page = self.page
        page.goto(f"{self.console}/console/#/inbox")
        # The suite's other dossiers fill the unit's queue past a page: search its code.
        page.select_option("#search-mode", "code")
        page.fill("#search-q", code)
        page.click("#search-btn")
        row = page.locator(f'#inbox-table tr[data-dossier="{code}"]')
        deadline = time.monotonic() + WAIT_MS / 1000
        while not row.count():
            assert time.monotonic() < deadline, f"{code} never reached {self.username}'s inbox"
            page.wait_for_timeout(500)
            page.locator("#refresh").click()
            page.wait_for_timeout(300)
        row.first.get_by_role("link", name=code).click()
        page.locator("#actions").wait_for()

    def open(self, code: str) -> None:
        """Find the dossier by its code (the search screen) and open its page."""
        page = self.page
        page.goto(f"{self.console}/console/#/dossiers")
        page.fill("#q", code)
        page.locator("#search button[type=submit]").click()
        page.locator("#dossier-code").wait_for()
        expect(page.locator("#dossier-code")).to_have_text(code)

    def button(self, action: str, step: str | None = None) -> Any:
        if step is None:
            return self.page.locator(f'.dossier-actions button[data-action="{action}"]')
        return self.page.locator(
            f'#task-actions tr[data-step="{step}"] button[data-action="{action}"]'
        )

    def wait_for_task(self, step: str) -> None:
        """The step's task shows on the page (after the hand-off has been folded)."""
        deadline = time.monotonic() + WAIT_MS / 1000
        while not self.page.locator(f'#task-actions tr[data-step="{step}"]').count():
            assert time.monotonic() < deadline, f"no task {step} for {self.username}"
            self.page.wait_for_timeout(500)
            self.page.reload()
            self.page.locator("#actions").wait_for()

    def claim(self, step: str) -> None:
        self.wait_for_task(step)
        self.button("claim", step).click()
        try:
            expect(self.page.locator("#action-outcome")).to_contain_text("«Nhận xử lý»")
        except AssertionError as failed:
            said = self.page.locator("#toast").inner_text()
            raise AssertionError(f"{self.username} could not claim {step}: {said}") from failed
        expect(self.page.locator(f'#task-actions tr[data-step="{step}"]')).to_contain_text(
            self.username
        )

    def act(
        self,
        action: str,
        step: str | None = None,
        fill: Callable[[Page], None] | None = None,
        shot: str | None = None,
    ) -> str:
        """Click the action, fill its dialog, confirm; answers the outcome shown."""
        page = self.page
        self.button(action, step).click()
        dialog = page.locator("dialog#action-dialog")
        expect(dialog).to_be_visible()
        if fill is not None:
            fill(page)
        if shot:
            self.shot(shot)
        page.locator("#action-confirm").click()
        expect(dialog).to_be_hidden(timeout=WAIT_MS)
        outcome = page.locator("#action-outcome")
        expect(outcome).to_contain_text("Đã thực hiện")
        return outcome.inner_text()

    def close(self) -> None:
        assert self.errors == [], self.errors
        self.page.close()


def status_of(system: dict[str, ServiceProcess], code: str) -> int:
    return int(public_view(system["intake"].url, code)["status"])


def audit(system: dict[str, ServiceProcess], dossier: str) -> list[tuple[str, str, str]]:
    routing = system["routing"].url
    trail = httpx.get(
        f"{routing}/v1/dossiers/{dossier}/workflow", headers=bearer(routing, "giamsat"), timeout=10
    ).json()["audit"]
    return [(a["actor"], a["role"], a["action"]) for a in trail]


def test_a_land_dossier_goes_desk_land_office_tax_payment_and_back_through_the_console(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console, intake = system["routing"].url, system["intake"].url
    receipt = submit(intake, application(LAND_TAX))
    code, dossier = receipt["code"], receipt["id"]
    watch = StatusWatch(intake, receipt)

    # The desk receives it: its page names the applicant (ID masked), summary, papers.
    desk = Desk(browser, console, f"canbo@{DONG_LAM}")
    desk.from_inbox(code)
    page = desk.page
    expect(page.locator("#applicant-name")).to_have_text("Trần Văn Minh")
    expect(page.locator("#applicant-id")).to_have_text("*********789")
    assert "001085006789" not in page.content()
    expect(page.locator("#dossier-summary")).to_have_text(f"Hồ sơ {LAND_TAX}")
    expect(page.locator("#documents")).to_contain_text("Đơn đăng ký biến động đất đai")
    expect(page.locator("#documents")).to_contain_text("s3://dossiers/DDK_11.pdf")
    expect(page.locator("#dossier-procedure")).to_contain_text("quyền sử dụng đất")
    desk.shot("land-01-desk-dossier")
    # Form 01, as intake prints it, opens from the page.
    with page.expect_popup() as popup:
        page.locator("#receipt-link").click()
    expect(popup.value.locator("body")).to_contain_text(code)
    popup.value.close()

    desk.claim("tiep_nhan")
    desk.shot("land-02-desk-claimed")

    def names_next(p: Page) -> None:
        expect(p.locator("#next-steps")).to_contain_text("Văn phòng Đăng ký đất đai")

    outcome = desk.act("complete", "tiep_nhan", names_next, shot="land-03-complete-dialog")
    assert "4 — Đang xử lý" in outcome
    assert "Đang chờ: Chi nhánh Văn phòng Đăng ký đất đai" in outcome
    desk.shot("land-04-desk-handed-off")

    land = Desk(browser, console, f"canbo@{DISTRICT_LAND_OFFICE}")
    land.from_inbox(code)
    land.claim("van_phong_dang_ky")
    land.act("complete", "van_phong_dang_ky")
    land.shot("land-05-land-office-done")
    land.close()

    # The tax office ends its step by recording the obligation: no "complete" button.
    tax = Desk(browser, console, f"canbo@{DISTRICT_TAX}")
    tax.from_inbox(code)
    tax.claim("xac_dinh_nghia_vu")
    expect(tax.button("complete", "xac_dinh_nghia_vu")).to_have_count(0)

    def amount(p: Page) -> None:
        p.locator("#action-confirm").click()  # empty: refused in the dialog, in Vietnamese
        expect(p.locator("#action-error")).to_have_text("Hãy nhập số tiền lớn hơn 0.")
        p.fill("#f-amount", str(AMOUNT))

    outcome = tax.act("obligation", "xac_dinh_nghia_vu", amount, shot="land-06-obligation")
    assert "6 — Nghĩa vụ tài chính" in outcome and "công dân" in outcome
    expect(tax.page.locator("#waits .wait-payment")).to_contain_text("12.500.000 đồng")
    expect(tax.page.locator("#task-actions")).to_have_count(0)
    tax.shot("land-07-payment-wait")
    tax.close()
    watch.reaches(6)

    # The citizen pays online (the portal starts the payment; the gateway sends the IPN).
    gateway(system)
    started = start_payment(intake, code)
    assert started["amount_vnd"] == AMOUNT
    citizen_pays(started)
    watch.reaches(4)
    [paid] = payments_of(intake, code)
    assert paid["state"] == "paid"

    # The desk sees the payment and its receipt, records the result and finishes.
    desk.page.reload()
    desk.page.locator("#actions").wait_for()
    desk.wait_for_task("tra_ket_qua")
    expect(desk.page.locator("#payments")).to_contain_text("Đã thanh toán")
    with desk.page.expect_popup() as popup:
        desk.page.locator(f"#receipt-{paid['txn_ref']}").click()
    expect(popup.value.locator("body")).to_contain_text("12.500.000")
    popup.value.close()
    desk.shot("land-08-paid")
    desk.claim("tra_ket_qua")
    desk.act("result", "tra_ket_qua", lambda p: p.fill("#f-papers", "GCN-CS-0042"))
    outcome = desk.act("complete", "tra_ket_qua")
    assert "9 — Đã xử lý xong" in outcome
    # An official may not sign the result over: the page says who does.
    expect(desk.button("return_result")).to_have_count(0)
    expect(desk.page.locator("#actions .head-signs")).to_contain_text(
        "lãnh đạo đơn vị ký trả kết quả"
    )
    desk.shot("land-09-result-ready")
    desk.close()

    head = Desk(browser, console, f"lanhdao@{DONG_LAM}")
    head.open(code)
    outcome = head.act("return_result", shot="land-10-return-dialog")
    assert "10 — Đã trả kết quả" in outcome
    head.shot("land-11-returned")
    # Form 06 lists each hand-off with its units, time, official and verdict; it prints.
    handoffs = head.page.locator("#handoffs tbody tr")
    assert handoffs.count() >= 3
    expect(head.page.locator("#handoffs")).to_contain_text(f"canbo@{DISTRICT_TAX}")
    head.page.evaluate("document.body.classList.add('print-form06')")
    head.page.emulate_media(media="print")
    assert head.page.locator("#applicant").is_hidden()
    assert head.page.locator("#form06").is_visible()
    head.shot("land-12-form06-print")
    head.page.emulate_media(media="screen")
    head.close()

    view = watch.reaches(10)
    assert view["status"] == 10
    actions = audit(system, dossier)
    assert (f"canbo@{DISTRICT_TAX}", "official", "RequestObligation") in actions
    assert (f"canbo@{DONG_LAM}", "official", "RecordResult") in actions
    assert (f"lanhdao@{DONG_LAM}", "unit_head", "ReturnResult") in actions
    assert status_of(system, code) == 10


DEATH_UNITS = {
    "xoa_thuong_tru": DONG_LAM_POLICE,
    "tro_cap_mai_tang": DISTRICT_LABOUR,
    "tu_tuat": DISTRICT_SOCIAL_INSURANCE,
}


def test_a_death_chain_with_every_sub_procedure_is_finished_by_each_unit_in_the_console(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console, intake = system["routing"].url, system["intake"].url
    chosen = ["1.000656", "1.004206", "1.001776", "1.002128"]
    receipt = submit(intake, application(DEATH_CHAIN, chosen=chosen))
    code, dossier = receipt["code"], receipt["id"]
    watch = StatusWatch(intake, receipt)

    desk = Desk(browser, console, f"canbo@{DONG_LAM}")
    desk.from_inbox(code)
    # The desk sees every sub-procedure the family chose.
    subs = desk.page.locator("#subprocedures")
    for name in ("Đăng ký khai tử", "Xóa đăng ký thường trú", "Hưởng trợ cấp mai táng"):
        expect(subs).to_contain_text(name)
    expect(subs).to_contain_text("Giải quyết hưởng chế độ tử tuất")
    desk.shot("death-01-desk")
    desk.claim("khai_tu")
    desk.act("result", "khai_tu", lambda p: p.fill("#f-papers", "TT-KT-0007/2026"))

    def three_branches(p: Page) -> None:
        nxt = p.locator("#next-steps li")
        expect(nxt).to_have_count(3)
        expect(p.locator("#next-steps")).to_contain_text("Xóa đăng ký thường trú")

    outcome = desk.act("complete", "khai_tu", three_branches, shot="death-02-branches")
    assert "4 — Đang xử lý" in outcome

    for step, unit in DEATH_UNITS.items():
        official = Desk(browser, console, f"canbo@{unit}")
        official.from_inbox(code)
        if unit == DONG_LAM_POLICE:
            # A unit working one sub-procedure sees that one only.
            expect(official.page.locator("#subprocedures")).to_contain_text(
                "Xóa đăng ký thường trú"
            )
            expect(official.page.locator("#subprocedures")).not_to_contain_text("tử tuất")
        official.claim(step)
        official.act("complete", step)
        official.shot(f"death-03-{step}")
        official.close()

    watch.reaches(9)
    desk.page.reload()
    desk.page.locator("#actions").wait_for()
    expect(desk.page.locator("#actions .head-signs")).to_contain_text(
        "lãnh đạo đơn vị ký trả kết quả"
    )
    desk.close()
    head = Desk(browser, console, f"lanhdao@{DONG_LAM}")
    head.open(code)
    outcome = head.act("return_result")
    assert "10 — Đã trả kết quả" in outcome
    expect(head.page.locator("#handoffs tbody tr")).to_have_count(6)
    head.shot("death-04-returned")
    head.close()

    assert watch.reaches(10)["status"] == 10
    actions = audit(system, dossier)
    for unit in DEATH_UNITS.values():
        assert (f"canbo@{unit}", "official", "Complete") in actions
    assert (f"lanhdao@{DONG_LAM}", "unit_head", "ReturnResult") in actions


def test_a_supplement_round_trip_then_the_agency_wait_is_shown(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console, intake = system["routing"].url, system["intake"].url
    receipt = submit(intake, application(BIRTH_CHAIN, chosen=[BIRTH, "1.004194", "1.002183"]))
    code = receipt["code"]
    watch = StatusWatch(intake, receipt)

    clerk = Desk(browser, console, f"canbo@{DONG_LAM}")
    clerk.from_inbox(code)
    clerk.claim("khai_sinh")

    def missing(p: Page) -> None:
        expect(p.locator("#f-docs")).to_contain_text("Giấy chứng sinh")
        p.locator("#action-confirm").click()  # nothing ticked: refused in the dialog
        expect(p.locator("#action-error")).to_have_text("Hãy chọn ít nhất một giấy tờ cần bổ sung.")
        p.locator('#f-docs input[value="GCS"]').check()
        p.fill("#f-reason", "Giấy chứng sinh không rõ dấu")

    outcome = clerk.act("supplement", "khai_sinh", missing, shot="supplement-01-dialog")
    assert "5 — Yêu cầu bổ sung" in outcome
    expect(clerk.page.locator("#waits .wait-supplement")).to_contain_text("GCS")
    expect(clerk.page.locator("#task-actions button")).to_have_count(0)
    clerk.shot("supplement-02-waiting")
    watch.reaches(5)

    # The citizen brings the paper through intake's API; the task can be finished again.
    Citizen(system["intake"]).brings_papers(receipt, ["GCS"])
    watch.reaches(4)
    clerk.page.reload()
    clerk.page.locator("#actions").wait_for()
    expect(clerk.button("complete", "khai_sinh")).to_be_visible()
    expect(clerk.page.locator("#documents")).to_contain_text("Bổ sung")
    outcome = clerk.act("complete", "khai_sinh")
    assert "4 — Đang xử lý" in outcome
    # The health-insurance card is social insurance's system's to answer: the page
    # says what is awaited and since when.
    clerk.page.reload()
    agency = clerk.page.locator("#waits .wait-agency")
    agency.wait_for()
    expect(agency).to_contain_text("Cấp thẻ bảo hiểm y tế")
    expect(agency).to_contain_text("từ ")
    clerk.shot("supplement-03-agency-wait")
    clerk.close()
    view = public_view(intake, code)
    kinds = [e["event_type"] for e in view["timeline"]]
    assert "dossier.supplement_requested" in kinds and "dossier.supplement_submitted" in kinds
    assert view["status"] == 4


def test_the_head_of_the_desk_refuses_a_dossier_and_a_stale_click_is_refused_in_vietnamese(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console, intake = system["routing"].url, system["intake"].url
    receipt = submit(intake, application(BIRTH))
    code = receipt["code"]
    watch = StatusWatch(intake, receipt)

    # The official sees the task but no refusal button: the head signs form 03.
    clerk = Desk(browser, console, f"canbo@{DONG_LAM}")
    clerk.from_inbox(code)
    clerk.wait_for_task("khai_sinh")
    expect(clerk.button("refuse")).to_have_count(0)
    expect(clerk.page.locator("#actions")).to_contain_text("Từ chối tiếp nhận (mẫu 03) do lãnh đạo")

    head = Desk(browser, console, f"lanhdao@{DONG_LAM}")
    head.open(code)

    def reasons(p: Page) -> None:
        expect(p.locator("#action-dialog .warning")).to_contain_text("không thể hoàn tác")
        p.fill("#f-reasons", "Giấy chứng sinh là bản sao không hợp lệ\nThiếu chữ ký người khai")

    outcome = head.act("refuse", None, reasons, shot="refuse-01-dialog")
    assert "3 — Không được tiếp nhận" in outcome
    expect(head.page.locator("#task-actions")).to_have_count(0)
    head.shot("refuse-02-refused")
    head.close()
    watch.reaches(3)

    # The clerk's page is stale: the claim is refused with the problem's Vietnamese title.
    clerk.button("claim", "khai_sinh").click()
    toast = clerk.page.locator("#toast")
    expect(toast).to_contain_text("Không thực hiện được: ")
    said = toast.inner_text()
    assert any(title in said for title in ("Thao tác không hợp lệ", "Không tìm thấy nhiệm vụ"))
    assert "task" not in said and "claim" not in said  # no English detail
    # The page was reloaded: the refused dossier offers nothing any more.
    expect(clerk.page.locator("#action-outcome")).to_contain_text("Hồ sơ đã được tải lại.")
    expect(clerk.page.locator("#task-actions")).to_have_count(0)
    clerk.shot("refuse-03-stale-claim")
    clerk.close()
    view = public_view(intake, code)
    refused = [e for e in view["timeline"] if e["event_type"] == "dossier.refused"]
    assert refused and "Giấy chứng sinh là bản sao không hợp lệ" in refused[0]["details"]["reason"]
    assert view["status"] == 3


def test_a_task_is_forwarded_to_the_head_sent_back_to_the_desk_and_processing_stopped(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    console, intake = system["routing"].url, system["intake"].url
    receipt = submit(intake, application(BIRTH_CHAIN, chosen=[BIRTH, "1.004194"]))
    code, dossier = receipt["code"], receipt["id"]
    watch = StatusWatch(intake, receipt)

    desk = Desk(browser, console, f"canbo@{DONG_LAM}")
    desk.from_inbox(code)
    desk.claim("khai_sinh")
    desk.act("complete", "khai_sinh")
    desk.close()

    # The police official hands the task to the head of the police unit.
    police = Desk(browser, console, f"canbo@{DONG_LAM_POLICE}")
    police.from_inbox(code)
    police.claim("thuong_tru")

    def colleague(p: Page) -> None:
        options = p.locator("#f-to option")
        expect(options).to_contain_text([f"lanhdao@{DONG_LAM_POLICE}"])
        p.select_option("#f-to", f"lanhdao@{DONG_LAM_POLICE}")

    police.act("forward", "thuong_tru", colleague, shot="forward-01-dialog")
    row = police.page.locator('#task-actions tr[data-step="thuong_tru"]')
    expect(row).to_contain_text(f"lanhdao@{DONG_LAM_POLICE}")
    expect(row.locator("button")).to_have_count(0)  # no longer the official's to work
    police.close()

    # The head sends it back to the desk's step, with a reason.
    head = Desk(browser, console, f"lanhdao@{DONG_LAM_POLICE}")
    head.open(code)

    def back(p: Page) -> None:
        expect(p.locator("#f-target option")).to_have_text(
            ["Đăng ký khai sinh, chuyển thông tin liên thông"]
        )
        p.locator("#action-confirm").click()  # no reason: refused in the dialog
        expect(p.locator("#action-error")).to_have_text("Hãy điền đủ các ô bắt buộc.")
        p.fill("#f-reason", "Sai địa chỉ thường trú trên tờ khai")

    outcome = head.act("return", "thuong_tru", back, shot="return-01-dialog")
    assert "Ủy ban nhân dân xã Đông Lâm" in outcome
    head.shot("return-02-returned")
    head.close()

    # The desk has the step again; its head stops processing (form 05).
    desk = Desk(browser, console, f"canbo@{DONG_LAM}")
    desk.from_inbox(code)
    desk.wait_for_task("khai_sinh")
    expect(desk.button("claim", "khai_sinh")).to_be_visible()
    expect(desk.button("stop")).to_have_count(0)
    desk.close()
    desk_head = Desk(browser, console, f"lanhdao@{DONG_LAM}")
    desk_head.open(code)
    outcome = desk_head.act(
        "stop", None, lambda p: p.fill("#f-reason", "Người yêu cầu đã chuyển nơi cư trú")
    )
    assert "8 — Dừng xử lý" in outcome
    expect(desk_head.page.locator("#actions")).to_contain_text("Hồ sơ không còn việc cần xử lý.")
    desk_head.shot("stop-01-stopped")
    desk_head.close()

    assert watch.reaches(8)["status"] == 8
    actions = audit(system, dossier)
    assert (f"canbo@{DONG_LAM_POLICE}", "official", "Forward") in actions
    assert (f"lanhdao@{DONG_LAM_POLICE}", "unit_head", "ReturnTo") in actions
    assert (f"lanhdao@{DONG_LAM}", "unit_head", "Stop") in actions


def test_the_apology_letter_form_04_opens_from_the_dossier_page(
    system: dict[str, ServiceProcess], browser: Browser, infra: Infra
) -> None:
    """SLA writes form 04 when a unit overran its time; the page links it, and the link
    opens the letter (it answered 404 when it pointed at routing's own origin)."""
    console, intake = system["routing"].url, system["intake"].url
    receipt = submit(intake, application(BIRTH))
    now = datetime.now(UTC)
    letter = ApologyLetter(
        id=uuid4(),
        dossier_id=UUID(receipt["id"]),
        dossier_code=receipt["code"],
        procedure_code=BIRTH,
        procedure_name="Đăng ký khai sinh",
        contact_ref=receipt["id"],
        reason="Việc giải quyết hồ sơ chưa hoàn thành trong thời hạn được giao.",
        responsible_unit=DONG_LAM,
        responsible_unit_name="Ủy ban nhân dân xã Đông Lâm",
        step_name=None,
        old_appointment_at=now,
        new_appointment_at=now + timedelta(days=2),
        signed_by_title="Chủ tịch UBND xã",
        issued_at=now,
    )
    schema = f"{system['sla'].env['SCHEMA_PREFIX']}sla"
    # Playwright's sync API holds this thread's event loop: write from another thread.
    with ThreadPoolExecutor(1) as pool:
        pool.submit(asyncio.run, insert_letter(infra, schema, letter)).result()

    clerk = Desk(browser, console, f"canbo@{DONG_LAM}")
    clerk.from_inbox(receipt["code"])
    link = clerk.page.locator(f"#apology-{letter.id}")
    expect(link).to_be_visible()
    clerk.shot("apology-01-listed")
    with clerk.page.expect_popup() as popup:
        link.click()
    opened = popup.value
    expect(opened.locator("body")).to_contain_text(receipt["code"])
    expect(opened.locator("body")).to_contain_text("Trần Văn Minh")
    opened.screenshot(path=str(SHOTS / "actions-apology-02-form04.png"), full_page=True)
    check_axe(opened, "actions-apology-02-form04")
    opened.close()
    clerk.close()
    # The print is in the access log, as a read of the citizen's personal data.
    trail = httpx.get(
        f"{console}/v1/audit/reads",
        params={"dossier": receipt["code"], "actor": f"canbo@{DONG_LAM}"},
        headers=bearer(console, "giamsat"),
        timeout=10,
    ).json()["reads"]
    assert any(r["what"] == "console.form" and r["parts"] == ["04"] for r in trail)


# --- the console endpoints the actions added, as an attacker tries them -----------------------


def test_another_units_official_lists_no_officials_and_prints_no_form(
    system: dict[str, ServiceProcess],
) -> None:
    console, intake = system["routing"].url, system["intake"].url
    receipt = submit(intake, application(BIRTH))
    code = receipt["code"]
    own = bearer(console, f"canbo@{DONG_LAM}")
    # The dossier is in routing before anyone asks.
    deadline = time.monotonic() + 30
    while httpx.get(f"{console}/console/api/dossiers/{code}", headers=own).status_code != 200:
        assert time.monotonic() < deadline
        time.sleep(0.3)

    mine = httpx.get(f"{console}/console/api/units/{DONG_LAM}/officials", headers=own)
    assert mine.status_code == 200
    assert f"lanhdao@{DONG_LAM}" in {o["username"] for o in mine.json()["officials"]}
    assert "password_hash" not in mine.text

    neighbour = bearer(console, f"canbo@{DONG_PHU}")
    theirs = httpx.get(f"{console}/console/api/units/{DONG_LAM}/officials", headers=neighbour)
    assert theirs.status_code == 403
    assert theirs.json()["title"] == "Không có quyền xem cán bộ của đơn vị khác"
    assert "lanhdao" not in theirs.text
    assert httpx.get(f"{console}/console/api/units/{DONG_LAM}/officials").status_code == 401

    forms = [
        f"/console/api/dossiers/{code}/receipt.html",
        f"/console/api/dossiers/{code}/apologies/{receipt['id']}.html",
        f"/console/api/dossiers/{code}/payments/ABC123/receipt.html",
    ]
    for path in forms:
        answer = httpx.get(f"{console}{path}", headers=neighbour)
        assert answer.status_code == 404, (path, answer.text)
        assert "Trần Văn Minh" not in answer.text
        assert httpx.get(f"{console}{path}").status_code == 401
    # A letter id that is not one of this dossier's letters prints nothing either.
    assert httpx.get(f"{console}{forms[1]}", headers=own).status_code == 404
    # Nothing was recorded as read by the neighbour: no form left the services.
    supervisor = bearer(console, "giamsat")
    trail = httpx.get(
        f"{console}/v1/audit/reads",
        params={"dossier": code, "actor": f"canbo@{DONG_PHU}"},
        headers=supervisor,
    ).json()["reads"]
    assert trail == []

    # The desk's own official prints form 01; the read is in the trail.
    printed = httpx.get(f"{console}{forms[0]}", headers=own)
    assert printed.status_code == 200 and code in printed.text
    trail = httpx.get(
        f"{console}/v1/audit/reads",
        params={"dossier": code, "actor": f"canbo@{DONG_LAM}"},
        headers=supervisor,
    ).json()["reads"]
    assert any(r["what"] == "console.form" and r["parts"] == ["01"] for r in trail)


def test_intakes_particulars_are_refused_without_a_key_and_mask_the_citizen_id(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    receipt = submit(intake, application(BIRTH))
    path = f"{intake}/v1/dossiers/{receipt['code']}/particulars"
    anonymous = httpx.get(path, timeout=10)
    assert anonymous.status_code == 401
    assert "Trần Văn Minh" not in anonymous.text
    wrong = httpx.get(path, headers={"X-API-Key": "not-a-key"}, timeout=10)
    assert wrong.status_code == 401
    own = httpx.get(path, headers=PORTAL, timeout=10)
    assert own.status_code == 200
    body = own.json()
    assert body["applicant"]["citizen_id_masked"] == "*********789"
    assert "001085006789" not in own.text
