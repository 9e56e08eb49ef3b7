"""Personal data in the stores, against real PostgreSQL with the four services' migrations:

* the record of processing (docs/personal-data.yaml) matches the schemas: every column it
  lists exists, and every column named like personal data is listed;
* each service's retention purge deletes or anonymises exactly the rows past their
  retention (rows are backdated) and leaves the others as they were.
"""

from __future__ import annotations

import json
import secrets
from collections.abc import AsyncIterator
from datetime import UTC, datetime, timedelta
from pathlib import Path
from typing import Any
from uuid import UUID, uuid4

import asyncpg
import pytest

from services.intake.adapters.retention import IntakeRetention
from services.intake.adapters.retention import purge as intake_purge
from services.notify.adapters.retention import NotifyRetention
from services.notify.adapters.retention import purge as notify_purge
from services.runtime.db import migrate
from services.runtime.personal_data import (
    SERVICES,
    load_record,
    missing_columns,
    unrecorded_columns,
)
from services.runtime.retention import purge_once
from services.sla.adapters.retention import SlaRetention
from services.sla.adapters.retention import purge as sla_purge
from tests.conftest import unique_prefix
from tests.support.infra import REPO, Infra

pytestmark = pytest.mark.integration
NOW = datetime(2036, 3, 2, 9, 0, tzinfo=UTC)
APPLICANT = {
    "kind": "citizen",
    "full_name": "Trần Văn Bình",
    "citizen_id": "001085004321",
    "phone": "0987654321",
    "email": "binh.tran@example.vn",
    "address": "Xóm Chợ, xã Đông Phú",
}
DOCUMENTS = [
    {"type_code": "TK_KS", "name": "Tờ khai", "checksum": "a" * 64, "storage_ref": "s3://d/tk.pdf"},
    {
        "type_code": "CCCD",
        "name": "Căn cước công dân",
        "checksum": "b" * 64,
        "storage_ref": "s3://d/cccd.jpg",
        "sensitive": True,
    },
]


@pytest.fixture(scope="module")
async def schemas(infra: Infra) -> AsyncIterator[dict[str, str]]:
    """The four services' schemas, migrated as each service migrates its own at start."""
    prefix = unique_prefix()
    names = {service: f"{prefix}{service}" for service in SERVICES}
    conn = await asyncpg.connect(infra.database_url)
    try:
        for service, schema in names.items():
            await migrate(conn, schema, REPO / "services" / service / "migrations")
        yield names
    finally:
        for schema in names.values():
            await conn.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")
        await conn.close()


async def columns(conn: asyncpg.Connection, schema: str) -> set[tuple[str, str]]:
    rows = await conn.fetch(
        "SELECT table_name, column_name FROM information_schema.columns WHERE table_schema = $1",
        schema,
    )
    return {(r["table_name"], r["column_name"]) for r in rows}


async def one(conn: asyncpg.Connection, sql: str, *args: Any) -> asyncpg.Record:
    row = await conn.fetchrow(sql, *args)
    assert row is not None
    return row


@pytest.fixture
async def db(infra: Infra) -> AsyncIterator[asyncpg.Connection]:
    conn = await asyncpg.connect(infra.database_url)
    try:
        yield conn
    finally:
        await conn.close()


# ----------------------------------------------------------------- the record


@pytest.mark.parametrize("service", SERVICES)
async def test_every_column_the_record_lists_exists_in_the_migrated_schema(
    schemas: dict[str, str], db: asyncpg.Connection, service: str
) -> None:
    found = await columns(db, schemas[service])
    assert found, "the schema was not migrated"
    assert missing_columns(load_record(), service, found) == []


@pytest.mark.parametrize("service", SERVICES)
async def test_every_column_named_like_personal_data_is_in_the_record(
    schemas: dict[str, str], db: asyncpg.Connection, service: str
) -> None:
    """A migration that adds e.g. `phone` or `citizen_id` fails here until the record
    says what the column holds, why, who reads it and how long it is kept."""
    found = await columns(db, schemas[service])
    assert unrecorded_columns(load_record(), service, found) == []


