"""The webhook and audit part of the OpenAPI document (webapp/api/openapi.py merges it in)."""

from __future__ import annotations

from typing import Any

from ..models import DeliveryStatus
from . import responses_events, schemas

COMPONENTS: dict[str, dict[str, Any]] = {
    "WebhookCreate": schemas.WEBHOOK_CREATE,
    "Webhook": responses_events.WEBHOOK_OUT,
    "WebhookCreated": responses_events.WEBHOOK_CREATED_OUT,
    "WebhookList": responses_events.WEBHOOK_LIST_OUT,
    "WebhookDeleted": responses_events.WEBHOOK_DELETED_OUT,
    "Delivery": responses_events.DELIVERY_OUT,
    "DeliveryList": responses_events.DELIVERY_LIST_OUT,
    "AuditEntry": responses_events.AUDIT_OUT,
    "AuditList": responses_events.AUDIT_LIST_OUT,
}

EXAMPLES: dict[str, dict[str, Any]] = {
    "WebhookCreate": {
        "url": "https://hooks.example.com/scheduler",
        "events": ["execution.failed", "schedule.auto_paused"],
        "description": "Page the on-call engineer",
    },
}

SIGNING = (
    "Each delivery is a POST of JSON `{event_id, event, occurred_at, schedule_id, execution_id, task_id, data}` "
    "with `X-Scheduler-Event`, `X-Scheduler-Delivery` (the event_id) and `X-Scheduler-Signature: "
    't=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>" with the secret>`. A 2xx within 10 s delivers it; '
    "otherwise it is retried after about 10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h and 6 h, then FAILED. "
    "Redirects are not followed."
)


def paths(op, path_param, query, paging) -> dict[str, dict[str, Any]]:
    """Return the webhook and audit operations, built with openapi.py's helpers (`paging(default)`)."""
    webhook_id = path_param("webhook_id", "^.+$", "A webhook id, e.g. wh-5d41402abc4b2a76b9719d911017c592.")
    delivery_id = path_param("delivery_id", "^.+$", "A delivery id, e.g. dlv-7d793037a0760186574b0282f2f435e7.")
    status = query(
        "status", {"type": "string", "enum": [s.value for s in DeliveryStatus]}, "Only deliveries in this status."
    )
    schedule = query("schedule_id", {"type": "string", "maxLength": 64}, "Only this schedule's entries.")
    delivery = (201, "Delivery", "The new delivery, due at once.")
    return {
        "/aitp/webhooks": {
            "post": op(
                "createWebhook",
                "Register a webhook for your schedules' events (an admin's: every client's). " + SIGNING,
                (201, "WebhookCreated", "The webhook, with its signing secret (shown this once)."),
                (400, 401, 409, 413, 415),
                body="WebhookCreate",
            ),
            "get": op(
                "listWebhooks",
                "List your webhooks, newest first (an admin sees all).",
                (200, "WebhookList", "One page of webhooks and their total."),
                (400, 401),
                params=paging(20),
            ),
        },
        "/aitp/webhooks/{webhook_id}": {
            "parameters": [webhook_id],
            "get": op("getWebhook", "Read a webhook (never its secret).", (200, "Webhook", "The webhook."), (401, 404)),
            "delete": op(
                "deleteWebhook",
                "Delete a webhook and its delivery log.",
                (200, "WebhookDeleted", "The webhook is gone."),
                (401, 404),
            ),
        },
        "/aitp/webhooks/{webhook_id}/deliveries": {
            "parameters": [webhook_id],
            "get": op(
                "listDeliveries",
                "A webhook's deliveries, newest first, each with its attempts (time, status code, duration, error).",
                (200, "DeliveryList", "One page of deliveries and their total."),
                (400, 401, 404),
                params=[status, *paging(20)],
            ),
        },
        "/aitp/webhooks/{webhook_id}/deliveries/{delivery_id}/redeliver": {
            "parameters": [webhook_id, delivery_id],
            "post": op(
                "redeliver",
                "Send a finished (DELIVERED or FAILED) delivery's event again, with the same event_id.",
                delivery,
                (401, 404, 409),
            ),
        },
        "/aitp/webhooks/{webhook_id}/test": {
            "parameters": [webhook_id],
            "post": op("sendTestEvent", "Send a `webhook.test` event to this webhook alone.", delivery, (401, 404)),
        },
        "/aitp/audit": {
            "get": op(
                "listAudit",
                "Who changed which schedule, when, and how ({field: [old, new]}), newest first; "
                "a non-admin sees its own schedules' entries.",
                (200, "AuditList", "One page of audit entries and their total."),
                (400, 401, 404),
                params=[schedule, *paging(50)],
            ),
        },
    }
