"""Signed documents against the running system: the citizen's portal fetches the signed
receipt, officials print the forms of their dossiers, anyone checks a PDF; a changed byte,
a stranger's key or another unit's official gets nowhere."""

from __future__ import annotations

import asyncio
import re
from datetime import datetime
from io import BytesIO
from typing import Any
from uuid import uuid4

import asyncpg
import httpx
import pytest
from pypdf import PdfReader

from contracts.vietnam import VN_TZ
from tests.support.credentials import OPS, PORTAL, bearer
from tests.support.infra import Infra
from tests.support.officials import DONG_LAM, DONG_PHU, TIMEOUT, Official, application, submit
from tests.support.processes import ServiceProcess
from tests.support.story import eventually

pytestmark = pytest.mark.e2e
BIRTH = "1.001193"
SIGNER = "Ủy ban nhân dân tỉnh (chứng thư thử nghiệm)"


def text_of(pdf: bytes) -> str:
    pages = PdfReader(BytesIO(pdf)).pages
    return re.sub(r"\s+", " ", " ".join(p.extract_text() for p in pages))


def verify(intake: str, pdf: bytes) -> httpx.Response:
    return httpx.post(
        f"{intake}/v1/documents/verify",
        content=pdf,
        headers={"Content-Type": "application/pdf"},
        timeout=TIMEOUT,
    )


PDF_TIMEOUT = 60.0


def printed(official: Official, path: str) -> httpx.Response:
    """A form as an official prints it: rendering and signing take their time on a busy
    machine (the wait is generous; speed is the benchmarks' business)."""
    return httpx.get(f"{official.routing}{path}", headers=official.headers, timeout=PDF_TIMEOUT)


def signed_pdf(answer: httpx.Response) -> bytes:
    assert answer.status_code == 200, answer.text
    assert answer.headers["content-type"] == "application/pdf"
    assert answer.headers["cache-control"] == "no-store"
    assert answer.content.startswith(b"%PDF-")
    return answer.content


def assert_verified(intake: str, pdf: bytes) -> dict[str, Any]:
    answer = verify(intake, pdf)
    assert answer.status_code == 200, answer.text
    verdict: dict[str, Any] = answer.json()
    assert verdict["verified"] is True, verdict
    assert verdict["signatures"][0]["signer_common_name"] == SIGNER
    return verdict


def test_the_citizen_fetches_a_signed_receipt_and_anyone_verifies_it(
    system: dict[str, ServiceProcess],
) -> None:
    intake = system["intake"].url
    receipt = submit(intake, application(BIRTH))
    code = receipt["code"]
    url = f"{intake}/v1/dossiers/{code}/receipt.pdf"
    pdf = signed_pdf(httpx.get(url, headers=PORTAL, timeout=TIMEOUT))
    text = text_of(pdf)
    assert "GIẤY TIẾP NHẬN HỒ SƠ VÀ HẸN TRẢ KẾT QUẢ" in text
    assert "Ông/Bà Trần Văn Minh" in text
    assert "Ủy ban nhân dân xã Đông Lâm" in text
    assert code in text
    verdict = assert_verified(intake, pdf)
    assert verdict["summary"] == f"Văn bản toàn vẹn, được ký số bởi {SIGNER}."

    # One changed byte in the page: the same check now says it was altered.
    changed = bytearray(pdf)
    changed[pdf.index(b"stream") + 40] ^= 0x01
    altered = verify(intake, bytes(changed))
    assert altered.status_code == 200
    assert altered.json()["verified"] is False
    assert altered.json()["summary"].startswith("Văn bản đã bị thay đổi sau khi ký")

    # Without the portal's key nothing is issued; a stranger's code is not found.
    refused = httpx.get(url, timeout=TIMEOUT)
    assert refused.status_code == 401
    assert refused.headers["content-type"] == "application/problem+json"
    assert refused.json()["title"] == "Thiếu khóa API"
    unknown = httpx.get(
        f"{intake}/v1/dossiers/{DONG_LAM}-991231-9999/receipt.pdf", headers=PORTAL, timeout=5
    )
    assert unknown.status_code == 404
    assert unknown.json()["title"] == "Không tìm thấy hồ sơ"


