"""An official works a dossier through the operator console in a real browser.

Debian's Chromium, driven by Playwright (no browser download); screenshots of each
screen go to ``test-artifacts/screenshots/``.
"""

from __future__ import annotations

import os
import shutil
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from tests.support.axe import check_axe
from tests.support.credentials import PORTAL
from tests.support.infra import REPO
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, birth_registration, eventually, timeline_sources

try:
    from playwright.sync_api import Browser, Page, sync_playwright
except ImportError:  # the lock file does not carry it yet
    pytest.skip("the playwright package is not installed", allow_module_level=True)

pytestmark = pytest.mark.e2e

CHROMIUM = os.environ.get("CHROMIUM", "/usr/bin/chromium")
CHROMIUM_ARGS = [
    "--headless",
    "--no-sandbox",
    "--disable-gpu",
    "--disable-quic",
    "--no-first-run",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
]
SHOTS = REPO / "test-artifacts" / "screenshots"


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    if not Path(CHROMIUM).exists() and shutil.which("chromium") is None:
        pytest.skip("Debian's chromium is not installed (apt-get install -y chromium)")
    SHOTS.mkdir(parents=True, exist_ok=True)
    with sync_playwright() as p:
        launched = p.chromium.launch(executable_path=CHROMIUM, args=CHROMIUM_ARGS)
        try:
            yield launched
        finally:
            launched.close()


def submit(system: dict[str, ServiceProcess], email: str) -> dict[str, str]:
    intake = system["intake"].url
    response = httpx.post(
        f"{intake}/v1/dossiers", headers=PORTAL, json=birth_registration(email=email), timeout=10
    )
    assert response.status_code == 201, response.text
    receipt: dict[str, str] = response.json()
    eventually(lambda: "routing" in timeline_sources(intake, receipt["id"]))
    return receipt


def login(page: Page, base: str, username: str) -> None:
    page.goto(f"{base}/console/")
    page.fill("#username", username)
    page.fill("#password", "demo")
    page.click("#login-btn")
    page.wait_for_selector("#inbox-table")