async def test_a_migration_adding_an_unrecorded_personal_column_is_caught(
    infra: Infra, db: asyncpg.Connection, tmp_path: Path
) -> None:
    schema = f"{unique_prefix()}notify"
    migrations = tmp_path / "migrations"
    migrations.mkdir()
    for path in sorted((REPO / "services" / "notify" / "migrations").glob("*.sql")):
        (migrations / path.name).write_text(path.read_text(encoding="utf-8"), encoding="utf-8")
    (migrations / "999_recipient_phone.sql").write_text(
        "ALTER TABLE messages ADD COLUMN recipient_phone text;", encoding="utf-8"
    )
    try:
        await migrate(db, schema, migrations)
        found = await columns(db, schema)
        assert unrecorded_columns(load_record(), "notify", found) == [
            ("messages", "recipient_phone")
        ]
    finally:
        await db.execute(f"DROP SCHEMA IF EXISTS {schema} CASCADE")


# ----------------------------------------------------------------- intake


async def add_dossier(
    conn: asyncpg.Connection,
    *,
    status: int,
    received: datetime,
    last_event: datetime,
) -> UUID:
    dossier_id = uuid4()
    await conn.execute(
        "INSERT INTO dossiers (id, code, agency_code, procedure_code, field_code,"
        " receiving_unit, channel, applicant, documents, fees, request, received_at,"
        " clock_started_at, appointment_at, status, portal_id, contact_ref)"
        " VALUES ($1, $2, 'A', '1.001193', 'ho_tich', '000.01.01.H99', 2, $3::jsonb,"
        " $4::jsonb, '[]', $5::jsonb, $6, $6, $6, $7, 'dev', $8)",
        dossier_id,
        f"T-{dossier_id}",
        json.dumps(APPLICANT),
        json.dumps(DOCUMENTS),
        json.dumps({"summary": "Khai sinh cho con của Trần Văn Bình", "conditions": []}),
        received,
        status,
        secrets.token_urlsafe(16),
    )
    await conn.execute(
        "INSERT INTO timeline (event_id, dossier_id, source, event_type, sequence,"
        " occurred_at, details) VALUES ($1, $2, 'routing', 'dossier.returned', 9, $3, '{}')",
        uuid4(),
        dossier_id,
        last_event,
    )
    return dossier_id


async def intake_conn(infra: Infra, schemas: dict[str, str]) -> asyncpg.Connection:
    return await asyncpg.connect(
        infra.database_url, server_settings={"search_path": schemas["intake"]}
    )


async def test_intake_anonymises_closed_dossiers_past_retention_and_keeps_the_rest(
    infra: Infra, schemas: dict[str, str]
) -> None:
    conn = await intake_conn(infra, schemas)
    try:
        long_ago = NOW - timedelta(days=3651)
        old_closed = await add_dossier(conn, status=10, received=long_ago, last_event=long_ago)
        # Received long ago but an event inside the retention: its clock started later.
        recently_closed = await add_dossier(
            conn, status=10, received=long_ago, last_event=NOW - timedelta(days=30)
        )
        old_open = await add_dossier(conn, status=4, received=long_ago, last_event=long_ago)
        policy = IntakeRetention(dossier_days=3650, batch=1)  # batches of one: loops too

        counts = await intake_purge(conn, NOW, policy)

        assert counts["dossiers_anonymised"] >= 1
        row = await one(conn, "SELECT * FROM dossiers WHERE id = $1", old_closed)
        assert json.loads(row["applicant"]) == {"kind": "citizen"}
        documents = json.loads(row["documents"])
        assert [d.get("storage_ref") for d in documents] == [None, None]
        assert [d["type_code"] for d in documents] == ["TK_KS", "CCCD"]
        assert json.loads(row["request"]) == {"conditions": []}
        assert row["anonymised_at"] == NOW
        for kept in (recently_closed, old_open):
            row = await one(conn, "SELECT * FROM dossiers WHERE id = $1", kept)
            assert json.loads(row["applicant"]) == APPLICANT
            assert json.loads(row["documents"]) == DOCUMENTS
            assert row["anonymised_at"] is None
        # Nothing of the person is left anywhere in the anonymised row.
        text = json.dumps(
            dict(await one(conn, "SELECT * FROM dossiers WHERE id = $1", old_closed)),
            default=str,
            ensure_ascii=False,
        )
        for value in (*APPLICANT.values(), "s3://d/cccd.jpg", "Trần Văn Bình"):
            if value != "citizen":
                assert value not in text
        # A second run finds nothing more to do.
        again = await intake_purge(conn, NOW, policy)
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM dossiers"
                " WHERE id = ANY($1::uuid[]) AND anonymised_at IS NULL",
                [recently_closed, old_open],
            )
            == 2
        )
        assert again["dossiers_anonymised"] == 0
    finally:
        await conn.close()


