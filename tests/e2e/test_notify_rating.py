"""The citizen rates the handling from the signed link of the result message; SLA's
reports by unit and field show it, once.

Runs on the shared `system` (real intake, routing, SLA and notify processes, Kafka,
PostgreSQL, the mail stand-in). The attacker's attempts (a tampered link, an expired one,
one for a dossier that is not theirs) are refused and store nothing, in notify's table
and in SLA's.
"""

from __future__ import annotations

import asyncio
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlencode
from uuid import UUID, uuid4

import asyncpg
import httpx
import pytest

from services.notify.dev_defaults import DEV_RATING_LINK_SECRET
from services.notify.domain.rating import sign
from tests.e2e.test_notify_dossier_life import Desk, mails_for, settled, submit
from tests.support.credentials import bearer
from tests.support.processes import ServiceProcess
from tests.support.story import COMMUNE, eventually

pytestmark = pytest.mark.e2e
LINK = re.compile(r"(http://[^\s\"<>]+/d/([A-Za-z0-9_-]{39}))")
FIELD = "ho_tich"  # the field of the birth registration (reference, 1.001193)
HTML = {"Accept": "text/html"}
FORM = {"Content-Type": "application/x-www-form-urlencoded"}
SCORES = {"timeliness": "5", "attitude": "4", "clarity": "4", "outcome": "3"}
GOOD = urlencode({**SCORES, "comment": "Cán bộ tận tình, gọi 0912345678"})
LOW = urlencode(dict.fromkeys(SCORES, "1"))


def _rows(system: dict[str, ServiceProcess], service: str, dossier_id: str) -> list[Any]:
    env = system["notify"].env

    async def fetch() -> list[Any]:
        conn = await asyncpg.connect(env["DATABASE_URL"])
        try:
            schema = f"{env['SCHEMA_PREFIX']}{service}"
            return list(
                await conn.fetch(
                    f'SELECT * FROM "{schema}".ratings WHERE dossier_id = $1', UUID(dossier_id)
                )
            )
        finally:
            await conn.close()

    return asyncio.run(fetch())


def _report(system: dict[str, ServiceProcess], **params: str) -> httpx.Response:
    now = datetime.now(UTC)
    query = {
        "from": (now - timedelta(hours=1)).isoformat(),
        "to": (now + timedelta(hours=1)).isoformat(),
    }
    head = bearer(system["routing"].url, f"lanhdao@{COMMUNE}")
    r = httpx.get(
        f"{system['sla'].url}/v1/reports",
        params={**query, **params},
        headers=head,
        timeout=10,
    )
    assert r.status_code == 200, r.text
    return r


def test_a_citizen_rates_once_from_the_result_message_and_the_report_shows_it(
    system: dict[str, ServiceProcess],
) -> None:
    desk = Desk(system["routing"].url)
    dossier_id, code, _ = submit(system, "rating")
    other_id, other_code, _ = submit(system, "rating-other")
    desk.post(f"/v1/tasks/{desk.claim(dossier_id)}/complete", {"note": "Đã đăng ký"})
    settled(system["notify"].url, code, {"dossier.received", "dossier.result_ready"})
    result = next(m for m in mails_for(system, code) if "đã có kết quả" in m["subject"])
    found = LINK.search(result["text"])
    assert found is not None, result["text"]
    url, token = found.groups()
    assert url in (result.get("html") or url)
    notify = system["notify"].url

    page = httpx.get(url, headers=HTML, timeout=10)
    assert page.status_code == 200
    assert "Đánh giá mức độ hài lòng" in page.text and code in page.text
    for label in ("Thời gian giải quyết", "Thái độ phục vụ", "Hướng dẫn rõ ràng", "Kết quả"):
        assert f"<legend>{label}" in page.text
    assert '<label for="comment">' in page.text

    # The attacker's attempts: every one refused, nothing stored anywhere.
    tampered = token[:10] + ("A" if token[10] != "A" else "B") + token[11:]
    today = date.today()
    secret = DEV_RATING_LINK_SECRET.encode()
    expired = sign(secret, UUID(dossier_id), today - timedelta(days=2))
    # A valid link for the other dossier, its id spliced into this dossier's token.
    spliced = sign(secret, UUID(other_id), today + timedelta(days=30))[:21] + token[21:]
    unknown = sign(secret, uuid4(), today + timedelta(days=30))
    for bad, status, title in (
        (tampered, 403, "Liên kết đánh giá không hợp lệ"),
        (spliced, 403, "Liên kết đánh giá không hợp lệ"),
        (expired, 403, "Liên kết đánh giá đã hết hạn"),
        (unknown, 404, "Không tìm thấy hồ sơ"),
    ):
        r = httpx.post(f"{notify}/d/{bad}", content=GOOD, headers=FORM, timeout=10)
        assert r.status_code == status, r.text
        assert r.headers["content-type"].startswith("application/problem+json")
        assert r.json()["title"] == title
    assert _rows(system, "notify", dossier_id) == [] == _rows(system, "notify", other_id)
    # An incomplete form stores nothing either.
    r = httpx.post(url, content="timeliness=5&attitude=9", headers=FORM, timeout=10)
    assert r.status_code == 422 and "Thái độ phục vụ" in r.json()["detail"]
    assert _rows(system, "notify", dossier_id) == []

    first = httpx.post(url, content=GOOD, headers=FORM, timeout=10)
    assert first.status_code == 201, first.text
    assert first.json()["scores"] == {"timeliness": 5, "attitude": 4, "clarity": 4, "outcome": 3}
    assert "0912345678" not in first.json()["comment"]
    again = httpx.post(
        url, content="timeliness=1&attitude=1&clarity=1&outcome=1", headers=FORM, timeout=10
    )
    assert again.status_code == 409
    assert again.headers["content-type"].startswith("application/problem+json")
    assert again.json()["title"] == "Hồ sơ này đã được đánh giá"
    stored = _rows(system, "notify", dossier_id)
    assert [(r["timeliness"], r["outcome"], r["dossier_code"]) for r in stored] == [(5, 3, code)]
    assert "0912345678" not in stored[0]["comment"]
    assert httpx.get(url, headers=HTML, timeout=10).status_code == 409

    # SLA hears `dossier.rated` and its report by unit and field counts it once.
    eventually(lambda: _rows(system, "sla", dossier_id), timeout=60)
    report = _report(system, unit=COMMUNE, field=FIELD).json()
    assert report["ratings"] == 1
    assert (report["rating_timeliness"], report["rating_attitude"]) == ("5.00", "4.00")
    assert (report["rating_clarity"], report["rating_outcome"]) == ("4.00", "3.00")
    as_csv = _report(system, unit=COMMUNE, field=FIELD, format="csv").text
    header, row = as_csv.splitlines()[:2]
    figures = dict(zip(header.split(","), row.split(","), strict=True))
    assert (figures["ratings"], figures["rating_outcome"]) == ("1", "3.00")
    assert _report(system, unit=COMMUNE, field="dat_dai").json()["ratings"] == 0
    assert _rows(system, "sla", other_id) == []
    assert other_code != code
