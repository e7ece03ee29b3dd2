"""The outbox: exactly the expected events, in the transaction of their change, for the right webhooks."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.events_helpers import deliveries, events, finish, new_schedule
from webapp.auth import Caller
from webapp.events import outbox
from webapp.extensions import db, write_transaction
from webapp.models import EventType, ScheduledTask, Task, TaskStatus
from webapp.scheduling import attempts, dispatcher, schedules

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
ALL = [e.value for e in EventType]


def test_a_completed_and_a_failed_task_emit_exactly_their_events(app, client, auth, hook):
    created = hook(auth, events=ALL)
    sid = new_schedule(client, auth)
    done = finish(client, auth, sid, "complete")
    failed = finish(client, auth, sid, "fail")
    found = [(e.event, e.task_id, e.schedule_id) for e in events(app)]
    assert found == [("execution.completed", done, sid), ("execution.failed", failed, sid)]
    completed, failure = events(app)
    assert completed.data["result_data"] == {"rows": 3} and completed.data["status"] == "COMPLETED"
    assert failure.data["error_message"] == "disk full" and failure.client_id == "client-1"
    assert [d.event_id for d in deliveries(app, created["webhook_id"])] == [completed.event_id, failure.event_id]


def test_a_webhook_gets_only_the_events_it_subscribed_to(app, client, auth, hook):
    only_failures = hook(auth, events=["execution.failed"])
    sid = new_schedule(client, auth)
    finish(client, auth, sid, "complete")
    finish(client, auth, sid, "fail")
    [d] = deliveries(app, only_failures["webhook_id"])
    assert [e.event for e in events(app) if e.event_id == d.event_id] == ["execution.failed"]
    assert [e.event for e in events(app)] == ["execution.failed"]  # nobody wanted the other: not stored


def test_nothing_for_another_clients_schedules_and_everything_for_an_admin(app, client, make_agent, hook):
    one, two = make_agent("client-1"), make_agent("client-2")
    admin = make_agent("root", admin=True)
    hook_two = hook(two, events=ALL)
    hook_admin = hook(admin, events=ALL)
    finish(client, one, new_schedule(client, one), "fail")
    assert deliveries(app, hook_two["webhook_id"]) == []
    [seen] = deliveries(app, hook_admin["webhook_id"])
    assert [e.event for e in events(app) if e.event_id == seen.event_id] == ["execution.failed"]
    finish(client, two, new_schedule(client, two), "fail")
    assert len(deliveries(app, hook_two["webhook_id"])) == 1
    assert len(deliveries(app, hook_admin["webhook_id"])) == 2


def test_a_rolled_back_change_emits_nothing(app, client, auth, hook):
    hook(auth, events=ALL)
    sid = new_schedule(client, auth)
    task_id = client.post(f"/aitp/tasks/schedule/{sid}/run", headers=auth).get_json()["task_id"]
    client.post("/aitp/tasks/claim", json={"capabilities": ["report-v1"]}, headers=auth)
    with app.app_context():
        with pytest.raises(RuntimeError), write_transaction() as session:
            attempts.end_run(session, task_id, TaskStatus.FAILED, None, "boom", T0)
            assert session.scalar(sa.select(sa.func.count()).select_from(outbox.EVENTS)) == 1  # inside: written
            raise RuntimeError("the change fails after its event was written")
        assert db.session.get(Task, task_id).status == "RUNNING"
    assert events(app) == [] and deliveries(app) == []
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'scheduler_events_total{event="execution.failed"}' not in metrics


def test_a_rolled_back_dispatcher_batch_emits_nothing(app, make_agent, hook, monkeypatch):
    headers = make_agent("client-1")
    hook(headers, events=ALL)
    caller = Caller("client-1", False)
    with app.app_context():
        sid = schedules.create_schedule(
            caller, {"task_type": "r", "capability_required": "report-v1", "run_at": "2025-03-01T08:05:00Z"}, T0
        ).schedule_id
    real_write = dispatcher._write

    def write_then_fail(*args, **kwargs):
        real_write(*args, **kwargs)
        raise RuntimeError("the database went away")

    monkeypatch.setattr(dispatcher, "_write", write_then_fail)
    with app.app_context(), pytest.raises(RuntimeError):
        dispatcher.fire_due(T0 + timedelta(minutes=10))
    assert events(app) == []
    monkeypatch.setattr(dispatcher, "_write", real_write)
    with app.app_context():
        assert dispatcher.fire_due(T0 + timedelta(minutes=10)) == 1
    assert [(e.event, e.schedule_id) for e in events(app)] == [("schedule.completed", sid)]


def test_the_dispatcher_reports_skipped_occurrences_completion_and_failure(app, make_agent, hook):
    headers = make_agent("client-1")
    hook(headers, events=ALL)
    caller = Caller("client-1", False)
    body = {"task_type": "r", "capability_required": "report-v1"}
    with app.app_context():
        missed = schedules.create_schedule(caller, {**body, "cron_expression": "* * * * *"}, T0).schedule_id
        once = schedules.create_schedule(caller, {**body, "run_at": "2025-03-01T08:01:00Z"}, T0).schedule_id
        broken = schedules.create_schedule(caller, {**body, "cron_expression": "* * * * *"}, T0).schedule_id
        with write_transaction() as session:
            session.execute(
                sa.update(ScheduledTask).where(ScheduledTask.schedule_id == broken).values(timezone="Mars/Olympus")
            )
        # 08:01, 08:02 and 08:03 are due at 08:03:10: the newest fires, two are skipped.
        assert dispatcher.fire_due(T0 + timedelta(minutes=3, seconds=10)) == 2
    found = sorted((e.event, e.schedule_id, e.data.get("scheduled_for")) for e in events(app))
    assert found == [
        ("execution.skipped", missed, "2025-03-01T08:01:00Z"),
        ("execution.skipped", missed, "2025-03-01T08:02:00Z"),
        ("schedule.completed", once, None),
        ("schedule.failed", broken, None),
    ]
    by_type = {e.event: e for e in events(app)}
    assert by_type["schedule.failed"].data["reason"].startswith("Next run cannot be computed")
    assert by_type["schedule.completed"].data["last_run_at"] == "2025-03-01T08:01:00Z"
    assert all(e.execution_id for e in events(app) if e.event == "execution.skipped")
    assert len(deliveries(app)) == 4


def test_events_are_counted_by_type_after_commit(app, client, auth, hook):
    hook(auth, events=["execution.failed"])
    sid = new_schedule(client, auth)
    finish(client, auth, sid, "fail")
    finish(client, auth, sid, "complete")
    metrics = client.get("/metrics").get_data(as_text=True)
    assert 'scheduler_events_total{event="execution.failed"} 1.0' in metrics
    assert 'scheduler_events_total{event="execution.completed"} 1.0' in metrics


def test_auto_pause_emits_schedule_auto_paused_with_a_system_audit_entry(app, client, auth, hook):
    hook(auth, events=ALL)
    sid = new_schedule(client, auth, pause_after_failures=2)
    finish(client, auth, sid, "fail")
    assert client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()["status"] == "ACTIVE"
    finish(client, auth, sid, "fail")
    body = client.get(f"/aitp/tasks/schedule/{sid}", headers=auth).get_json()
    assert body["status"] == "PAUSED" and body["paused_reason"] == "Paused after 2 consecutive failures"
    found = sorted(e.event for e in events(app))  # the second failure and the pause share one instant
    assert found == ["execution.failed", "execution.failed", "schedule.auto_paused"]
    [paused] = [e for e in events(app) if e.event == "schedule.auto_paused"]
    assert paused.schedule_id == sid and paused.data["paused_reason"] == "Paused after 2 consecutive failures"
    entries = client.get(f"/aitp/audit?schedule_id={sid}", headers=auth).get_json()["events"]
    assert entries[0]["action"] == "auto_pause" and entries[0]["actor"] == {"type": "SYSTEM", "id": "scheduler"}
    assert entries[0]["changes"]["status"] == ["ACTIVE", "PAUSED"]


def test_a_retried_attempt_is_not_final_and_sends_nothing(app, client, auth, hook):
    hook(auth, events=ALL)
    sid = new_schedule(client, auth, retry_policy={"max_attempts": 2, "initial_interval_seconds": 1})
    finish(client, auth, sid, "fail")  # attempt 1 of 2: the task waits for its retry
    assert events(app) == []


def test_overlap_skips_are_reported(app, make_agent, hook):
    headers = make_agent("client-1")
    hook(headers, events=ALL)
    caller = Caller("client-1", False)
    body = {"task_type": "r", "capability_required": "report-v1", "cron_expression": "* * * * *"}
    with app.app_context():
        sid = schedules.create_schedule(caller, {**body, "overlap_policy": "SKIP"}, T0).schedule_id
        assert dispatcher.fire_due(T0 + timedelta(minutes=1, seconds=1)) == 1
        assert dispatcher.fire_due(T0 + timedelta(minutes=2, seconds=1)) == 0  # the first run is still going
    [skipped] = events(app)
    assert (skipped.event, skipped.schedule_id) == ("execution.skipped", sid)
    assert skipped.data["reason"] == "OVERLAP" and skipped.data["scheduled_for"] == "2025-03-01T08:02:00Z"
