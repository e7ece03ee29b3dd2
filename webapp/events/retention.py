"""How long finished webhook deliveries and their events are kept: EVENT_RETENTION_DAYS (0 keeps them all).

A delivery that ended (DELIVERED, or FAILED after its last retry) more than that many days ago is
deleted with its attempts; then an event older than that with no delivery left. A PENDING delivery
and its event are never deleted, however old. The audit log and the execution history are records,
not an outbox: they are kept. Deletes go in chunks of PRUNE_CHUNK rows, one short write transaction
each, so no firing waits long for SQLite's write lock; the timer prunes every PRUNE_EVERY, and
`flask events prune` does it at once.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from ..extensions import write_transaction
from ..models import DeliveryStatus, Event, WebhookAttempt, WebhookDelivery

PRUNE_CHUNK = 1000
PRUNE_EVERY = timedelta(minutes=10)
MAX_CHUNKS = 50  # per timer run: at most 50,000 rows of each kind, the rest at the next run
_ENDED = (DeliveryStatus.DELIVERED, DeliveryStatus.FAILED)


@dataclass
class Pruned:
    """How many rows one prune deleted."""

    deliveries: int = 0
    events: int = 0


def retention_days() -> int:
    """Return EVENT_RETENTION_DAYS (0: keep everything)."""
    return int(current_app.config.get("EVENT_RETENTION_DAYS") or 0)


def prune(now: datetime, days: int, max_chunks: int | None = None) -> Pruned:
    """Delete what ended more than `days` days before `now`; return how many rows went.

    `max_chunks` bounds the work (None: until nothing is left to delete).
    """
    if days <= 0:
        return Pruned()
    cutoff = now - timedelta(days=days)
    deliveries, used = _in_chunks(_delete_deliveries, cutoff, max_chunks)
    events, _ = _in_chunks(_delete_events, cutoff, None if max_chunks is None else max_chunks - used)
    return Pruned(deliveries, events)


def _in_chunks(delete: Callable[[datetime], int], cutoff: datetime, max_chunks: int | None) -> tuple[int, int]:
    """Run `delete` chunk after chunk until one comes back short or max_chunks ran; return (rows, chunks)."""
    rows = chunks = 0
    while max_chunks is None or chunks < max_chunks:
        deleted = delete(cutoff)
        rows, chunks = rows + deleted, chunks + 1
        if deleted < PRUNE_CHUNK:
            break
    return rows, chunks


def _delete_deliveries(cutoff: datetime) -> int:
    """Delete up to PRUNE_CHUNK deliveries that ended before `cutoff`, with their attempts."""
    d = WebhookDelivery
    with write_transaction() as session:
        old = sa.select(d.delivery_id).where(d.status.in_(_ENDED), d.finished_at < cutoff).limit(PRUNE_CHUNK)
        ids = list(session.scalars(old))
        if ids:
            # Said outright rather than left to ON DELETE CASCADE: SQLite cascades only with its foreign keys on.
            session.execute(sa.delete(WebhookAttempt).where(WebhookAttempt.delivery_id.in_(ids)))
            session.execute(sa.delete(d).where(d.delivery_id.in_(ids)))
    return len(ids)


def _delete_events(cutoff: datetime) -> int:
    """Delete up to PRUNE_CHUNK events that occurred before `cutoff` and that no delivery refers to."""
    d, e = WebhookDelivery, Event
    owed = sa.select(d.delivery_id).where(d.event_id == e.event_id)
    with write_transaction() as session:
        ids = list(
            session.scalars(sa.select(e.event_id).where(e.occurred_at < cutoff, ~owed.exists()).limit(PRUNE_CHUNK))
        )
        if ids:
            session.execute(sa.delete(e).where(e.event_id.in_(ids)))
    return len(ids)


class Pruner:
    """Prune at most once per PRUNE_EVERY, for the timer."""

    def __init__(self) -> None:
        """Start with a prune due at the first call."""
        self.last: datetime | None = None

    def prune_if_due(self, now: datetime) -> Pruned | None:
        """Prune (bounded by MAX_CHUNKS) when PRUNE_EVERY has passed since the last; return what went, or None."""
        if self.last is not None and now - self.last < PRUNE_EVERY:
            return None
        self.last = now
        return prune(now, retention_days(), MAX_CHUNKS)
