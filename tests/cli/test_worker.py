"""The demo worker: it heartbeats, honours cancel_requested, and fails a share of its tasks on demand."""

from __future__ import annotations

import pytest
import sqlalchemy as sa

from webapp.auth import Caller
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import dispatcher, schedules

OWNER = Caller("client-1", False)
WORK = ["agents", "work", "--capability", "report-v1", "--once", "--agent-id", "worker-1"]


@pytest.fixture(autouse=True)
def people(make_agent):
    """Register the owner and the worker."""
    make_agent("client-1")
    make_agent("worker-1", capabilities=["report-v1"])


def fired(app, **fields) -> tuple[str, str]:
    """Create a schedule with `fields` and run it now; return (schedule id, task id)."""
    body = {"task_type": "report", "capability_required": "report-v1", "cron_expression": "0 9 * * *", **fields}
    with app.app_context():
        sid = schedules.create_schedule(OWNER, body).schedule_id
        return sid, dispatcher.run_now(OWNER, sid).task_id


def read(app, model, key: str):
    """Read a row afresh."""
    with app.app_context():
        return db.session.get(model, key)


def test_fail_rate_one_fails_every_attempt_and_the_service_retries_it(app, runner):
    sid, tid = fired(app, retry_policy={"max_attempts": 2, "initial_interval_seconds": 1}, pause_after_failures=1)
    result = runner.invoke(args=[*WORK, "--fail-rate", "1"])
    assert result.exit_code == 0, result.output
    assert f"RETRYING {tid} (report, attempt 1 of 2)" in result.output
    task = read(app, Task, tid)
    assert (task.status, task.error_message) == ("PENDING", "Simulated failure (--fail-rate 1)")
    assert read(app, ScheduledTask, sid).status == "ACTIVE"  # a retry is not a failed run yet


def test_fail_rate_zero_completes_and_the_worker_heartbeats_while_it_works(app, runner):
    _, tid = fired(app, timeout_seconds=3)
    result = runner.invoke(args=[*WORK, "--work-seconds", "4"])  # longer than the lease: beats every 1 s keep it
    assert result.exit_code == 0, result.output
    task = read(app, Task, tid)
    assert task.status == "COMPLETED", result.output
    assert task.lease_expires_at is None and task.finished_at is not None


def test_the_worker_stops_a_task_whose_cancellation_was_requested(app, runner):
    sid, tid = fired(app)
    with app.app_context():
        db.session.execute(sa.update(Task).values(cancel_requested=True))  # as a REPLACE firing does
        db.session.commit()
    result = runner.invoke(args=[*WORK, "--work-seconds", "30"])
    assert result.exit_code == 0, result.output
    assert f"CANCELLED {tid}" in result.output
    with app.app_context():
        e = db.session.scalar(sa.select(ScheduleExecution).where(ScheduleExecution.task_id == tid))
        assert (e.status, e.reason, e.error_message) == ("CANCELLED", "REPLACED", "Stopped: cancellation was requested")
    assert read(app, ScheduledTask, sid).failed_runs == 0


def test_a_worker_that_fails_every_run_pauses_its_schedule(app, runner):
    sid, _ = fired(app, pause_after_failures=1)
    result = runner.invoke(args=[*WORK, "--fail-rate", "1"])
    assert "FAILED" in result.output
    s = read(app, ScheduledTask, sid)
    assert (s.status, s.consecutive_failures, s.paused_reason) == ("PAUSED", 1, "Paused after 1 consecutive failure")


def test_tasks_waiting_their_turn_keep_their_leases(app, runner):
    # Three tasks of 2 s leases, 1.5 s of work each: the third waits 3 s, longer than its lease.
    fired_ids = [fired(app, timeout_seconds=2)[1] for _ in range(3)]
    result = runner.invoke(args=[*WORK, "--work-seconds", "1.5", "--limit", "3"])
    assert result.exit_code == 0, result.output
    assert "LOST" not in result.output
    assert [read(app, Task, tid).status for tid in fired_ids] == ["COMPLETED"] * 3, result.output
