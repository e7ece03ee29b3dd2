"""The JSON Schemas of the webhook, delivery and audit answers: openapi_events.py publishes them and the
tests check real answers against them."""

from __future__ import annotations

from ..models import TEST_EVENT, ActorType, DeliveryStatus, EventType
from .responses import CLIENT_ID, INSTANT, MAYBE_INSTANT, page_of, record

WEBHOOK_OUT = record(
    {
        "webhook_id": {"type": "string", "pattern": "^wh-"},
        "client_id": CLIENT_ID,
        "url": {"type": "string"},
        "events": {"type": "array", "items": {"type": "string", "enum": [e.value for e in EventType]}},
        "description": {"type": ["string", "null"]},
        "created_at": INSTANT,
    }
)
WEBHOOK_CREATED_OUT = record({**WEBHOOK_OUT["properties"], "secret": {"type": "string", "minLength": 32}})
WEBHOOK_CREATED_OUT["properties"]["secret"]["description"] = "The signing secret, shown in this answer only."
WEBHOOK_LIST_OUT = page_of("webhooks", WEBHOOK_OUT)
WEBHOOK_DELETED_OUT = record({"webhook_id": {"type": "string"}, "deleted": {"const": True}})

DELIVERY_OUT = record(
    {
        "delivery_id": {"type": "string", "pattern": "^dlv-"},
        "webhook_id": {"type": "string", "pattern": "^wh-"},
        "event_id": {"type": "string", "pattern": "^evt-"},
        "event": {"type": "string", "enum": [*(e.value for e in EventType), TEST_EVENT]},
        "status": {"type": "string", "enum": [s.value for s in DeliveryStatus]},
        "attempts": {"type": "integer", "minimum": 0},
        "next_attempt_at": MAYBE_INSTANT,
        "last_status_code": {"type": ["integer", "null"]},
        "last_error": {"type": ["string", "null"]},
        "created_at": INSTANT,
        "finished_at": MAYBE_INSTANT,
        "attempt_log": {
            "type": "array",
            "items": record(
                {
                    "number": {"type": "integer", "minimum": 1},
                    "attempted_at": INSTANT,
                    "status_code": {"type": ["integer", "null"]},
                    "duration_ms": {"type": "integer", "minimum": 0},
                    "error": {"type": ["string", "null"]},
                }
            ),
        },
    }
)
DELIVERY_LIST_OUT = page_of("deliveries", DELIVERY_OUT)

AUDIT_OUT = record(
    {
        "audit_id": {"type": "string", "pattern": "^aud-"},
        "at": INSTANT,
        "actor": record(
            {"type": {"type": "string", "enum": [a.value for a in ActorType]}, "id": {"type": ["string", "null"]}}
        ),
        "action": {"type": "string"},
        "schedule_id": {"type": "string", "pattern": "^sched-"},
        "changes": {
            "type": "object",
            "additionalProperties": {"type": "array", "minItems": 2, "maxItems": 2},
            "description": "{field: [old, new]} for every field the action changed.",
        },
    }
)
AUDIT_LIST_OUT = page_of("events", AUDIT_OUT)
