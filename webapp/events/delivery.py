"""Webhook delivery: claim due attempts like tasks, POST them signed, record each attempt, retry.

1. A claim takes PENDING deliveries whose next_attempt_at has come, in one write transaction
   (BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP LOCKED on PostgreSQL), moves next_attempt_at a lease
   ahead and stamps a claim token: any number of processes deliver each attempt once, and an attempt
   lost with its process is retried when the lease runs out.
2. The POST runs outside any transaction: JSON {event_id, event, occurred_at, schedule_id,
   execution_id, task_id, data}, signed, 10 s at most, redirects not followed.
3. Its result is recorded under the claim token: a 2xx delivers it; anything else retries after
   RETRY_DELAYS[n] (10 s, 30 s, 2 min, 10 min, 30 min, 1 h, 3 h, 6 h), then the delivery is FAILED.
"""

from __future__ import annotations

import json
import logging
import secrets
import time
from dataclasses import dataclass
from datetime import datetime, timedelta

import requests
import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..clock import iso_z
from ..extensions import db, is_postgres, write_transaction
from ..models import Event, Webhook, WebhookAttempt, WebhookDelivery
from . import signing, ssrf

log = logging.getLogger(__name__)

RETRY_DELAYS = (10, 30, 120, 600, 1800, 3600, 3 * 3600, 6 * 3600)
MAX_ATTEMPTS = len(RETRY_DELAYS) + 1
TIMEOUT_SECONDS = 10.0
# A claimed attempt is someone else's to retry after this long (well past the 10 s timeout).
CLAIM_LEASE = timedelta(seconds=60)
ERROR_SNIPPET = 300

DELIVERIES = WebhookDelivery.__table__
EVENTS = Event.__table__
WEBHOOKS = Webhook.__table__
ATTEMPTS = WebhookAttempt.__table__


@dataclass(frozen=True)
class Job:
    """One claimed attempt: where it goes, what it says, and the token its result is recorded under."""

    delivery_id: str
    token: str
    number: int
    webhook_id: str
    url: str
    secret: str
    event_id: str
    event: str
    body: bytes


@dataclass(frozen=True)
class Result:
    """What one attempt got: a status code (or none), how long it took, and what went wrong."""

    status_code: int | None
    duration_ms: int
    error: str | None

    @property
    def delivered(self) -> bool:
        """Tell whether the receiver accepted the delivery (a 2xx in time)."""
        return self.error is None and self.status_code is not None and 200 <= self.status_code < 300


def any_due(now: datetime) -> bool:
    """Tell cheaply whether some delivery is due (a read, so an idle process never takes the write lock)."""
    query = sa.select(DELIVERIES.c.delivery_id).where(
        DELIVERIES.c.status == "PENDING", DELIVERIES.c.next_attempt_at <= now
    )
    found = db.session.scalar(query.limit(1))
    db.session.rollback()
    return found is not None


