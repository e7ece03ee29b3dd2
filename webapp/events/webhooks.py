"""Every rule about a webhook: create (secret shown once), list, read, delete, deliveries, redeliver, test."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from .. import clock, paging
from ..api.schemas import WEBHOOK_CREATE
from ..api.validation import validate
from ..auth import Caller
from ..clock import iso_z
from ..errors import conflict, invalid, not_found
from ..extensions import db, write_transaction
from ..models import (
    TEST_EVENT,
    Agent,
    DeliveryStatus,
    Event,
    Webhook,
    WebhookAttempt,
    WebhookDelivery,
    new_id,
)
from . import signing, ssrf
from .outbox import Outbox, delivery_row

MAX_PER_CLIENT = 25


def create_webhook(
    caller: Caller, body: dict, allow_private: bool, client_id: str | None = None, now: datetime | None = None
) -> Webhook:
    """Register a webhook owned by the calling agent (an operator names the owner); its secret is new."""
    now = now or clock.utcnow()
    data = validate(WEBHOOK_CREATE, body)
    owner = caller.agent_id or client_id
    if owner is None:
        raise invalid("Choose the client that owns the webhook", "client_id")
    try:
        ssrf.check_url(data["url"], allow_private)
    except ssrf.UnsafeURL as err:
        raise invalid(str(err), "url") from None
    with write_transaction() as session:
        if session.get(Agent, owner) is None:
            raise invalid(f"Unknown client_id: {owner}", "client_id")
        held = session.scalar(sa.select(sa.func.count()).select_from(Webhook).where(Webhook.client_id == owner))
        if held >= MAX_PER_CLIENT:
            raise conflict(f"A client may have at most {MAX_PER_CLIENT} webhooks; delete one first", "url")
        webhook = Webhook(
            webhook_id=new_id("wh"),
            client_id=owner,
            url=data["url"],
            events=list(dict.fromkeys(data["events"])),
            description=data.get("description"),
            secret=signing.new_secret(),
            created_at=now,
        )
        session.add(webhook)
    return webhook


def _visible(caller: Caller):
    """Return the condition that limits webhooks to those the caller may see."""
    return sa.true() if caller.is_admin else Webhook.client_id == caller.agent_id


def list_webhooks(caller: Caller, limit: int, offset: int, cursor: str | None = None) -> tuple[list[Webhook], int]:
    """Return a page of the caller's webhooks (an admin's: all), newest first, and their total."""
    return paging.newest_first(
        Webhook, [_visible(caller)], Webhook.created_at, Webhook.webhook_id, limit, offset, cursor
    )


def get_webhook(caller: Caller, webhook_id: str, session=None) -> Webhook:
    """Return a webhook the caller may see; another client's answers 404 like an absent one."""
    webhook = (session or db.session).get(Webhook, webhook_id)
    if webhook is None or not caller.may_see(webhook.client_id):
        raise not_found("Webhook")
    return webhook


def delete_webhook(caller: Caller, webhook_id: str) -> None:
    """Delete a webhook with its deliveries and their attempts (the events stay, for other webhooks)."""
    with write_transaction() as session:
        webhook = get_webhook(caller, webhook_id, session)
        ids = sa.select(WebhookDelivery.delivery_id).where(WebhookDelivery.webhook_id == webhook_id)
        session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
        session.execute(sa.delete(WebhookDelivery).where(WebhookDelivery.webhook_id == webhook_id))
        session.delete(webhook)


