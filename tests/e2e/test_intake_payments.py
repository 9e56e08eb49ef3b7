"""Online payment of a dossier's financial obligation through the stand-in VNPay gateway,
over the running system: the land -> tax chain (1.012603) waits in status 6 for the amount
the tax office assessed; the citizen pays online; the dossier resumes once."""

from __future__ import annotations

from typing import Any
from urllib.parse import parse_qsl, urlsplit

import httpx
import pytest

from services.intake.config import DEV_VNPAY_HASH_SECRET
from services.intake.domain import vnpay
from tests.support.credentials import portal_headers, service_headers
from tests.support.officials import (
    DISTRICT_LAND_OFFICE,
    DISTRICT_TAX,
    DONG_LAM,
    Official,
    StatusWatch,
    application,
    public_view,
    submit,
)
from tests.support.processes import ServiceProcess
from tests.support.story import eventually

pytestmark = pytest.mark.e2e

LAND_TAX = "1.012603"
AMOUNT = 12_500_000
TIMEOUT = 10.0


def awaiting_payment(system: dict[str, ServiceProcess]) -> tuple[dict[str, Any], StatusWatch]:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, application(LAND_TAX))
    dossier = receipt["id"]
    watch = StatusWatch(intake, receipt)
    Official(routing, DONG_LAM).work(dossier, "tiep_nhan")
    Official(routing, DISTRICT_LAND_OFFICE).work(dossier, "van_phong_dang_ky")
    tax = Official(routing, DISTRICT_TAX)
    task = tax.task_of(dossier, "xac_dinh_nghia_vu")
    tax.claim(task)
    tax.assess_obligation(task, AMOUNT)
    watch.reaches(6)
    return receipt, watch


def gateway(system: dict[str, ServiceProcess], **control: Any) -> str:
    url = system["vnpay"].url
    assert httpx.post(f"{url}/_reset", timeout=TIMEOUT).status_code == 200
    assert httpx.post(f"{url}/_control", json=control, timeout=TIMEOUT).status_code == 200
    return url


def start_payment(intake: str, code: str) -> dict[str, Any]:
    response = httpx.post(
        f"{intake}/v1/dossiers/{code}/payments",
        json={"client_ip": "203.0.113.7"},
        headers=portal_headers(),
        timeout=TIMEOUT,
    )
    assert response.status_code == 201, response.text
    started: dict[str, Any] = response.json()
    return started


def citizen_pays(started: dict[str, Any]) -> httpx.Response:
    """The citizen's browser at the gateway; it comes back with a 302 to the return URL."""
    response = httpx.get(started["payment_url"], timeout=TIMEOUT, follow_redirects=False)
    assert response.status_code == 302, response.text
    return response


def ipn_answers(vnpay_url: str, txn_ref: str) -> list[str]:
    sent = httpx.get(f"{vnpay_url}/_ipns", timeout=TIMEOUT).json()
    return [i["answer"]["RspCode"] for i in sent if i["txn_ref"] == txn_ref]


def payments_of(intake: str, code: str) -> list[dict[str, Any]]:
    response = httpx.get(
        f"{intake}/v1/dossiers/{code}/payments", headers=portal_headers(), timeout=TIMEOUT
    )
    assert response.status_code == 200, response.text
    found: list[dict[str, Any]] = response.json()
    return found


def paid_events(intake: str, dossier: str) -> list[dict[str, Any]]:
    return [
        e
        for e in public_view(intake, dossier)["timeline"]
        if e["source"] == "intake" and e["event_type"] == "dossier.obligation_paid"
    ]


def resumed_reasons(intake: str, dossier: str) -> list[str]:
    return [
        e["details"]["reason"]
        for e in public_view(intake, dossier)["timeline"]
        if e["event_type"] == "dossier.processing_resumed"
    ]


def reconcile(intake: str, headers: dict[str, str] | None = None) -> httpx.Response:
    return httpx.post(
        f"{intake}/internal/v1/payments/reconcile",
        params={"grace_seconds": 0},
        headers=service_headers("ops") if headers is None else headers,
        timeout=60.0,
    )