def claim(now: datetime, limit: int, per_webhook: int | None = None, busy: dict[str, int] | None = None) -> list[Job]:
    """Claim up to `limit` due attempts, at most `per_webhook` in flight per webhook counting `busy`."""
    busy = dict(busy or {})
    with write_transaction() as session:
        query = (
            sa.select(DELIVERIES.c.delivery_id, DELIVERIES.c.webhook_id)
            .where(DELIVERIES.c.status == "PENDING", DELIVERIES.c.next_attempt_at <= now)
            .order_by(DELIVERIES.c.next_attempt_at, DELIVERIES.c.delivery_id)
            .limit(limit * 4 if per_webhook else limit)
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        chosen = []
        for delivery_id, webhook_id in session.execute(query):
            if per_webhook is not None and busy.get(webhook_id, 0) >= per_webhook:
                continue  # a slow receiver keeps its own attempts waiting, not everyone's
            busy[webhook_id] = busy.get(webhook_id, 0) + 1
            chosen.append(delivery_id)
            if len(chosen) == limit:
                break
        if not chosen:
            return []
        token = secrets.token_hex(8)
        session.execute(
            sa.update(DELIVERIES)
            .where(
                DELIVERIES.c.delivery_id.in_(chosen),
                DELIVERIES.c.status == "PENDING",
                DELIVERIES.c.next_attempt_at <= now,
            )
            .values(next_attempt_at=now + CLAIM_LEASE, claim_token=token)
        )
        rows = session.execute(
            sa.select(
                DELIVERIES.c.delivery_id,
                DELIVERIES.c.attempts,
                DELIVERIES.c.claim_token,
                WEBHOOKS.c.webhook_id,
                WEBHOOKS.c.url,
                WEBHOOKS.c.secret,
                EVENTS,
            )
            .join(WEBHOOKS, WEBHOOKS.c.webhook_id == DELIVERIES.c.webhook_id)
            .join(EVENTS, EVENTS.c.event_id == DELIVERIES.c.event_id)
            .where(DELIVERIES.c.delivery_id.in_(chosen), DELIVERIES.c.claim_token == token)
        ).all()
    return [_job(row, token) for row in rows]


def _job(row, token: str) -> Job:
    """Build a claimed attempt from its joined row."""
    data = json.loads(row.data) if isinstance(row.data, str) else row.data
    payload = {
        "event_id": row.event_id,
        "event": row.event,
        "occurred_at": iso_z(row.occurred_at),
        "schedule_id": row.schedule_id,
        "execution_id": row.execution_id,
        "task_id": row.task_id,
        "data": data,
    }
    return Job(
        delivery_id=row.delivery_id,
        token=token,
        number=row.attempts + 1,
        webhook_id=row.webhook_id,
        url=row.url,
        secret=row.secret,
        event_id=row.event_id,
        event=row.event,
        body=json.dumps(payload, separators=(",", ":")).encode(),
    )


def attempt(job: Job, allow_private: bool, http: requests.Session | None = None) -> Result:
    """POST one attempt (the SSRF guard first); never raise."""
    started = time.monotonic()
    status = None
    try:
        ssrf.check_url(job.url, allow_private)
        timestamp = int(clock.utcnow().timestamp())
        headers = {
            "Content-Type": "application/json",
            "User-Agent": "scheduler-webhooks/1",
            "X-Scheduler-Event": job.event,
            "X-Scheduler-Delivery": job.event_id,
            "X-Scheduler-Signature": signing.signature(job.secret, job.body, timestamp),
        }
        http = http or ssrf.session(allow_private)
        with http.post(
            job.url, data=job.body, headers=headers, timeout=TIMEOUT_SECONDS, allow_redirects=False, stream=True
        ) as response:
            status = response.status_code
            snippet = response.raw.read(ERROR_SNIPPET, decode_content=True) if not 200 <= status < 300 else b""
        error = _answer_error(status, response.headers.get("Location"), snippet)
    except ssrf.UnsafeURL as err:
        error = str(err)
    except requests.Timeout:
        error = f"No answer within {TIMEOUT_SECONDS:g} s"
    except requests.RequestException as err:
        error = f"{type(err).__name__}: {_root_cause(err)}"
    duration = time.monotonic() - started
    if error is None and duration > TIMEOUT_SECONDS:
        error = f"Answered after {duration:.1f} s, over the {TIMEOUT_SECONDS:g} s limit"
    return Result(status, int(duration * 1000), error)


def _answer_error(status: int, location: str | None, snippet: bytes) -> str | None:
    """Say what is wrong with an answer, or None for a 2xx."""
    if 200 <= status < 300:
        return None
    if 300 <= status < 400:
        return f"HTTP {status}: redirect to {location or '?'} not followed"
    text = snippet.decode("utf-8", "replace").strip()
    return f"HTTP {status}" + (f": {text}" if text else "")


def _root_cause(err: BaseException) -> str:
    """Return the innermost reason of a connection error (the SSRF refusal, a refused connection)."""
    for _ in range(10):  # urllib3 nests its reasons a few levels deep; never loop forever
        if isinstance(err, ssrf.UnsafeURL):
            break
        inner = (
            err.__cause__
            or getattr(err, "reason", None)
            or next((a for a in err.args if isinstance(a, BaseException)), None)
        )
        if not isinstance(inner, BaseException):
            break
        err = inner
    return str(err)[:ERROR_SNIPPET]


def record(job: Job, result: Result, now: datetime) -> str | None:
    """Log the attempt and move its delivery on; return the delivery's new status (None if it is gone)."""
    with write_transaction() as session:
        exists = session.scalar(sa.select(DELIVERIES.c.status).where(DELIVERIES.c.delivery_id == job.delivery_id))
        if exists is None:
            return None  # its webhook was deleted meanwhile
        session.execute(
            sa.insert(ATTEMPTS).values(
                delivery_id=job.delivery_id,
                number=job.number,
                attempted_at=now,
                status_code=result.status_code,
                duration_ms=result.duration_ms,
                error=result.error,
            )
        )
        values: dict = {"attempts": job.number, "last_status_code": result.status_code, "claim_token": None}
        if result.delivered:
            values.update(status="DELIVERED", last_error=None, next_attempt_at=None, finished_at=now)
        elif job.number >= MAX_ATTEMPTS:
            values.update(status="FAILED", last_error=result.error, next_attempt_at=None, finished_at=now)
        else:
            retry_at = now + timedelta(seconds=RETRY_DELAYS[job.number - 1])
            values.update(last_error=result.error, next_attempt_at=retry_at)
        changed = session.execute(
            sa.update(DELIVERIES)
            .where(DELIVERIES.c.delivery_id == job.delivery_id, DELIVERIES.c.claim_token == job.token)
            .values(**values)
        ).rowcount
        if not changed:
            log.warning("delivery %s: claim lapsed before its result; another process owns it now", job.delivery_id)
            return exists
    _count(result, values.get("status"))
    return values.get("status", "PENDING")


def _count(result: Result, status: str | None) -> None:
    """Count an attempt, and a delivery given up, in the app's metrics."""
    metrics = current_app.extensions.get("scheduler_metrics")
    if metrics is not None:
        metrics.record_delivery(result.delivered, status == "FAILED")


def allow_private() -> bool:
    """Return the app's WEBHOOK_ALLOW_PRIVATE setting."""
    return bool(current_app.config.get("WEBHOOK_ALLOW_PRIVATE"))


def deliver_due(now: datetime | None = None, limit: int = 100) -> int:
    """Claim and deliver due attempts one after another, in this thread; return how many were tried.

    The plain form of the delivery loop, for tests with a fixed clock and for the benchmark; the
    timer uses the pooled Deliverer instead.
    """
    now = now or clock.utcnow()
    jobs = claim(now, limit)
    http = ssrf.session(allow_private())
    for job in jobs:
        record(job, attempt(job, allow_private(), http), now)
    return len(jobs)
