"""VNPay's pure part: the secure hash, the IPN decision in VNPay's order, querydr, the
reconciliation verdicts; the production refusal of the development secret; and the
stand-in gateway's own behaviour (fail, cancel, delayed IPN, querydr)."""

from __future__ import annotations

import hashlib
import hmac
from datetime import UTC, datetime, timedelta
from typing import Any
from urllib.parse import parse_qsl, quote_plus, urlsplit

import httpx
import pytest
from fastapi import FastAPI, Request

from services.intake.config import DEV_VNPAY_HASH_SECRET, IntakeSettings
from services.intake.domain import vnpay
from services.intake.fakes import vnpay_app

SECRET = "merchant-secret-for-the-tests-0123456789"
NOW = datetime(2026, 3, 1, 2, 30, 5, tzinfo=UTC)  # 09:30:05 in Vietnam


def request(**changes: Any) -> vnpay.PaymentRequest:
    values: dict[str, Any] = {
        "tmn_code": "TMN01",
        "txn_ref": "ABC123",
        "amount_vnd": 1_250_000,
        "order_info": "Nop nghia vu tai chinh ho so H99.01-260301-0001",
        "return_url": "https://dvc.example.vn/v1/payments/vnpay/return",
        "client_ip": "203.0.113.7",
        "created_at": NOW,
        "expires_in": timedelta(minutes=15),
        **changes,
    }
    return vnpay.PaymentRequest(**values)


def test_the_payment_url_carries_vnpays_parameters_and_an_hmac_sha512_of_them_sorted() -> None:
    url = vnpay.payment_url("https://sandbox.vnpayment.vn/paymentv2/vpcpay.html", request(), SECRET)
    params = dict(parse_qsl(urlsplit(url).query))
    assert params["vnp_Version"] == "2.1.0" and params["vnp_Command"] == "pay"
    assert params["vnp_Amount"] == "125000000"  # VND x 100
    assert params["vnp_CurrCode"] == "VND"
    assert params["vnp_CreateDate"] == "20260301093005"  # Vietnam time
    assert params["vnp_ExpireDate"] == "20260301094505"
    # Computed here the way VNPay's own samples do, independently of the module.
    data = "&".join(
        f"{k}={quote_plus(v)}" for k, v in sorted(params.items()) if k != "vnp_SecureHash"
    )
    expected = hmac.new(SECRET.encode(), data.encode(), hashlib.sha512).hexdigest()
    assert params["vnp_SecureHash"] == expected and len(expected) == 128
    assert vnpay.verify(params, SECRET)
    assert not vnpay.verify(params, SECRET + "x")
    assert not vnpay.verify({**params, "vnp_Amount": "100"}, SECRET)
    assert not vnpay.verify({k: v for k, v in params.items() if k != "vnp_SecureHash"}, SECRET)


def ipn(**changes: str) -> dict[str, str]:
    params = {
        "vnp_TmnCode": "TMN01",
        "vnp_Amount": "125000000",
        "vnp_ResponseCode": "00",
        "vnp_TransactionStatus": "00",
        "vnp_TxnRef": "ABC123",
        "vnp_TransactionNo": "14000001",
        **changes,
    }
    return {**params, "vnp_SecureHash": vnpay.sign(params, SECRET)}


PENDING = vnpay.Order("ABC123", 1_250_000, "pending")


@pytest.mark.parametrize(
    ("params", "order", "code", "outcome"),
    [
        (ipn(), PENDING, "00", "paid"),
        (ipn(vnp_ResponseCode="24", vnp_TransactionStatus="02"), PENDING, "00", "failed"),
        (ipn(vnp_TransactionStatus="02"), PENDING, "00", "failed"),  # both must say 00
        ({**ipn(), "vnp_Amount": "100"}, PENDING, "97", "refuse"),  # changed after signing
        ({**ipn(), "vnp_Amount": "100"}, None, "97", "refuse"),  # hash first, then order
        (ipn(), None, "01", "refuse"),
        (ipn(vnp_Amount="100"), PENDING, "04", "refuse"),
        (ipn(vnp_Amount="100"), vnpay.Order("ABC123", 1_250_000, "paid"), "04", "refuse"),
        (ipn(), vnpay.Order("ABC123", 1_250_000, "paid"), "02", "refuse"),
        (ipn(), vnpay.Order("ABC123", 1_250_000, "failed"), "02", "refuse"),
    ],
)
def test_the_ipn_is_decided_in_vnpays_order(
    params: dict[str, str], order: vnpay.Order | None, code: str, outcome: str
) -> None:
    decision = vnpay.decide_ipn(params, SECRET, order)
    assert (decision.rsp_code, decision.outcome) == (code, outcome)
    assert decision.answer == {"RspCode": code, "Message": vnpay.RSP_MESSAGES[code]}


def test_querydr_requests_and_answers_are_signed_over_their_fields_joined_by_a_pipe() -> None:
    body = vnpay.query_request(
        request_id="r1",
        tmn_code="TMN01",
        txn_ref="ABC123",
        transaction_date=NOW,
        now=NOW,
        client_ip="10.0.0.1",
        secret=SECRET,
    )
    joined = "|".join(
        [
            *("r1", "2.1.0", "querydr", "TMN01", "ABC123", "20260301093005"),
            *("20260301093005", "10.0.0.1", body["vnp_OrderInfo"]),
        ]
    )
    assert body["vnp_SecureHash"] == vnpay.hmac_sha512(SECRET, joined)
    assert vnpay.query_request_valid(body, SECRET)
    assert not vnpay.query_request_valid({**body, "vnp_TxnRef": "OTHER"}, SECRET)
    answer = vnpay.sign_query_response({"vnp_ResponseCode": "00", "vnp_Amount": "1"}, SECRET)
    assert vnpay.query_response_valid(answer, SECRET)
    assert not vnpay.query_response_valid({**answer, "vnp_Amount": "2"}, SECRET)


