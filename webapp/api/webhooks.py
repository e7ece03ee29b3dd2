"""The /aitp webhook and audit endpoints: parse, call a service, serialize."""

from __future__ import annotations

from functools import partial

from flask import Blueprint, current_app, jsonify, request

from ..auth import current_caller, require_agent
from ..events import audit, audit_query, webhooks
from .pages import each, page_answer
from .schedules import json_body
from .schemas import AUDIT_LIST_QUERY, DELIVERY_LIST_QUERY, PAGING_QUERY
from .validation import parse_paging, takes_query

bp = Blueprint("api_webhooks", __name__, url_prefix="/aitp")


@bp.post("/webhooks")
@require_agent
def create_webhook():
    """Register a webhook; 201 with its secret (shown this once)."""
    allow = bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))
    webhook = webhooks.create_webhook(current_caller(), json_body(), allow)
    return jsonify(webhooks.webhook_dict(webhook, with_secret=True)), 201


@bp.get("/webhooks")
@require_agent
@takes_query(*PAGING_QUERY)
def list_webhooks():
    """List the caller's webhooks, newest first."""
    fetch = partial(webhooks.list_webhooks, current_caller())
    return page_answer("webhooks", 20, fetch, each(webhooks.webhook_dict), "created_at", "webhook_id")


@bp.get("/webhooks/<webhook_id>")
@require_agent
def get_webhook(webhook_id: str):
    """Return one webhook (without its secret)."""
    return jsonify(webhooks.webhook_dict(webhooks.get_webhook(current_caller(), webhook_id)))


@bp.delete("/webhooks/<webhook_id>")
@require_agent
def delete_webhook(webhook_id: str):
    """Delete a webhook and its delivery log."""
    webhooks.delete_webhook(current_caller(), webhook_id)
    return jsonify({"webhook_id": webhook_id, "deleted": True})


@bp.get("/webhooks/<webhook_id>/deliveries")
@require_agent
@takes_query(*DELIVERY_LIST_QUERY)
def list_deliveries(webhook_id: str):
    """Return a webhook's deliveries, newest first, each with its attempt log."""
    limit, offset = parse_paging(request.args, 20)
    args = request.args
    rows, total, after = webhooks.list_deliveries(
        current_caller(), webhook_id, limit, offset, args.get("status") or None, args.get("cursor") or None
    )
    return jsonify({"deliveries": rows, "total": total, "limit": limit, "offset": offset, "next_cursor": after})


@bp.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver")
@require_agent
def redeliver(webhook_id: str, delivery_id: str):
    """Send a finished delivery's event again; 201 with the new delivery."""
    return jsonify(webhooks.redeliver(current_caller(), webhook_id, delivery_id)), 201


@bp.post("/webhooks/<webhook_id>/test")
@require_agent
def send_test(webhook_id: str):
    """Send a webhook.test event to this webhook; 201 with its delivery."""
    return jsonify(webhooks.send_test(current_caller(), webhook_id)), 201


@bp.get("/audit")
@require_agent
@takes_query(*AUDIT_LIST_QUERY)
def list_audit():
    """Return audit entries, newest first; a non-admin sees its own schedules' only."""
    fetch = partial(audit_query.list_entries, current_caller(), request.args.get("schedule_id") or None)
    return page_answer("events", 50, fetch, each(audit.entry_dict), "at", "audit_id")