async def test_intake_deletes_old_idempotency_keys_and_old_access_audit(
    infra: Infra, schemas: dict[str, str]
) -> None:
    conn = await intake_conn(infra, schemas)
    try:
        for key, age in (("old", 31), ("new", 29)):
            await conn.execute(
                "INSERT INTO idempotency_keys (portal_id, key, request_hash, status_code,"
                " response, created_at) VALUES ('p', $1, 'h', 201, '{}', $2)",
                key,
                NOW - timedelta(days=age),
            )
        for action, age in (("old", 1826), ("new", 1824)):
            await conn.execute(
                "INSERT INTO personal_data_access (caller, action, at) VALUES ('ops', $1, $2)",
                action,
                NOW - timedelta(days=age),
            )

        counts = await intake_purge(conn, NOW, IntakeRetention())

        assert counts["idempotency_keys"] == 1 and counts["access_audit"] == 1
        assert [r["key"] for r in await conn.fetch("SELECT key FROM idempotency_keys")] == ["new"]
        assert [
            r["action"] for r in await conn.fetch("SELECT action FROM personal_data_access")
        ] == ["new"]
    finally:
        await conn.close()


# ----------------------------------------------------------------- notify


async def add_message(
    conn: asyncpg.Connection, contact_ref: str, status: str, updated: datetime
) -> UUID:
    message_id = uuid4()
    await conn.execute(
        "INSERT INTO messages (id, event_id, event_type, channel, contact_ref, dossier_id,"
        " dossier_code, template_id, template_version, subject, body_text, body_html,"
        " status, params, created_at, updated_at)"
        " VALUES ($1, $2, 'dossier.received', 'email', $3, $4, 'T-1', 'received', 1,"
        " 'Hồ sơ đã được tiếp nhận', 'Kính gửi ***, hồ sơ T-1 ...', '<p>...</p>', $5,"
        ' \'{"reason": "thiếu giấy tờ"}\', $6, $6)',
        message_id,
        uuid4(),
        contact_ref,
        UUID(contact_ref),
        status,
        updated,
    )
    return message_id


async def test_notify_erases_ended_messages_text_and_forgets_idle_contacts(
    infra: Infra, schemas: dict[str, str]
) -> None:
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": schemas["notify"]}
    )
    try:
        idle, active = str(uuid4()), str(uuid4())
        old = NOW - timedelta(days=400)
        ended_old = await add_message(conn, idle, "delivered", old)
        ended_recent = await add_message(conn, active, "sent", NOW - timedelta(days=10))
        # Still being retried: its text is needed to send it.
        retrying_old = await add_message(conn, active, "temporary_failure", old)
        for ref in (idle, active):
            await conn.execute(
                "INSERT INTO dossier_facts (dossier_id, dossier_code, procedure_code,"
                " receiving_unit, contact_ref, created_at) VALUES ($1, 'T', 'P', 'U', $2, $3)",
                UUID(ref),
                ref,
                old,
            )
            await conn.execute(
                "INSERT INTO opt_outs (contact_ref, channel, created_at) VALUES ($1, 'sms', $2)",
                ref,
                old,
            )
        await conn.execute(
            "INSERT INTO message_status_history (message_id, status, detail)"
            " VALUES ($1, 'delivered', 'ok')",
            ended_old,
        )

        # Ratings: an old one's comment goes, its scores stay; a recent one is kept whole.
        for ref, at in ((idle, old), (active, NOW - timedelta(days=10))):
            await conn.execute(
                "INSERT INTO ratings (dossier_id, dossier_code, timeliness, attitude, clarity,"
                " outcome, comment, rated_at) VALUES ($1, 'T', 5, 4, 3, 2, 'Tận tình', $2)",
                UUID(ref),
                at,
            )

        counts = await notify_purge(conn, NOW, NotifyRetention(body_days=90, contact_days=365))

        assert counts == {
            "message_bodies": 1,
            "rating_comments": 1,
            "contact_facts": 1,
            "opt_outs": 1,
        }
        rated = {
            str(r["dossier_id"]): (r["comment"], r["timeliness"])
            for r in await conn.fetch("SELECT * FROM ratings")
        }
        assert rated == {idle: (None, 5), active: ("Tận tình", 5)}
        erased = await one(conn, "SELECT * FROM messages WHERE id = $1", ended_old)
        assert (erased["subject"], erased["body_text"], erased["body_html"]) == (None, "", None)
        assert json.loads(erased["params"]) == {}
        assert erased["status"] == "delivered"  # the proof stays
        assert (
            await conn.fetchval(
                "SELECT count(*) FROM message_status_history WHERE message_id = $1", ended_old
            )
            == 1
        )
        for kept in (ended_recent, retrying_old):
            row = await one(conn, "SELECT * FROM messages WHERE id = $1", kept)
            assert row["body_text"].startswith("Kính gửi")
            assert json.loads(row["params"]) == {"reason": "thiếu giấy tờ"}
        facts = {
            r["contact_ref"] for r in await conn.fetch("SELECT contact_ref FROM dossier_facts")
        }
        opted = {r["contact_ref"] for r in await conn.fetch("SELECT contact_ref FROM opt_outs")}
        assert idle not in facts and idle not in opted
        assert active in facts and active in opted
    finally:
        await conn.close()