def state(status: str, amount: str = "125000000", code: str = "00") -> vnpay.GatewayState:
    return vnpay.GatewayState(response_code=code, transaction_status=status, amount=amount)


@pytest.mark.parametrize(
    ("recorded", "gateway", "finding"),
    [
        ("pending", state("00"), "recovered"),
        ("pending", state("02"), "failed_at_gateway"),
        ("pending", state("01"), None),  # still open at the gateway
        ("paid", state("00"), None),
        ("paid", state("02"), "paid_here_not_at_gateway"),
        ("paid", state("", code="91"), "paid_here_not_at_gateway"),
        ("pending", state("", code="91"), "unknown_at_gateway"),
        ("paid", state("00", amount="100"), "amount_mismatch"),
        ("failed", state("00"), "paid_at_gateway_failed_here"),
        ("failed", state("02"), None),
        ("duplicate", state("00"), "paid_twice"),
        ("pending", None, "query_failed"),
        ("pending", state("", code="97"), "query_failed"),
    ],
)
def test_reconciliation_names_what_disagrees(
    recorded: str, gateway: vnpay.GatewayState | None, finding: str | None
) -> None:
    assert vnpay.reconcile_one(vnpay.Order("ABC123", 1_250_000, recorded), gateway) == finding


def test_production_refuses_the_development_merchant_secret() -> None:
    production = IntakeSettings(environment="production")
    assert "VNPAY_HASH_SECRET is a known default value" in production.insecure_settings()
    short = IntakeSettings(environment="production", vnpay_hash_secret="short")
    assert "VNPAY_HASH_SECRET is shorter than 24 characters" in short.insecure_settings()
    good = IntakeSettings(environment="production", vnpay_hash_secret=SECRET)
    assert not any("VNPAY" in p for p in good.insecure_settings())
    assert DEV_VNPAY_HASH_SECRET not in repr(production)


# ----------------------------------------------------------------- the stand-in gateway


def merchant() -> tuple[FastAPI, list[dict[str, str]]]:
    """A merchant IPN endpoint that keeps what it got and answers like intake."""
    app = FastAPI()
    got: list[dict[str, str]] = []

    @app.get("/ipn")
    async def receive(request: Request) -> dict[str, str]:
        got.append(dict(request.query_params))
        return {"RspCode": "00", "Message": "Confirm Success"}

    return app, got


async def pay_through_stand_in(control: dict[str, Any]) -> tuple[Any, list[dict[str, str]]]:
    shop, got = merchant()
    gateway = vnpay_app.create_app(
        ipn_url="http://shop/ipn",
        tmn_code="TMN01",
        secret=SECRET,
        transport=httpx.ASGITransport(app=shop),
    )
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://vnpay") as client:
        await client.post("/_control", json=control)
        url = vnpay.payment_url("http://vnpay" + vnpay_app.PAY_PATH, request(), SECRET)
        back = await client.get(url)
        await client.get("/_ipns")  # waits for the IPNs in flight
        query = vnpay.query_request(
            request_id="q1",
            tmn_code="TMN01",
            txn_ref="ABC123",
            transaction_date=NOW,
            now=NOW,
            client_ip="10.0.0.1",
            secret=SECRET,
        )
        found = (await client.post(vnpay_app.API_PATH, json=query)).json()
        forged = (await client.post(vnpay_app.API_PATH, json={**query, "vnp_TxnRef": "X"})).json()
    return (back, found, forged), got


async def test_the_stand_in_can_fail_a_payment_and_says_so_in_the_ipn_and_querydr() -> None:
    (back, found, forged), got = await pay_through_stand_in({"outcome": "cancel"})
    assert back.status_code == 302
    returned = dict(parse_qsl(urlsplit(back.headers["location"]).query))
    assert vnpay.verify(returned, SECRET) and returned["vnp_ResponseCode"] == "24"
    [sent] = got
    assert vnpay.verify(sent, SECRET) and sent["vnp_TransactionStatus"] == "02"
    assert vnpay.query_response_valid(found, SECRET)
    assert (found["vnp_ResponseCode"], found["vnp_TransactionStatus"]) == ("00", "02")
    assert forged["vnp_ResponseCode"] == "97"  # a query with a broken hash is refused


async def test_the_stand_in_delays_and_repeats_ipns() -> None:
    (_back, found, _forged), got = await pay_through_stand_in(
        {"ipn": "repeat", "ipn_repeats": 3, "ipn_delay_ms": 50}
    )
    assert len(got) == 3 and all(vnpay.verify(g, SECRET) for g in got)
    assert found["vnp_TransactionStatus"] == "00" and found["vnp_Amount"] == "125000000"


async def test_the_stand_in_refuses_a_payment_url_with_a_bad_hash() -> None:
    gateway = vnpay_app.create_app(ipn_url="http://shop/ipn", tmn_code="TMN01", secret=SECRET)
    transport = httpx.ASGITransport(app=gateway)
    async with httpx.AsyncClient(transport=transport, base_url="http://vnpay") as client:
        url = vnpay.payment_url("http://vnpay" + vnpay_app.PAY_PATH, request(), "wrong-secret")
        refused = await client.get(url)
        assert refused.status_code == 400
        assert (await client.get("/_transactions")).json() == {}