def test_what_is_not_a_signed_pdf_is_said_so(system: dict[str, ServiceProcess]) -> None:
    intake = system["intake"].url
    not_pdf = verify(intake, b"<html>Gi\xe1\xba\xa5y t\xe1\xbb\x9d</html>")
    assert not_pdf.status_code == 422
    assert not_pdf.headers["content-type"] == "application/problem+json"
    assert not_pdf.json()["title"] == "Tệp không phải là văn bản PDF"
    broken = verify(intake, b"%PDF-1.7\n" + b"\x00" * 200)
    assert broken.status_code == 422
    assert broken.json()["title"] == "Không đọc được tệp PDF"
    as_json = httpx.post(f"{intake}/v1/documents/verify", json={"pdf": "…"}, timeout=5)
    assert as_json.status_code == 415
    assert as_json.json()["title"] == "Hãy gửi tệp PDF"
    huge = verify(intake, b"%PDF-1.7\n" + b"0" * (1_048_576 + 1))
    assert huge.status_code == 413


def test_officials_print_the_forms_of_their_dossiers_signed(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    clerk = Official(routing, DONG_LAM)
    head = clerk.head()

    # 02: the clerk asks for a paper again.
    asked = submit(intake, application(BIRTH))
    task = clerk.task_of(asked["id"], "khai_sinh")
    clerk.claim(task)
    clerk.ask_supplement(task, ["GCS"], "Bản chụp Giấy chứng sinh bị mờ")
    form02 = signed_pdf(printed(clerk, f"/v1/dossiers/{asked['id']}/forms/02.pdf"))
    text = text_of(form02)
    assert "PHIẾU YÊU CẦU BỔ SUNG, HOÀN THIỆN HỒ SƠ" in text
    assert "Giấy chứng sinh" in text and "Bản chụp Giấy chứng sinh bị mờ" in text
    assert "Ông/Bà Trần Văn Minh" in text  # the name comes from intake at print time
    assert_verified(intake, form02)

    # 03 and 05: the head refuses one dossier and stops another.
    refused = submit(intake, application(BIRTH))
    clerk.task_of(refused["id"], "khai_sinh")
    assert (
        head.refuse(refused["id"], "Giấy chứng sinh là bản sao không chứng thực").status_code == 200
    )
    form03 = signed_pdf(printed(head, f"/v1/dossiers/{refused['id']}/forms/03.pdf"))
    assert "không chứng thực" in text_of(form03)
    assert "PHIẾU TỪ CHỐI TIẾP NHẬN, GIẢI QUYẾT HỒ SƠ" in text_of(form03)
    assert_verified(intake, form03)
    stopped = submit(intake, application(BIRTH))
    clerk.task_of(stopped["id"], "khai_sinh")
    assert head.stop(stopped["id"], "Công dân đề nghị dừng để bổ sung giấy tờ").status_code == 200
    form05 = signed_pdf(printed(clerk, f"/v1/dossiers/{stopped['id']}/forms/05.pdf"))
    assert "THÔNG BÁO DỪNG XỬ LÝ HỒ SƠ" in text_of(form05)
    assert "Thủ trưởng Ủy ban nhân dân xã Đông Lâm".upper() in text_of(form05)
    assert_verified(intake, form05)

    # The result and form 06 of a dossier worked to the end.
    done = submit(intake, application(BIRTH))
    assert clerk.work(done["id"], "khai_sinh", "Giấy khai sinh số 42/2026")["status"] == 9
    result = signed_pdf(printed(clerk, f"/v1/dossiers/{done['id']}/result.pdf"))
    assert "Giấy khai sinh số 42/2026" in text_of(result)
    assert "THÔNG BÁO KẾT QUẢ GIẢI QUYẾT THỦ TỤC HÀNH CHÍNH" in text_of(result)
    assert_verified(intake, result)
    form06 = signed_pdf(printed(clerk, f"/v1/dossiers/{done['id']}/forms/06.pdf"))
    text = text_of(form06)
    assert "PHIẾU KIỂM SOÁT QUÁ TRÌNH GIẢI QUYẾT HỒ SƠ" in text
    assert done["code"] in text and "Ngày nhận hồ sơ" in text
    assert_verified(intake, form06)

    # A form the dossier has not reached is not issued.
    missing = clerk.get(f"/v1/dossiers/{done['id']}/forms/03.pdf")
    assert missing.status_code == 404
    assert missing.json()["title"] == "Hồ sơ chưa có văn bản này"

    # Every print is in the read trail the supervisor reads.
    trail = httpx.get(
        f"{routing}/v1/audit/reads",
        params={"dossier": done["id"]},
        headers=bearer(routing, "giamsat"),
        timeout=TIMEOUT,
    )
    assert trail.status_code == 200, trail.text
    prints = [r for r in trail.json()["reads"] if r["what"] == "operator.document"]
    assert {tuple(r["parts"]) for r in prints} >= {
        ("form-KQ", "applicant_name"),
        ("form-06", "applicant_name"),
    }


def test_another_units_official_gets_what_an_unknown_dossier_gets(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    done = submit(intake, application(BIRTH))
    assert Official(routing, DONG_LAM).work(done["id"], "khai_sinh", "GKS-7/2026")["status"] == 9
    prober = Official(routing, DONG_PHU)
    for path in ("result.pdf", "forms/06.pdf"):
        theirs = prober.get(f"/v1/dossiers/{done['id']}/{path}")
        nobody = prober.get(f"/v1/dossiers/{uuid4()}/{path}")
        assert theirs.status_code == nobody.status_code == 404
        assert theirs.content == nobody.content
        assert b"%PDF" not in theirs.content
    assert httpx.get(f"{routing}/v1/dossiers/{done['id']}/result.pdf", timeout=5).status_code == 401


def test_the_units_register_is_signed_for_its_officials_only(
    system: dict[str, ServiceProcess],
) -> None:
    intake, routing = system["intake"].url, system["routing"].url
    receipt = submit(intake, application(BIRTH))
    today = datetime.now(VN_TZ).date().isoformat()
    url = f"{intake}/v1/registers/{DONG_LAM}.pdf"
    period = {"from": today, "to": today}
    clerk = Official(routing, DONG_LAM)
    pdf = signed_pdf(httpx.get(url, params=period, headers=clerk.headers, timeout=30))
    text = text_of(pdf)
    assert "SỔ THEO DÕI HỒ SƠ" in text
    assert receipt["code"] in text
    assert_verified(intake, pdf)
    assert httpx.get(url, params=period, headers=OPS, timeout=30).status_code == 200
    neighbour = httpx.get(
        url, params=period, headers=Official(routing, DONG_PHU).headers, timeout=5
    )
    assert neighbour.status_code == 403
    assert neighbour.json()["title"] == "Không có quyền xem sổ theo dõi hồ sơ của đơn vị khác"
    assert httpx.get(url, params=period, timeout=5).status_code == 401
    too_long = {"from": "2024-01-01", "to": today}
    assert httpx.get(url, params=too_long, headers=clerk.headers, timeout=5).status_code == 422


def test_the_apology_letter_is_a_signed_pdf(
    system: dict[str, ServiceProcess], infra: Infra
) -> None:
    intake, sla, routing = system["intake"].url, system["sla"].url, system["routing"].url
    receipt = submit(intake, application(BIRTH))
    dossier = receipt["id"]
    schema = f"{system['sla'].env['SCHEMA_PREFIX']}sla"

    def opened() -> bool:
        answer = httpx.get(f"{sla}/v1/dossiers/{dossier}/deadlines", headers=OPS, timeout=5)
        kinds = (
            {d["kind"] for d in answer.json()["deadlines"]} if answer.status_code == 200 else set()
        )
        return kinds == {"dossier", "step"}

    eventually(opened)

    async def time_passes() -> None:  # the step overran and the appointment is near
        conn = await asyncpg.connect(infra.database_url)
        try:
            await conn.execute(
                f"UPDATE {schema}.deadlines SET due_soon_at = now() - interval '1 hour'"
                " WHERE dossier_id = $1 AND kind = 'dossier'",
                dossier,
            )
            step = await conn.fetchval(
                f"UPDATE {schema}.deadlines SET due_at = now()"
                " WHERE dossier_id = $1 AND kind = 'step' RETURNING id",
                dossier,
            )
            await conn.execute(
                f"UPDATE {schema}.timers SET next_fire_at = now(), due_soon_fired = true"
                " WHERE deadline_id = $1",
                step,
            )
        finally:
            await conn.close()

    asyncio.run(time_passes())

    def letters() -> list[dict[str, Any]]:
        found: list[dict[str, Any]] = httpx.get(
            f"{sla}/v1/apologies", params={"dossier": dossier}, headers=OPS, timeout=5
        ).json()
        return found

    (letter,) = eventually(letters)
    url = f"{sla}/v1/apologies/{letter['id']}.pdf"
    pdf = signed_pdf(httpx.get(url, headers=Official(routing, DONG_LAM).headers, timeout=30))
    text = text_of(pdf)
    assert "PHIẾU XIN LỖI VÀ HẸN LẠI NGÀY TRẢ KẾT QUẢ" in text
    assert "Mẫu số 04" in text
    assert "Kính gửi: Ông/Bà Trần Văn Minh" in text
    assert_verified(intake, pdf)
    assert httpx.get(url, timeout=5).status_code == 401
    elsewhere = httpx.get(url, headers=Official(routing, DONG_PHU).headers, timeout=5)
    assert elsewhere.status_code == 403
    assert b"%PDF" not in elsewhere.content
