"""Structured JSON logs with trace and span ids; phone numbers and emails masked."""

from __future__ import annotations

import json
import logging
import re
import sys
from datetime import UTC, datetime

from opentelemetry import trace

from services.runtime.settings import ServiceSettings

_PHONE = re.compile(r"(?<!\d)(\+?84|0)(\d{2})\d{4,6}(\d{2})(?!\d)")
# The domain needs a dot and a top-level name, so ``template@1`` is not taken for an address.
_EMAIL = re.compile(
    r"([A-Za-z0-9._%+-])[A-Za-z0-9._%+-]*@([A-Za-z0-9-]+(?:\.[A-Za-z0-9-]+)*\.[A-Za-z]{2,})"
)
_CITIZEN_ID = re.compile(r"(?<!\d)\d{12}(?!\d)")
# A number written in groups, as officials type them: 0912 345 678, 0912.345.678, +84 912…
_PHONE_GROUPED = re.compile(r"(?<![\d+])(\+?84|0)[ .-]?(\d{2,3})(?:[ .-]?\d){5,7}(?!\d)")
_CITIZEN_ID_GROUPED = re.compile(r"(?<!\d)\d{3}(?:[ .-]\d{3}){3}(?!\d)")
# A person named after a Vietnamese form of address: "ông Nguyễn Văn An", "bà Lan".
_HONORIFIC = r"(?:ông|bà|anh|chị|cô|chú|bác|em|cháu|cụ|công dân|người nộp)"
_NAME_WORD = r"[^\W\d_][^\W\d_]*"
_NAMED = re.compile(
    rf"(?<![^\W\d_])({_HONORIFIC})(/{_HONORIFIC})?(\s+)({_NAME_WORD}(?:\s+{_NAME_WORD}){{0,4}})",
    re.IGNORECASE,
)


def _mask_name(match: re.Match[str]) -> str:
    words = match.group(4).split()
    named = 0
    for word in words:  # names are the capitalised words right after the form of address
        if not word[0].isupper():
            break
        named += 1
    if named == 0:
        return match.group(0)
    rest = match.group(4).split(None, named)
    tail = f" {rest[named]}" if len(rest) > named else ""
    return f"{match.group(1)}{match.group(2) or ''}{match.group(3)}***{tail}"


def mask_names(text: str) -> str:
    """Capitalised words after a form of address (ông, bà, anh, chị, …) become ***."""
    return _NAMED.sub(_mask_name, text)


def mask_personal_data(text: str) -> str:
    """Phone numbers, e-mail addresses, 12-digit ID numbers and names after a form of
    address, masked: for logs, spans and officials' free text shown to others."""
    text = _CITIZEN_ID.sub("************", text)
    text = _CITIZEN_ID_GROUPED.sub("************", text)
    text = _PHONE.sub(lambda m: f"{m.group(1)}{m.group(2)}****{m.group(3)}", text)
    text = _PHONE_GROUPED.sub(lambda m: f"{m.group(1)}{m.group(2)}****", text)
    text = _EMAIL.sub(lambda m: f"{m.group(1)}***@{m.group(2)}", text)
    return mask_names(text)


class JsonFormatter(logging.Formatter):
    def __init__(self, service: str) -> None:
        super().__init__()
        self.service = service

    def format(self, record: logging.LogRecord) -> str:
        span_ctx = trace.get_current_span().get_span_context()
        entry = {
            "ts": datetime.fromtimestamp(record.created, UTC).isoformat(),
            "level": record.levelname,
            "service": self.service,
            "logger": record.name,
            "msg": mask_personal_data(record.getMessage()),
        }
        event = getattr(record, "event", None)
        if isinstance(event, str):  # a stable name alert rules and log searches match on
            entry["event"] = event
        if span_ctx.is_valid:
            entry["trace_id"] = format(span_ctx.trace_id, "032x")
            entry["span_id"] = format(span_ctx.span_id, "016x")
        if record.exc_info:
            entry["exc"] = mask_personal_data(self.formatException(record.exc_info))
        return json.dumps(entry, ensure_ascii=False)


def configure_logging(settings: ServiceSettings) -> None:
    handler = logging.StreamHandler(sys.stderr)
    handler.setFormatter(JsonFormatter(settings.service_name))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(settings.log_level)
    logging.getLogger("aiokafka").setLevel(logging.WARNING)
