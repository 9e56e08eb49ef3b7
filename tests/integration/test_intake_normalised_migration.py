"""Dossiers stored before input was normalised are brought to the forms intake now keeps
(intake's migration 004), against a real PostgreSQL: NFC text, ASCII digits, mobile
numbers as 0 and 9 digits."""

from __future__ import annotations

import json
import shutil
import unicodedata
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.runtime.db import migrate
from tests.conftest import unique_prefix

pytestmark = pytest.mark.integration
MIGRATIONS = Path(__file__).parents[2] / "services" / "intake" / "migrations"
BEFORE = (
    "001_intake.sql",
    "002_portals_webhooks.sql",
    "003_contact_refs.sql",
    "003_personal_data.sql",
    "004_dvcqg_sync.sql",
)
NAME = "Nguyễn Thị Lan"


def nfd(text: str) -> str:
    return unicodedata.normalize("NFD", text)


async def _insert(conn: asyncpg.Connection, schema: str, n: int, applicant: dict[str, Any]) -> UUID:
    dossier = uuid4()
    await conn.execute(
        f"INSERT INTO {schema}.dossiers (id, code, agency_code, procedure_code, field_code,"
        " receiving_unit, channel, applicant, documents, fees, request, received_at,"
        " clock_started_at, appointment_at, status, contact_ref) VALUES ($1, $2, 'A',"
        " '1.001193', 'ho_tich', '000.01.01.H99', 2, $3, $4, '[]', $5, now(), now(), now(), 2,"
        " $6)",
        dossier,
        f"A-261122-{n:04d}",
        json.dumps(applicant, ensure_ascii=False),
        json.dumps([{"type_code": "GCS", "name": nfd("Giấy chứng sinh")}], ensure_ascii=False),
        json.dumps({"summary": nfd("Đăng ký khai sinh"), "conditions": []}, ensure_ascii=False),
        f"ref-{n}",
    )
    return dossier


async def test_stored_names_digits_and_phones_take_the_forms_now_kept(
    pg: asyncpg.Connection, tmp_path: Path
) -> None:
    schema = f"{unique_prefix()}intake"
    before = tmp_path / "intake" / "migrations"
    before.mkdir(parents=True)
    for name in BEFORE:
        shutil.copy(MIGRATIONS / name, before / name)
    await migrate(pg, schema, before)
    person = {"full_name": nfd(NAME), "citizen_id": "001190012345", "address": nfd("Thôn Đông")}
    stored = {
        await _insert(pg, schema, 1, {**person, "phone": "0912345678"}): "0912345678",
        await _insert(pg, schema, 2, {**person, "phone": "+84912345678"}): "0912345678",
        await _insert(pg, schema, 3, {**person, "phone": "+84 987.654.321"}): "0987654321",
        await _insert(pg, schema, 4, {**person, "phone": "０９１２３４５６７８"}): "0912345678",
        await _insert(pg, schema, 5, {**person, "phone": "12345"}): "12345",  # left as it was
    }
    odd_id = await _insert(pg, schema, 6, {**person, "citizen_id": "٠٠١١٩٠٠١٢٣٤٥", "phone": "0"})
    anonymised = await _insert(pg, schema, 7, {"kind": "citizen"})
    shutil.copy(MIGRATIONS / "005_normalised_input.sql", before / "005_normalised_input.sql")
    assert await migrate(pg, schema, before) == ["intake/005_normalised_input.sql"]

    rows = {
        r["id"]: r
        for r in await pg.fetch(f"SELECT id, applicant, documents, request FROM {schema}.dossiers")
    }
    for dossier, phone in stored.items():
        applicant = json.loads(rows[dossier]["applicant"])
        assert applicant["phone"] == phone
        assert applicant["full_name"] == NAME and applicant["address"] == "Thôn Đông"
        assert json.loads(rows[dossier]["documents"])[0]["name"] == "Giấy chứng sinh"
        assert json.loads(rows[dossier]["request"])["summary"] == "Đăng ký khai sinh"
    assert json.loads(rows[odd_id]["applicant"])["citizen_id"] == "001190012345"
    assert json.loads(rows[anonymised]["applicant"]) == {"kind": "citizen"}
    await pg.execute(f"DROP SCHEMA {schema} CASCADE")