def list_deliveries(
    caller: Caller, webhook_id: str, limit: int, offset: int, status: str | None = None, cursor: str | None = None
) -> tuple[list[dict], int, str | None]:
    """Return a page of a webhook's deliveries, newest first, each with its event and attempt log; and the cursor."""
    get_webhook(caller, webhook_id)
    if status is not None and status not in list(DeliveryStatus):
        raise invalid(f"status must be one of {', '.join(DeliveryStatus)}", "status")
    where = [WebhookDelivery.webhook_id == webhook_id]
    if status:
        where.append(WebhookDelivery.status == status)
    total = paging.count(WebhookDelivery, where)
    joined = sa.select(WebhookDelivery, Event.event).join(Event, Event.event_id == WebhookDelivery.event_id)
    at, row_id = WebhookDelivery.created_at, WebhookDelivery.delivery_id
    rows = db.session.execute(paging.newest_page(joined.where(*where), at, row_id, limit, offset, cursor)).all()
    attempts: dict[str, list[WebhookAttempt]] = {}
    if rows:
        for a in db.session.scalars(
            sa.select(WebhookAttempt)
            .where(WebhookAttempt.delivery_id.in_([d.delivery_id for d, _ in rows]))
            .order_by(WebhookAttempt.attempted_at, WebhookAttempt.attempt_id)
        ):
            attempts.setdefault(a.delivery_id, []).append(a)
    page = [delivery_dict(d, event, attempts.get(d.delivery_id, [])) for d, event in rows]
    return page, total, paging.page_cursor([d for d, _ in rows], limit, "created_at", "delivery_id")


def _new_delivery(session, webhook: Webhook, event_id: str, now: datetime) -> WebhookDelivery:
    """Queue a fresh delivery of an event to a webhook, due now; return it."""
    row = delivery_row(webhook.webhook_id, event_id, now)
    delivery = WebhookDelivery(**row)
    session.add(delivery)
    return delivery


def redeliver(caller: Caller, webhook_id: str, delivery_id: str, now: datetime | None = None) -> dict:
    """Queue a finished delivery's event again, as a new delivery with the same event_id (409 while pending)."""
    now = now or clock.utcnow()
    with write_transaction() as session:
        webhook = get_webhook(caller, webhook_id, session)
        old = session.get(WebhookDelivery, delivery_id)
        if old is None or old.webhook_id != webhook_id:
            raise not_found("Delivery")
        if old.status == "PENDING":
            raise conflict("This delivery is still being attempted; redeliver it once it has finished", "status")
        delivery = _new_delivery(session, webhook, old.event_id, now)
        event = session.get(Event, old.event_id)
    return delivery_dict(delivery, event.event, [])


def send_test(caller: Caller, webhook_id: str, now: datetime | None = None) -> dict:
    """Send a webhook.test event to this webhook alone; return its delivery."""
    now = now or clock.utcnow()
    with write_transaction() as session:
        webhook = get_webhook(caller, webhook_id, session)
        outbox = Outbox(session)
        data = {"message": "A test event: your receiver is reachable and can check signatures.", "url": webhook.url}
        outbox.add(TEST_EVENT, webhook.client_id, now, data=data, only=webhook_id)
        delivery_id = outbox.deliveries[0]["delivery_id"]
        outbox.flush()
        delivery = session.get(WebhookDelivery, delivery_id)
    return delivery_dict(delivery, TEST_EVENT, [])


def webhook_dict(w: Webhook, with_secret: bool = False) -> dict:
    """Serialize a webhook; the secret only in the answer that created it."""
    out = {
        "webhook_id": w.webhook_id,
        "client_id": w.client_id,
        "url": w.url,
        "events": list(w.events or []),
        "description": w.description,
        "created_at": iso_z(w.created_at),
    }
    if with_secret:
        out["secret"] = w.secret
    return out


def delivery_dict(d: WebhookDelivery, event: str, attempts: list[WebhookAttempt]) -> dict:
    """Serialize a delivery with its attempt log (oldest attempt first)."""
    return {
        "delivery_id": d.delivery_id,
        "webhook_id": d.webhook_id,
        "event_id": d.event_id,
        "event": event,
        "status": d.status,
        "attempts": d.attempts or 0,
        "next_attempt_at": iso_z(d.next_attempt_at) if d.status == "PENDING" else None,
        "last_status_code": d.last_status_code,
        "last_error": d.last_error,
        "created_at": iso_z(d.created_at),
        "finished_at": iso_z(d.finished_at),
        "attempt_log": [
            {
                "number": a.number,
                "attempted_at": iso_z(a.attempted_at),
                "status_code": a.status_code,
                "duration_ms": a.duration_ms,
                "error": a.error,
            }
            for a in attempts
        ],
    }
