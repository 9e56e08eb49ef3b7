"""Export the wire formats as files portal teams can read without Python.

``python -m tools.contracts_export`` writes JSON Schemas (envelope, event payloads, REST
bodies), the AsyncAPI document for the topics, and each service's OpenAPI spec.
``python -m tools.contracts_export --check`` fails when a committed file is stale.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import Any

from contracts import intake_api
from contracts.envelope import EventEnvelope
from contracts.events import EVENT_SPECS
from contracts.topics import DLQ_SUFFIX, TOPICS

# The composition root of the contracts: it builds every service's app to read its OpenAPI,
# so it is a tool of its own, in no service and not in contracts/ (which imports none).
ROOT = Path(__file__).resolve().parents[1] / "contracts"
SCHEMAS = ROOT / "schemas"


def _dump(value: Any) -> str:
    return json.dumps(value, indent=2, ensure_ascii=False, sort_keys=False) + "\n"


def event_schemas() -> dict[str, Any]:
    files: dict[str, Any] = {"envelope.json": EventEnvelope.model_json_schema()}
    for spec in EVENT_SPECS:
        schema = spec.payload.model_json_schema()
        schema["title"] = spec.event_type
        schema["description"] = spec.summary
        files[f"events/{spec.event_type}.json"] = schema
    for name in ("SubmitDossier", "Receipt", "DossierView"):
        files[f"rest/{name}.json"] = getattr(intake_api, name).model_json_schema()
    return files


def asyncapi() -> dict[str, Any]:
    channels: dict[str, Any] = {}
    operations: dict[str, Any] = {}
    messages: dict[str, Any] = {}
    for spec in EVENT_SPECS:
        messages[spec.event_type] = {
            "name": spec.event_type,
            "summary": spec.summary,
            "contentType": "application/json",
            "headers": {"type": "object", "description": "W3C traceparent / tracestate"},
            "payload": {
                "allOf": [
                    {"$ref": "./schemas/envelope.json"},
                    {
                        "properties": {
                            "payload": {"$ref": f"./schemas/events/{spec.event_type}.json"}
                        }
                    },
                ]
            },
        }
    for topic in TOPICS:
        topic_messages = {
            s.event_type: {"$ref": f"#/components/messages/{s.event_type}"}
            for s in EVENT_SPECS
            if s.topic == topic.name
        }
        channels[topic.name] = {
            "address": topic.name,
            "description": topic.description,
            "messages": topic_messages,
            "bindings": {
                "kafka": {
                    "partitions": topic.partitions,
                    "replicas": 1,
                    "bindingVersion": "0.5.0",
                }
            },
            "x-key": topic.key,
            "x-producer": topic.producer,
            "x-consumer-groups": list(topic.consumers),
        }
        channels[topic.name + DLQ_SUFFIX] = {
            "address": topic.name + DLQ_SUFFIX,
            "description": (
                f"Records of {topic.name} a consumer could not process: the original bytes,"
                " with headers dlq.consumer, dlq.error, dlq.attempts, dlq.source."
            ),
            "bindings": {"kafka": {"partitions": 1, "bindingVersion": "0.5.0"}},
        }
        operations[f"publish_{topic.name}"] = {
            "action": "send",
            "channel": {"$ref": f"#/channels/{topic.name}"},
        }
    return {
        "asyncapi": "3.0.0",
        "info": {
            "title": "Một cửa liên thông — dossier events",
            "version": "1.0.0",
            "description": (
                "Every event travels in the envelope (event_id, event_type, schema_version,"
                " occurred_at, dossier_id, sequence, correlation_id, causation_id, producer,"
                " payload). Keys keep one dossier's events in order. Consumers dedupe on"
                " (consumer, event_id) and ignore unknown fields."
            ),
        },
        "channels": channels,
        "operations": operations,
        "components": {"messages": messages},
    }


def openapi_specs() -> dict[str, Any]:
    from services.intake.app import build_app as intake_app
    from services.notify.app import build_app as notify_app
    from services.routing.app import build_app as routing_app
    from services.sla.app import build_app as sla_app

    return {
        f"openapi/{name}.json": factory().openapi()
        for name, factory in (
            ("intake", intake_app),
            ("routing", routing_app),
            ("sla", sla_app),
            ("notify", notify_app),
        )
    }


def all_files() -> dict[str, str]:
    files = {**event_schemas(), **openapi_specs()}
    rendered = {
        f"schemas/{k}" if not k.startswith("openapi/") else k: _dump(v) for k, v in files.items()
    }
    rendered["asyncapi.json"] = _dump(asyncapi())
    return rendered


def main(argv: list[str]) -> int:
    files = all_files()
    if "--check" in argv:
        stale = [
            name
            for name, text in files.items()
            if not (ROOT / name).exists() or (ROOT / name).read_text(encoding="utf-8") != text
        ]
        if stale:
            print("stale contract files (run `make contracts`):", *stale, sep="\n  ")
            return 1
        return 0
    for name, text in files.items():
        path = ROOT / name
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_text(text, encoding="utf-8")
    print(f"wrote {len(files)} files under {ROOT}")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
