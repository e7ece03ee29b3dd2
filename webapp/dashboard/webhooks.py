"""The Webhooks page: register (secret shown once, with a Python check), list, delete, test, the delivery log."""

from __future__ import annotations

from flask import Blueprint, current_app, flash, redirect, render_template, request, url_for

from ..auth import OPERATOR
from ..errors import ServiceError
from ..events import webhooks
from ..models import DeliveryStatus, EventType
from .agents import agent_ids
from .htmx import fragment, is_htmx, operator_caller, refusal, require_login

bp = Blueprint("dashboard_webhooks", __name__)
bp.before_request(require_login)

LOG_SIZE = 20
SNIPPET = '''import hashlib, hmac, time

SECRET = b"{secret}"


def verify(headers, raw_body: bytes, tolerance: int = 300) -> bool:
    """Check X-Scheduler-Signature (t=<unix seconds>,v1=<hex HMAC-SHA256 of "<t>.<raw body>">)."""
    fields = dict(part.split("=", 1) for part in headers["X-Scheduler-Signature"].split(","))
    expected = hmac.new(SECRET, fields["t"].encode() + b"." + raw_body, hashlib.sha256).hexdigest()
    fresh = abs(time.time() - int(fields["t"])) <= tolerance  # refuse a replayed old call
    return fresh and hmac.compare_digest(expected, fields["v1"])
'''


def _list_page(status: int = 200, error: ServiceError | None = None, **created):
    """Render the list with the create form (and a refusal, or the secret of a new webhook)."""
    rows, total = webhooks.list_webhooks(OPERATOR, 100, 0)
    response = current_app.make_response(
        (
            render_template(
                "webhooks/list.html",
                rows=rows,
                total=total,
                clients=agent_ids(),
                events=[e.value for e in EventType],
                error=error,
                values=request.form if error else {},
                **created,
            ),
            status,
        )
    )
    if created:
        response.headers["Cache-Control"] = "no-store"  # the page carries a secret
    return response


@bp.get("/webhooks")
def webhook_list():
    """List every webhook, with the form to register one."""
    return _list_page()


@bp.post("/webhooks")
def webhook_create():
    """Register a webhook; show its secret once, with a Python snippet that checks signatures."""
    body = {
        "url": (request.form.get("url") or "").strip(),
        "events": request.form.getlist("events"),
        "description": (request.form.get("description") or "").strip() or None,
    }
    allow = bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))
    try:
        webhook = webhooks.create_webhook(operator_caller(), body, allow, client_id=request.form.get("client_id"))
    except ServiceError as err:
        return _list_page(err.status, error=err)
    return _list_page(201, new=webhook, snippet=SNIPPET.format(secret=webhook.secret))


def _log(webhook_id: str, offset: int = 0) -> dict:
    """Return the delivery log context of a webhook."""
    rows, total, _ = webhooks.list_deliveries(OPERATOR, webhook_id, LOG_SIZE, offset)
    pending = any(d["status"] == DeliveryStatus.PENDING for d in rows)
    return {"deliveries": rows, "total": total, "pending": pending}


@bp.get("/webhooks/<webhook_id>")
def webhook_detail(webhook_id: str):
    """Show a webhook and its delivery log; HTMX polls the log while a delivery is pending."""
    webhook = webhooks.get_webhook(OPERATOR, webhook_id)
    if is_htmx():
        return fragment("webhooks/_log.html", w=webhook, **_log(webhook_id))
    return render_template(
        "webhooks/detail.html", w=webhook, snippet=SNIPPET.format(secret="whsec_…"), **_log(webhook_id)
    )


def _after_action(webhook_id: str, message: str):
    """Answer an action: the log again for HTMX (with a notice), a redirect otherwise."""
    if is_htmx():
        webhook = webhooks.get_webhook(OPERATOR, webhook_id)
        return fragment("webhooks/_log.html", w=webhook, message=message, **_log(webhook_id))
    flash(message, "success")
    return redirect(url_for("dashboard_webhooks.webhook_detail", webhook_id=webhook_id))


def _refused(err: ServiceError, webhook_id: str):
    """Answer a refused action."""
    if is_htmx():
        return refusal(err.message, err.status)
    flash(err.message, "error")
    return redirect(url_for("dashboard_webhooks.webhook_detail", webhook_id=webhook_id))


@bp.post("/webhooks/<webhook_id>/test")
def webhook_test(webhook_id: str):
    """Send a webhook.test event to this webhook."""
    try:
        webhooks.send_test(operator_caller(), webhook_id)
    except ServiceError as err:
        return _refused(err, webhook_id)
    return _after_action(webhook_id, "Test event queued; it is sent within a second or two.")


@bp.post("/webhooks/<webhook_id>/deliveries/<delivery_id>/redeliver")
def webhook_redeliver(webhook_id: str, delivery_id: str):
    """Queue a finished delivery's event again."""
    try:
        webhooks.redeliver(operator_caller(), webhook_id, delivery_id)
    except ServiceError as err:
        return _refused(err, webhook_id)
    return _after_action(webhook_id, "Queued again, with the same event_id.")


@bp.post("/webhooks/<webhook_id>/delete")
def webhook_delete(webhook_id: str):
    """Delete a webhook and its log."""
    try:
        webhooks.delete_webhook(operator_caller(), webhook_id)
    except ServiceError as err:
        return _refused(err, webhook_id)
    flash("Webhook deleted; it receives nothing more.", "success")
    return redirect(url_for("dashboard_webhooks.webhook_list"))
