"""Delivering webhooks to a real receiver: signatures, the body, retry timing with a fixed clock, FAILED."""

from __future__ import annotations

from datetime import timedelta

import sqlalchemy as sa

from tests.events_helpers import attempts, deliveries, finish, new_schedule
from webapp.clock import utcnow
from webapp.events import delivery
from webapp.extensions import db
from webapp.models import WebhookDelivery


def deliver(app, now) -> int:
    """Run the plain delivery loop at `now`."""
    with app.app_context():
        return delivery.deliver_due(now)


def test_a_failed_task_reaches_the_receiver_signed_after_two_retries(app, client, auth, hook, receiver):
    created = hook(auth, events=["execution.failed"])
    sid = new_schedule(client, auth)
    task_id = finish(client, auth, sid, "fail")
    [pending] = deliveries(app)
    t0 = pending.next_attempt_at

    assert deliver(app, t0) == 1  # 500
    [d] = deliveries(app)
    assert (d.status, d.attempts, d.last_status_code) == ("PENDING", 1, 500)
    assert d.next_attempt_at == t0 + timedelta(seconds=10)
    assert deliver(app, t0 + timedelta(seconds=9)) == 0  # not yet due
    assert deliver(app, t0 + timedelta(seconds=10)) == 1  # 500 again
    [d] = deliveries(app)
    assert d.next_attempt_at == t0 + timedelta(seconds=40)  # then 30 s later
    assert deliver(app, t0 + timedelta(seconds=39)) == 0
    assert deliver(app, t0 + timedelta(seconds=40)) == 1  # 200
    [d] = deliveries(app)
    assert (d.status, d.attempts, d.last_status_code, d.next_attempt_at) == ("DELIVERED", 3, 200, None)
    assert deliver(app, t0 + timedelta(days=1)) == 0  # delivered means done

    assert len(receiver.calls) == 3
    assert all(call.signature_ok for call in receiver.calls)
    first = receiver.calls[0]
    body = first.body
    assert set(body) == {"event_id", "event", "occurred_at", "schedule_id", "execution_id", "task_id", "data"}
    assert (body["event"], body["schedule_id"], body["task_id"]) == ("execution.failed", sid, task_id)
    assert body["execution_id"].startswith("exec-")
    assert body["data"]["error_message"] == "disk full"
    assert body["occurred_at"].endswith("Z")
    assert first.headers["X-Scheduler-Event"] == "execution.failed"
    assert first.headers["X-Scheduler-Delivery"] == body["event_id"]
    assert first.headers["X-Scheduler-Signature"].startswith("t=")
    # Every retry carries the same event_id (receivers deduplicate by it) and the same body.
    assert {c.headers["X-Scheduler-Delivery"] for c in receiver.calls} == {body["event_id"]}
    assert {c.raw for c in receiver.calls} == {first.raw}
    log = attempts(app)
    assert [(a.number, a.status_code) for a in log] == [(1, 500), (2, 500), (3, 200)]
    assert [a.attempted_at - t0 for a in log] == [timedelta(0), timedelta(seconds=10), timedelta(seconds=40)]
    assert log[0].error == "HTTP 500: nope" and log[2].error is None
    assert all(a.duration_ms >= 0 for a in log)
    assert created["webhook_id"] == d.webhook_id


def test_a_receiver_that_never_accepts_gets_the_whole_retry_schedule_then_failed(app, client, auth, hook, receiver):
    receiver.script = [503] * 20
    hook(auth, events=["execution.completed"])
    finish(client, auth, new_schedule(client, auth), "complete")
    at = deliveries(app)[0].next_attempt_at
    start = at
    for delay in (*delivery.RETRY_DELAYS, None):
        assert deliver(app, at) == 1
        if delay is not None:
            assert deliver(app, at + timedelta(seconds=delay - 1)) == 0
            at += timedelta(seconds=delay)
    [d] = deliveries(app)
    assert (d.status, d.attempts, d.last_error) == ("FAILED", 9, "HTTP 503: nope")
    assert d.finished_at == start + timedelta(seconds=sum(delivery.RETRY_DELAYS))
    assert deliver(app, at + timedelta(days=2)) == 0
    assert len(receiver.calls) == 9 == len(attempts(app))
    offsets = [int((a.attempted_at - start).total_seconds()) for a in attempts(app)]
    assert offsets == [0, 10, 40, 160, 760, 2560, 6160, 16960, 38560]


def test_redirects_are_not_followed(app, client, auth, hook, receiver):
    receiver.script = [302]
    receiver.location = "http://127.0.0.1:9/elsewhere"
    hook(auth, events=["execution.completed"])
    finish(client, auth, new_schedule(client, auth), "complete")
    deliver(app, deliveries(app)[0].next_attempt_at)
    [d] = deliveries(app)
    assert d.status == "PENDING" and d.last_status_code == 302
    assert "redirect to http://127.0.0.1:9/elsewhere not followed" in d.last_error
    assert len(receiver.calls) == 1


def test_a_refused_connection_is_logged_and_retried(app, client, auth, hook):
    hook(auth, events=["execution.completed"], url="http://127.0.0.1:9/closed")  # discard port: nothing listens
    finish(client, auth, new_schedule(client, auth), "complete")
    deliver(app, deliveries(app)[0].next_attempt_at)
    [d] = deliveries(app)
    assert (d.status, d.attempts, d.last_status_code) == ("PENDING", 1, None)
    assert "ConnectionError" in d.last_error and "refused" in d.last_error.lower()


def test_two_claims_never_take_the_same_attempt_and_a_lost_one_comes_back_after_its_lease(app, client, auth, hook):
    hook(auth, events=["execution.completed"])
    sid = new_schedule(client, auth)
    for _ in range(3):
        finish(client, auth, sid, "complete")
    now = utcnow() + timedelta(seconds=1)
    with app.app_context():
        first = delivery.claim(now, 2)
        second = delivery.claim(now, 5)
        third = delivery.claim(now, 5)
        assert len(first) == 2 and len(second) == 1 and third == []
        assert not {j.delivery_id for j in first} & {j.delivery_id for j in second}
        # The claimers died without recording anything: the attempts are due again after the lease.
        assert delivery.claim(now + delivery.CLAIM_LEASE - timedelta(seconds=1), 5) == []
        again = delivery.claim(now + delivery.CLAIM_LEASE, 5)
        assert len(again) == 3
        # A late result under a lapsed claim is logged but does not move the delivery on.
        late = delivery.record(first[0], delivery.Result(200, 5, None), now)
        assert late == "PENDING"
        row = db.session.get(WebhookDelivery, first[0].delivery_id)
        assert row.status == "PENDING"


def test_a_deleted_webhook_drops_its_attempt_in_flight(app, client, auth, hook):
    created = hook(auth, events=["execution.completed"])
    finish(client, auth, new_schedule(client, auth), "complete")
    with app.app_context():
        [job] = delivery.claim(utcnow() + timedelta(seconds=1), 5)
    assert client.delete(f"/aitp/webhooks/{created['webhook_id']}", headers=auth).status_code == 200
    with app.app_context():
        assert delivery.record(job, delivery.Result(200, 5, None), utcnow()) is None
        assert db.session.scalar(sa.select(sa.func.count()).select_from(WebhookDelivery)) == 0
    assert attempts(app) == []
