"""dispatcher.tick(now), called directly (no timer, no thread): fire, lease expiry, housekeeping, next wake."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from webapp.auth import Caller
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import counts, dispatcher, schedules, tasks

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
OWNER = Caller("client-1", False)
WORKER = Caller("worker-1", False)
BODY = {"task_type": "report", "capability_required": "report-v1"}
MS = timedelta(milliseconds=1)


@pytest.fixture
def agents(make_agent) -> None:
    """Register the owner client-1 and a worker."""
    make_agent("client-1")
    make_agent("worker-1")


def create(app, now: datetime = T0, **fields) -> str:
    """Create a schedule for client-1 as of `now`; return its id."""
    with app.app_context():
        return schedules.create_schedule(OWNER, {**BODY, **fields}, now=now).schedule_id


def tick(app, now: datetime) -> datetime:
    """Run one tick at `now` in an app context; return the next wake instant."""
    with app.app_context():
        return dispatcher.tick(now)


def test_a_tick_with_no_schedules_wakes_again_within_a_second(app, agents):
    assert tick(app, T0) == T0 + dispatcher.MAX_SLEEP


def test_a_tick_fires_what_is_due_and_wakes_just_after_the_next_occurrence(app, agents):
    sid = create(app, cron_expression="*/5 * * * *")
    at = datetime(2025, 3, 1, 8, 5, tzinfo=UTC)
    assert tick(app, at - timedelta(seconds=0.5)) == at + MS  # not due yet: sleep until just after it
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 0
    assert tick(app, at) == at + dispatcher.MAX_SLEEP  # fired; the next occurrence is 5 minutes away
    with app.app_context():
        [execution] = db.session.scalars(sa.select(ScheduleExecution)).all()
        assert (execution.schedule_id, execution.scheduled_for, execution.executed_at) == (sid, at, at)
        assert db.session.get(ScheduledTask, sid).next_run_at == at + timedelta(minutes=5)


def test_a_tick_ignores_paused_schedules_when_it_chooses_its_wake(app, agents):
    create(app, cron_expression="*/5 * * * *")
    with app.app_context(), db.session.begin():
        db.session.execute(sa.update(ScheduledTask).values(status="PAUSED"))
    # Paused schedules are ignored: nothing ACTIVE, so the full second.
    assert tick(app, T0 + timedelta(hours=1)) == T0 + timedelta(hours=1) + dispatcher.MAX_SLEEP


def test_a_tick_returns_expired_leases_to_the_queue(app, agents):
    sid = create(app, cron_expression="0 9 * * *", retry_policy={"max_attempts": 2})  # a lease expiry is retried
    with app.app_context():
        task_id = dispatcher.run_now(OWNER, sid, now=T0).task_id
        tasks.claim(WORKER, {"capabilities": ["report-v1"], "lease_seconds": 30}, now=T0)
    tick(app, T0 + timedelta(seconds=29))
    with app.app_context():
        assert db.session.get(Task, task_id).status == "RUNNING"
    tick(app, T0 + timedelta(seconds=31))
    with app.app_context():
        task = db.session.get(Task, task_id)
        assert (task.status, task.agent_id, task.lease_expires_at) == ("PENDING", None, None)


def test_a_tick_folds_the_list_totals_once_many_deltas_wait(app, agents, monkeypatch):
    monkeypatch.setattr(counts, "FOLD_THRESHOLD", 2)
    for _ in range(3):
        create(app, cron_expression="0 9 * * *")
    tick(app, T0)
    with app.app_context():
        assert db.session.scalar(sa.text("SELECT COUNT(*) FROM schedule_count_deltas")) == 0
        assert counts.total(db.session(), "client-1", ["ACTIVE"]) == 3


def test_a_tick_asked_to_stop_fires_nothing_and_still_answers(app, agents):
    create(app, run_at="2025-03-01T08:01:00Z")
    due = T0 + timedelta(minutes=2)
    with app.app_context():
        wake = dispatcher.tick(due, should_stop=lambda: True)
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 0
    assert wake == due  # the schedule is still due: wake at once


@pytest.mark.parametrize(
    ("at", "expected"),
    [
        (None, T0 + timedelta(seconds=1)),  # nothing scheduled: poll once a second
        (T0 - timedelta(hours=1), T0),  # overdue: now
        (T0 + timedelta(milliseconds=300), T0 + timedelta(milliseconds=301)),  # just after it
        (T0 + timedelta(hours=1), T0 + timedelta(seconds=1)),  # far away: still within a second
    ],
)
def test_the_wake_instant_is_just_after_the_schedule_and_never_more_than_a_second_away(at, expected):
    assert dispatcher.wake_instant(at, T0) == expected
