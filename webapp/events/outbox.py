"""The outbox: events written in the transaction of the change they report, with one delivery per webhook.

A rolled-back change therefore never sends an event, and a committed one never loses its event.
A webhook receives the events it subscribed to from its owner's schedules; an admin owner's webhook
receives every client's. An event no webhook wants is counted but not stored.
"""

from __future__ import annotations

import json
from collections import Counter
from dataclasses import dataclass
from datetime import datetime

import sqlalchemy as sa
from flask import current_app, has_app_context
from sqlalchemy import event as sa_event
from sqlalchemy.orm import Session

from ..models import Agent, Event, Webhook, WebhookDelivery, new_id
from ..scheduling.bulkwrite import Form, executemany

EVENTS = Event.__table__
DELIVERIES = WebhookDelivery.__table__
INSERT_EVENT = sa.insert(EVENTS)
INSERT_DELIVERY = sa.insert(DELIVERIES)


@dataclass(frozen=True)
class Subscriber:
    """A webhook as the outbox sees it: who owns it and which events it wants."""

    webhook_id: str
    client_id: str
    events: frozenset[str]
    admin: bool

    def wants(self, event: str, client_id: str) -> bool:
        """Tell whether this webhook receives `event` about a schedule of `client_id`."""
        return event in self.events and (self.admin or self.client_id == client_id)


def subscribers(session: Session) -> list[Subscriber]:
    """Return every webhook with its owner's admin flag (a small table, read once per transaction)."""
    webhooks, agents = Webhook.__table__, Agent.__table__
    rows = session.execute(
        sa.select(webhooks.c.webhook_id, webhooks.c.client_id, webhooks.c.events, agents.c.is_admin).join(
            agents, agents.c.agent_id == webhooks.c.client_id
        )
    ).all()
    return [Subscriber(r.webhook_id, r.client_id, frozenset(_as_list(r.events)), bool(r.is_admin)) for r in rows]


def _as_list(value) -> list:
    """Return a JSON list column's value as a list (core reads may hand back text on some drivers)."""
    return json.loads(value) if isinstance(value, str) else list(value or [])


class Outbox:
    """Collects the events of one transaction, then writes them and their deliveries in it."""

    def __init__(self, session: Session) -> None:
        """Prepare an outbox for `session`; webhooks are read on the first event."""
        self.session = session
        self.form = Form(session)
        self._subscribers: list[Subscriber] | None = None
        self.events: list[dict] = []
        self.deliveries: list[dict] = []
        self.counts: Counter[str] = Counter()

    def add(
        self,
        event: str,
        client_id: str,
        at: datetime,
        schedule_id: str | None = None,
        execution_id: str | None = None,
        task_id: str | None = None,
        data: dict | None = None,
        only: str | None = None,
    ) -> str | None:
        """Queue an event; return its event_id, or None when no webhook wants it (`only`: one webhook)."""
        self.counts[event] += 1
        if only is not None:
            targets = [only]
        else:
            if self._subscribers is None:
                self._subscribers = subscribers(self.session)
            targets = [s.webhook_id for s in self._subscribers if s.wants(event, client_id)]
        if not targets:
            return None
        event_id = new_id("evt")
        stamp = self.form.at(at)
        self.events.append(
            {
                "event_id": event_id,
                "event": event,
                "client_id": client_id,
                "schedule_id": schedule_id,
                "execution_id": execution_id,
                "task_id": task_id,
                "occurred_at": stamp,
                "data": json.dumps(data or {}, separators=(",", ":"), default=str),
            }
        )
        for webhook_id in targets:
            self.deliveries.append(delivery_row(webhook_id, event_id, stamp))
        return event_id

    def take(self) -> tuple[list[dict], list[dict], Counter[str]]:
        """Hand over the queued rows and counts, leaving the outbox empty."""
        taken = (self.events, self.deliveries, self.counts)
        self.events, self.deliveries, self.counts = [], [], Counter()
        return taken

    def flush(self) -> None:
        """Write the queued events and deliveries in the session's transaction."""
        write(self.session, *self.take())


def delivery_row(webhook_id: str, event_id: str, stamp) -> dict:
    """Return a new PENDING delivery, due at once, in driver form."""
    return {
        "delivery_id": new_id("dlv"),
        "webhook_id": webhook_id,
        "event_id": event_id,
        "status": "PENDING",
        "attempts": 0,
        "next_attempt_at": stamp,
        "created_at": stamp,
    }


def write(session: Session, events: list[dict], deliveries: list[dict], counts: Counter[str]) -> None:
    """Insert event and delivery rows (driver form) and note the counts for after the commit."""
    if events:
        executemany(session, INSERT_EVENT, events)
    if deliveries:
        executemany(session, INSERT_DELIVERY, deliveries)
    if counts:
        session.info.setdefault("events_emitted", Counter()).update(counts)


def emit(session: Session, event: str, client_id: str, at: datetime, **fields) -> str | None:
    """Write one event (and its deliveries) in the session's transaction; return its event_id or None."""
    outbox = Outbox(session)
    event_id = outbox.add(event, client_id, at, **fields)
    outbox.flush()
    return event_id


def _count_after_commit(session: Session) -> None:
    """Count the events of a committed transaction in the app's metrics."""
    counts = session.info.pop("events_emitted", None)
    if counts and has_app_context():
        metrics = current_app.extensions.get("scheduler_metrics")
        if metrics is not None:
            metrics.record_events(counts)


def _forget(session: Session) -> None:
    """Drop the counts of a rolled-back transaction: its events never happened."""
    session.info.pop("events_emitted", None)


def listen_for_commits() -> None:
    """Install the after-commit counting hooks once per process."""
    if not sa_event.contains(Session, "after_commit", _count_after_commit):
        sa_event.listen(Session, "after_commit", _count_after_commit)
        sa_event.listen(Session, "after_rollback", _forget)