def test_a_payment_is_recorded_once_though_the_ipn_arrives_three_times(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    receipt, watch = awaiting_payment(system)
    vnpay_url = gateway(system, ipn="repeat", ipn_repeats=3)

    # The amount is the one the tax office assessed; a client cannot choose it.
    chosen = httpx.post(
        f"{intake}/v1/dossiers/{receipt['code']}/payments",
        json={"amount_vnd": 1},
        headers=portal_headers(),
        timeout=TIMEOUT,
    )
    assert chosen.status_code == 422
    started = start_payment(intake, receipt["code"])
    assert started["amount_vnd"] == AMOUNT
    sent = dict(parse_qsl(urlsplit(started["payment_url"]).query))
    assert sent["vnp_Amount"] == str(AMOUNT * 100)
    assert sent["vnp_Command"] == "pay" and sent["vnp_CurrCode"] == "VND"
    assert vnpay.verify(sent, DEV_VNPAY_HASH_SECRET)

    back = citizen_pays(started)
    assert eventually(lambda: len(ipn_answers(vnpay_url, started["txn_ref"])) == 3)
    assert ipn_answers(vnpay_url, started["txn_ref"]) == ["00", "02", "02"]

    view = watch.reaches(4)  # the clock resumes through dossier.obligation_paid
    assert view["status"] == 4
    assert len(paid_events(intake, receipt["id"])) == 1
    assert eventually(lambda: resumed_reasons(intake, receipt["id"])) == ["obligation_paid"]
    [payment] = payments_of(intake, receipt["code"])
    assert payment["state"] == "paid" and payment["receipt_no"]

    # The return page shows the outcome (it changed nothing: the IPN did).
    page = httpx.get(back.headers["location"], timeout=TIMEOUT)
    assert page.status_code == 200
    assert "Giao dịch thanh toán thành công" in page.text

    base = f"{intake}/v1/dossiers/{receipt['code']}/payments/{started['txn_ref']}"
    data = httpx.get(f"{base}/receipt", headers=portal_headers(), timeout=TIMEOUT)
    assert data.status_code == 200, data.text
    bill = data.json()
    assert bill["title"] == "BIÊN LAI THU TIỀN ĐIỆN TỬ"
    assert bill["receipt_no"] == payment["receipt_no"]
    assert bill["amount_vnd"] == AMOUNT and bill["dossier_code"] == receipt["code"]
    assert bill["content"] == f"Nộp nghĩa vụ tài chính của hồ sơ {receipt['code']}"
    html = httpx.get(f"{base}/receipt.html", headers=portal_headers(), timeout=TIMEOUT)
    assert html.status_code == 200
    assert "Biên lai thu tiền điện tử" in html.text and "12.500.000 đồng" in html.text
    # Another try on the same obligation is refused: nothing is owed any more.
    again = httpx.post(
        f"{intake}/v1/dossiers/{receipt['code']}/payments",
        headers=portal_headers(),
        timeout=TIMEOUT,
    )
    assert again.status_code == 409
    assert len(payments_of(intake, receipt["code"])) == 1


def test_a_tampered_or_forged_ipn_is_refused_and_changes_nothing(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    receipt, watch = awaiting_payment(system)
    vnpay_url = gateway(system, tamper_ipn=True)
    started = start_payment(intake, receipt["code"])
    citizen_pays(started)
    # The gateway's IPN, its amount changed after signing.
    assert eventually(lambda: ipn_answers(vnpay_url, started["txn_ref"])) == ["97"]

    ipn = f"{intake}/v1/payments/vnpay/ipn"
    success = {
        "vnp_TmnCode": "DEVTMN01",
        "vnp_Amount": str(AMOUNT * 100),
        "vnp_ResponseCode": "00",
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": started["txn_ref"],
        "vnp_TransactionNo": "99999999",
    }
    # An attacker's IPN signed with a secret of their own.
    forged = {**success, "vnp_SecureHash": vnpay.sign(success, "not-the-merchant-secret")}
    assert httpx.get(ipn, params=forged, timeout=TIMEOUT).json()["RspCode"] == "97"
    unsigned = httpx.get(ipn, params=success, timeout=TIMEOUT).json()
    assert unsigned["RspCode"] == "97"
    # Correctly signed but for another amount (04) or an unknown attempt (01).
    cheaper = {**success, "vnp_Amount": "100"}
    cheaper["vnp_SecureHash"] = vnpay.sign(cheaper, DEV_VNPAY_HASH_SECRET)
    assert httpx.get(ipn, params=cheaper, timeout=TIMEOUT).json()["RspCode"] == "04"
    unknown = {**success, "vnp_TxnRef": "NOSUCHREF"}
    unknown["vnp_SecureHash"] = vnpay.sign(unknown, DEV_VNPAY_HASH_SECRET)
    assert httpx.get(ipn, params=unknown, timeout=TIMEOUT).json()["RspCode"] == "01"
    # A forged return page says so and records nothing.
    page = httpx.get(f"{intake}/v1/payments/vnpay/return", params=forged, timeout=TIMEOUT)
    assert page.status_code == 400 and "không hợp lệ" in page.text

    [payment] = payments_of(intake, receipt["code"])
    assert payment["state"] == "pending" and payment["receipt_no"] is None
    assert paid_events(intake, receipt["id"]) == []
    assert public_view(intake, receipt["id"])["status"] == 6
    refused = httpx.get(
        f"{intake}/v1/dossiers/{receipt['code']}/payments/{started['txn_ref']}/receipt",
        headers=portal_headers(),
        timeout=TIMEOUT,
    )
    assert refused.status_code == 404
    assert watch.seen[-1] == 6


def test_a_lost_ipn_is_recovered_by_reconciliation_and_the_dossier_resumes_once(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    receipt, watch = awaiting_payment(system)
    vnpay_url = gateway(system, ipn="drop")
    started = start_payment(intake, receipt["code"])
    citizen_pays(started)
    assert ipn_answers(vnpay_url, started["txn_ref"]) == []
    assert payments_of(intake, receipt["code"])[0]["state"] == "pending"

    # Only ops may run it.
    assert reconcile(intake, headers={}).status_code == 403
    assert reconcile(intake, headers=service_headers("notify")).status_code == 403
    assert payments_of(intake, receipt["code"])[0]["state"] == "pending"

    report = reconcile(intake)
    assert report.status_code == 200, report.text
    mine = [f for f in report.json()["findings"] if f["txn_ref"] == started["txn_ref"]]
    assert [(f["finding"], f["state_before"], f["state_after"]) for f in mine] == [
        ("recovered", "pending", "paid")
    ]
    watch.reaches(4)
    # A second run finds the attempt settled at both ends and publishes nothing again.
    second = reconcile(intake)
    assert second.status_code == 200, second.text
    assert all(f["txn_ref"] != started["txn_ref"] for f in second.json()["findings"])
    assert len(paid_events(intake, receipt["id"])) == 1
    assert eventually(lambda: resumed_reasons(intake, receipt["id"])) == ["obligation_paid"]
    [payment] = payments_of(intake, receipt["code"])
    assert payment["state"] == "paid" and payment["receipt_no"]


def test_a_failed_payment_leaves_the_obligation_open_and_a_new_attempt_pays_it(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    receipt, watch = awaiting_payment(system)
    vnpay_url = gateway(system, outcome="fail", ipn_delay_ms=300)
    failed = start_payment(intake, receipt["code"])
    back = citizen_pays(failed)
    assert eventually(lambda: ipn_answers(vnpay_url, failed["txn_ref"])) == ["00"]
    page = httpx.get(back.headers["location"], timeout=TIMEOUT)
    assert "Giao dịch thanh toán không thành công" in page.text
    assert [p["state"] for p in payments_of(intake, receipt["code"])] == ["failed"]
    assert paid_events(intake, receipt["id"]) == []
    assert public_view(intake, receipt["id"])["status"] == 6

    gateway(system)  # the citizen tries again; this time the bank pays
    paid = start_payment(intake, receipt["code"])
    assert paid["txn_ref"] != failed["txn_ref"]
    citizen_pays(paid)
    watch.reaches(4)
    assert [p["state"] for p in payments_of(intake, receipt["code"])] == ["failed", "paid"]
    assert len(paid_events(intake, receipt["id"])) == 1