# ----------------------------------------------------------------- sla


async def test_sla_clears_the_contact_reference_of_dossiers_ended_past_retention(
    infra: Infra, schemas: dict[str, str]
) -> None:
    conn = await asyncpg.connect(
        infra.database_url, server_settings={"search_path": schemas["sla"]}
    )
    try:
        ended_long_ago, ended_recently, still_open = uuid4(), uuid4(), uuid4()
        ends: dict[UUID, Any] = {
            ended_long_ago: NOW - timedelta(days=3651),
            ended_recently: NOW - timedelta(days=100),
            still_open: None,
        }
        for dossier_id, ended in ends.items():
            await conn.execute(
                "INSERT INTO dossiers (dossier_id, dossier_code, contact_ref, ended_at)"
                " VALUES ($1, 'T', $2, $3)",
                dossier_id,
                str(dossier_id),
                ended,
            )
            await conn.execute(
                "INSERT INTO apologies (id, dossier_id, letter) VALUES ($1, $2, $3::jsonb)",
                uuid4(),
                dossier_id,
                json.dumps({"contact_ref": str(dossier_id), "reason": "quá hạn"}),
            )

        counts = await sla_purge(conn, NOW, SlaRetention(contact_days=3650))

        assert counts == {"letter_contact_refs": 1, "dossier_contact_refs": 1}
        rows = {
            r["dossier_id"]: (r["contact_ref"], json.loads(r["letter"]))
            for r in await conn.fetch(
                "SELECT d.dossier_id, d.contact_ref, a.letter FROM dossiers d"
                " JOIN apologies a USING (dossier_id)"
            )
        }
        assert rows[ended_long_ago] == (None, {"contact_ref": None, "reason": "quá hạn"})
        for kept in (ended_recently, still_open):
            assert rows[kept] == (str(kept), {"contact_ref": str(kept), "reason": "quá hạn"})
    finally:
        await conn.close()


async def test_the_purge_loop_counts_what_it_purged_and_when_it_last_ran(
    infra: Infra, schemas: dict[str, str]
) -> None:
    from prometheus_client import REGISTRY

    pool = await asyncpg.create_pool(
        infra.database_url, min_size=1, max_size=1, server_settings={"search_path": schemas["sla"]}
    )
    assert pool is not None
    try:
        dossier_id = uuid4()
        await pool.execute(
            "INSERT INTO dossiers (dossier_id, contact_ref, ended_at) VALUES ($1, 'x', $2)",
            dossier_id,
            NOW - timedelta(days=4000),
        )
        before = REGISTRY.get_sample_value(
            "personal_data_purged_total", {"service": "sla-test", "kind": "dossier_contact_refs"}
        )
        counts = await purge_once(
            pool, "sla-test", lambda conn, now: sla_purge(conn, now, SlaRetention()), NOW
        )
        assert counts["dossier_contact_refs"] >= 1
        after = REGISTRY.get_sample_value(
            "personal_data_purged_total", {"service": "sla-test", "kind": "dossier_contact_refs"}
        )
        assert (after or 0) - (before or 0) == counts["dossier_contact_refs"]
        last = REGISTRY.get_sample_value(
            "personal_data_purge_last_success_timestamp_seconds", {"service": "sla-test"}
        )
        assert last is not None and last > 0
    finally:
        await pool.close()
