"""Personal-data rules that need no database: identity documents, who sees their storage
references, the bulk-read alarm, the record of processing and the alert rules."""

from __future__ import annotations

import json
import logging
import re
from pathlib import Path

import pytest
import yaml
from prometheus_client import REGISTRY

from contracts.intake_api import Applicant, SuppliedDocument
from reference import reference
from services.intake.domain.personal_data import (
    documents_for,
    flag_documents,
    is_identity_document,
    is_sensitive,
    mask_citizen_id,
)
from services.runtime import retention  # noqa: F401  (registers the purge metrics)
from services.runtime.data_access import (
    BULK_READ_EVENT,
    BulkReadDetector,
    BulkReadPolicy,
    note_reads,
)
from services.runtime.logs import JsonFormatter
from services.runtime.personal_data import load_record, looks_personal, unrecorded_columns
from services.runtime.settings import ServiceSettings

REPO = Path(__file__).resolve().parents[2]
CCCD = {
    "type_code": "CCCD",
    "name": "Căn cước công dân",
    "checksum": "b" * 64,
    "storage_ref": "s3://dossiers/cccd-front.jpg",
}
FORM = {
    "type_code": "TK_KS",
    "name": "Tờ khai đăng ký khai sinh",
    "checksum": "a" * 64,
    "storage_ref": "s3://dossiers/tk.pdf",
}


# ------------------------------------------------------------ identity documents


@pytest.mark.parametrize(
    ("code", "name"),
    [
        ("CCCD", "Căn cước công dân"),
        ("cmnd", "Chứng minh nhân dân"),
        ("HO_CHIEU", "Hộ chiếu"),
        ("GT01", "Bản sao Thẻ căn cước"),
        ("X", "Giấy tờ tùy thân của người đi đăng ký"),
        ("X", "Giấy tờ tuỳ thân"),
        ("X", "Passport (scan)"),
        ("X", "HỘ CHIẾU CỦA NGƯỜI NƯỚC NGOÀI"),
    ],
)
def test_identity_papers_are_recognised_by_code_or_name(code: str, name: str) -> None:
    assert is_identity_document(code, name)


def test_no_paper_the_reference_data_requires_is_an_identity_document() -> None:
    """Today's procedures list no ID paper; if one is added it becomes sensitive at once."""
    for profile in ("three_level", "two_level"):
        for procedure in reference(profile).procedures.values():
            for document in procedure.documents:
                assert not is_identity_document(document.code, document.name), document


def test_documents_are_stored_with_their_flag() -> None:
    flagged = flag_documents([FORM, CCCD])
    assert [d["sensitive"] for d in flagged] == [False, True]
    assert flagged[1]["storage_ref"] == CCCD["storage_ref"]
    # Rows stored before the flag existed are recognised when read.
    assert is_sensitive({"type_code": "HC", "name": "Hộ chiếu"})


def test_only_the_submitting_portal_gets_an_identity_documents_storage_reference() -> None:
    own = documents_for([FORM, CCCD], submitting_portal=True)
    assert [d["storage_ref"] for d in own.documents] == [FORM["storage_ref"], CCCD["storage_ref"]]
    assert own.revealed_sensitive == 1

    other = documents_for([FORM, CCCD], submitting_portal=False)
    assert other.documents[1]["storage_ref"] is None
    assert other.documents[1]["storage_ref_withheld"] is True
    assert other.revealed_sensitive == 0
    assert CCCD["storage_ref"] not in json.dumps(other.documents)
    # Ordinary papers are shown to every portal of the unit.
    assert other.documents[0]["storage_ref"] == FORM["storage_ref"]


def test_an_audit_row_keeps_only_the_last_digits_of_a_citizen_id() -> None:
    assert mask_citizen_id("001190012345") == "*********345"


# ------------------------------------------------------------ bulk reads


class Clock:
    def __init__(self) -> None:
        self.now = 1000.0

    def __call__(self) -> float:
        return self.now


def test_one_caller_reading_more_dossiers_than_allowed_raises_the_alarm_once() -> None:
    clock = Clock()
    detector = BulkReadDetector(BulkReadPolicy(threshold=3, window_seconds=60), clock)
    assert detector.record("portal:p-1", ["a", "b", "c"]) is None
    assert detector.record("portal:p-1", ["a", "b"]) is None  # the same dossiers again
    alarm = detector.record("portal:p-1", ["d"])
    assert alarm is not None
    assert (alarm.caller, alarm.distinct_dossiers, alarm.threshold) == ("portal:p-1", 4, 3)
    # The burst was reported; the next alarm needs as many new reads again.
    assert detector.record("portal:p-1", ["e"]) is None
    # Another caller has its own count.
    assert detector.record("portal:p-2", ["a", "b", "c"]) is None


