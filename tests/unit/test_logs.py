"""Structured JSON logs: one object per line, trace and span ids, personal data masked."""

from __future__ import annotations

import json
import logging

from opentelemetry.sdk.trace import TracerProvider

from services.runtime.logs import JsonFormatter, mask_personal_data


def record(msg: str, *args: object, exc: bool = False) -> logging.LogRecord:
    exc_info = None
    if exc:
        try:
            raise ValueError("contact 0912345678 failed")
        except ValueError:
            import sys

            exc_info = sys.exc_info()
    return logging.LogRecord("onestop.test", logging.INFO, __file__, 1, msg, args, exc_info)


def test_a_line_is_json_with_service_level_logger_and_message() -> None:
    line = JsonFormatter("intake").format(record("dossier %s received", "X01-261122-0001"))
    entry = json.loads(line)
    assert entry["service"] == "intake"
    assert entry["level"] == "INFO"
    assert entry["logger"] == "onestop.test"
    assert entry["msg"] == "dossier X01-261122-0001 received"
    assert "trace_id" not in entry  # no span, no ids


def test_a_line_written_inside_a_span_carries_its_trace_and_span_ids() -> None:
    tracer = TracerProvider().get_tracer("test")
    with tracer.start_as_current_span("work") as span:
        entry = json.loads(JsonFormatter("routing").format(record("inside")))
        ctx = span.get_span_context()
    assert entry["trace_id"] == format(ctx.trace_id, "032x")
    assert entry["span_id"] == format(ctx.span_id, "016x")


def test_phone_numbers_emails_and_citizen_ids_are_masked_in_messages_and_tracebacks() -> None:
    line = JsonFormatter("notify").format(
        record(
            "sent to %s / %s / +84987654321 for citizen %s",
            "0912345678",
            "lan.nguyen@example.vn",
            "001190012345",
            exc=True,
        )
    )
    entry = json.loads(line)
    for secret in ("0912345678", "lan.nguyen@example.vn", "+84987654321", "001190012345"):
        assert secret not in line
    assert "091****78" in entry["msg"]
    assert "l***@example.vn" in entry["msg"]
    assert "************" in entry["msg"]
    assert "0912345678" not in entry["exc"]


def test_vietnamese_text_stays_readable_and_codes_are_not_mistaken_for_personal_data() -> None:
    text = "Hồ sơ 000.01.01.H99-261122-0001, mẫu dossier.received.email@1, tác vụ x:khai_sinh:2"
    assert mask_personal_data(text) == text
    entry = json.loads(JsonFormatter("sla").format(record(text)))
    assert entry["msg"] == text  # ensure_ascii=False keeps the diacritics