def test_an_official_claims_and_completes_a_step_and_sees_the_dossier_move(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    receipt = submit(system, "console@example.vn")
    code = receipt["code"]
    console = system["routing"].url
    page = browser.new_page(viewport={"width": 1400, "height": 900})
    errors: list[str] = []
    page.on("pageerror", lambda exc: errors.append(str(exc)))

    page.goto(f"{console}/console/")
    page.screenshot(path=str(SHOTS / "console-01-login.png"))
    check_axe(page, "console-login")
    login(page, console, f"canbo@{COMMUNE}")

    # The inbox shows the new dossier with its remaining working time, coloured; in a
    # commune whose queue runs to pages (the suite's other dossiers), found by its code.
    page.select_option("#search-mode", "code")
    page.fill("#search-q", code)
    page.click("#search-btn")
    row = page.locator(f'#inbox-table tr[data-dossier="{code}"]')
    row.wait_for()
    assert page.locator("#inbox-unit").inner_text() == COMMUNE
    assert row.locator(".pill").get_attribute("class") != "pill none"
    assert "còn" in row.locator(".pill").inner_text() or "trễ" in row.locator(".pill").inner_text()
    page.screenshot(path=str(SHOTS / "console-02-inbox.png"), full_page=True)
    check_axe(page, "console-inbox")

    row.locator("button.claim").click()
    row.locator("button.complete").wait_for()
    assert row.locator("td").nth(2).inner_text().startswith("Đang xử lý")
    page.screenshot(path=str(SHOTS / "console-03-claimed.png"), full_page=True)
    check_axe(page, "console-claimed")

    task_id = row.get_attribute("data-task")
    row.locator("button.complete").click()
    # The finished task leaves the inbox (a next step, if any, is another task).
    page.locator(f'#inbox-table tr[data-task="{task_id}"]').wait_for(state="detached")
    page.screenshot(path=str(SHOTS / "console-04-completed.png"), full_page=True)
    check_axe(page, "console-completed")

    # The dossier moved: routing handed it off (form 06) and intake's public status followed.
    intake = system["intake"].url

    def moved() -> bool:
        view = httpx.get(f"{intake}/v1/dossiers/{code}", headers=PORTAL, timeout=5).json()
        kinds = {e["event_type"] for e in view["timeline"]}
        return "step.handed_off" in kinds and view["status"] != 2

    eventually(moved)
    page.goto(f"{console}/console/#/dossier/{code}")
    page.locator("#handoffs tbody tr td").first.wait_for()
    handoff = page.locator("#handoffs tbody tr").first.inner_text()
    assert COMMUNE in handoff
    assert "canbo@" in handoff
    status = page.locator("#dossier-status").inner_text()
    assert not status.startswith("2 ")
    assert "step.handed_off" in page.locator("#timeline").inner_text()
    # Its trace: the waterfall holds the spans of the submission across the services.
    page.locator("#waterfall .wf-row").first.wait_for()
    services = set(
        page.locator("#waterfall .wf-row").evaluate_all("rows => rows.map(r => r.dataset.service)")
    )
    assert {"intake", "routing", "sla", "notify"} <= services
    page.screenshot(path=str(SHOTS / "console-05-dossier.png"), full_page=True)
    # dossier.js (the actions helper's screen) has an unnamed trace picker: reported.
    check_axe(page, "console-dossier")
    assert errors == []
    page.close()


def test_each_role_sees_only_what_it_may(
    system: dict[str, ServiceProcess], browser: Browser
) -> None:
    receipt = submit(system, "roles@example.vn")
    console = system["routing"].url
    page = browser.new_page(viewport={"width": 1400, "height": 900})

    # An official of another unit: the dossier is not theirs to read.
    other = "000.01.02.H99"
    token = httpx.post(
        f"{console}/v1/auth/login",
        json={"username": f"canbo@{other}", "password": "demo"},
        timeout=10,
    ).json()["access_token"]
    headers = {"Authorization": f"Bearer {token}"}
    answer = httpx.get(f"{console}/console/api/dossiers/{receipt['code']}", headers=headers)
    assert answer.status_code in (403, 404)
    assert httpx.get(f"{console}/console/api/stats", headers=headers).status_code == 403
    assert httpx.get(f"{console}/console/api/health", headers=headers).status_code == 403
    assert (
        httpx.get(f"{console}/console/api/inbox?unit={COMMUNE}", headers=headers).status_code == 403
    )

    # An official's console offers neither statistics nor system health.
    login(page, console, f"canbo@{COMMUNE}")
    assert page.locator('#nav a[data-view="stats"]').is_hidden()
    assert page.locator('#nav a[data-view="health"]').is_hidden()

    # The unit head sees the statistics of their unit.
    page.click("#logout-btn")
    login(page, console, f"lanhdao@{COMMUNE}")
    page.click('#nav a[data-view="stats"]')
    page.locator("#stats-table").wait_for()
    assert COMMUNE in page.locator("#stats-table").inner_text()
    page.screenshot(path=str(SHOTS / "console-06-stats-unit-head.png"), full_page=True)
    check_axe(page, "console-stats-unit-head")

    # The province supervisor sees every unit's overdue list and the system's health.
    page.click("#logout-btn")
    login(page, console, "giamsat")
    page.click('#nav a[data-view="overdue"]')
    page.locator("#overdue-table").wait_for()
    page.screenshot(path=str(SHOTS / "console-07-overdue.png"), full_page=True)
    check_axe(page, "console-overdue")
    page.click('#nav a[data-view="health"]')
    page.locator(".outbox-backlog").first.wait_for()
    assert page.locator(".health-grid > .card").count() == 4
    page.screenshot(path=str(SHOTS / "console-08-health.png"), full_page=True)
    check_axe(page, "console-health")
    page.close()