def test_reads_older_than_the_window_no_longer_count() -> None:
    clock = Clock()
    detector = BulkReadDetector(BulkReadPolicy(threshold=2, window_seconds=60), clock)
    detector.record("ops", ["a", "b"])
    clock.now += 61
    assert detector.record("ops", ["c"]) is None
    clock.now += 1
    assert detector.record("ops", ["d", "e"]) is not None


def test_a_caller_whose_work_is_reading_many_dossiers_has_its_own_threshold() -> None:
    detector = BulkReadDetector(
        BulkReadPolicy(threshold=2, window_seconds=60, per_caller={"service:notify": 5}), Clock()
    )
    assert detector.record("service:notify", ["a", "b", "c", "d", "e"]) is None
    assert detector.record("service:notify", ["f"]) is not None


def test_the_alarm_is_a_warning_with_a_stable_event_name_and_counted(
    caplog: pytest.LogCaptureFixture,
) -> None:
    caller = "portal:p-unit-test"
    detector = BulkReadDetector(BulkReadPolicy(threshold=2, window_seconds=60), Clock())
    with caplog.at_level(logging.WARNING, logger="services.runtime.data_access"):
        note_reads(detector, caller, ["a", "b"])
        assert not caplog.records
        note_reads(detector, caller, ["c", "c"])
    assert REGISTRY.get_sample_value("personal_data_reads_total", {"caller": caller}) == 3
    assert (
        REGISTRY.get_sample_value("personal_data_bulk_read_alerts_total", {"caller": caller}) == 1
    )
    (record,) = caplog.records
    assert record.levelno == logging.WARNING
    line = json.loads(JsonFormatter("intake").format(record))
    assert line["event"] == BULK_READ_EVENT == "personal_data.bulk_read"
    assert line["msg"].startswith("personal_data.bulk_read caller=portal:p-unit-test")


# ------------------------------------------------------------ the record


def test_the_record_names_every_field_of_the_applicant_and_of_a_document() -> None:
    """A new field in the submission contract must be recorded before it is stored."""
    record = load_record()
    applicant = record.store("intake", "dossiers", "applicant")
    documents = record.store("intake", "dossiers", "documents")
    assert set(Applicant.model_fields) <= set(applicant.keys)
    assert set(SuppliedDocument.model_fields) | {"supplement", "sensitive"} <= set(documents.keys)
    assert documents.category == "sensitive"


def test_every_entry_has_a_legal_basis_readers_and_a_retention() -> None:
    record = load_record()
    assert record.stores
    for store in record.stores:
        assert store.legal_basis in record.legal_bases
        assert store.readers and store.purpose and store.data


def test_a_column_named_like_personal_data_and_not_recorded_is_reported() -> None:
    record = load_record()
    columns = {("dossiers", "applicant"), ("dossiers", "owner_phone"), ("dossiers", "code")}
    assert unrecorded_columns(record, "intake", columns) == [("dossiers", "owner_phone")]
    for name in ("citizen_id", "email", "full_name", "address", "phone", "contact_ref"):
        assert looks_personal(name), name
    for name in ("dossier_code", "status", "procedure_code", "created_at"):
        assert not looks_personal(name), name


def test_the_retention_settings_in_the_record_are_the_services_settings() -> None:
    from services.intake.config import IntakeSettings
    from services.notify.app import NotifySettings
    from services.sla.app import SlaSettings

    settings: dict[str, type[ServiceSettings]] = {
        "intake": IntakeSettings,
        "notify": NotifySettings,
        "sla": SlaSettings,
    }
    record = load_record()
    for name, entry in record.retention.items():
        if not name.isupper():
            continue  # a runtime rule, not a setting
        field = settings[entry.service].model_fields[name.lower()]
        assert field.default == entry.default_days, name


# ------------------------------------------------------------ alert rules


def test_the_alert_rules_watch_metrics_the_services_export() -> None:
    rules = yaml.safe_load((REPO / "deploy" / "prometheus" / "alerts.yaml").read_text())
    (group,) = rules["groups"]
    by_name = {r["alert"]: r for r in group["rules"]}
    assert {"PersonalDataBulkRead", "PersonalDataBreachReportDue"} <= set(by_name)
    assert "[72h]" in by_name["PersonalDataBreachReportDue"]["expr"]
    assert by_name["PersonalDataBreachReportDue"]["labels"]["duty"] == "breach-report-72h"
    families = list(REGISTRY.collect())
    exported = {m.name for m in families} | {
        f"{m.name}_total" for m in families if m.type == "counter"
    }
    for rule in group["rules"]:
        for metric in re.findall(r"\b(personal_data_[a-z_]+)", rule["expr"]):
            assert metric in exported, (rule["alert"], metric)
        assert rule["annotations"]["runbook"].startswith("docs/SECURITY.md")
        assert rule["annotations"]["summary"] and rule["annotations"]["description"]
