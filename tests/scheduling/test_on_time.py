"""On time under a backlog: the on-time lane first, a bounded backlog share per tick, honest stamps.

The fairness case runs the real timer thread against 300 schedules a year behind and 20 one-time
schedules due while they are caught up; each on-time firing must be written within a second of
its occurrence, as the service's own clock stamps it (executed_at, written just before commit).
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from tests.dispatch_helpers import wait_for
from tests.test_ops import metric
from webapp import clock
from webapp.auth import Caller
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import dispatcher, schedules, timer

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CLIENT = Caller("client-1", False)
BODY = {"task_type": "report", "capability_required": "report-v1"}


@pytest.fixture
def client_1(make_agent):
    """Register client-1."""
    return make_agent("client-1")


def create(app, now: datetime, **fields) -> str:
    """Create a schedule for client-1 as of `now`; return its id."""
    with app.app_context():
        return schedules.create_schedule(CLIENT, {**BODY, **fields}, now=now).schedule_id


def fired(app, *schedule_ids: str) -> dict[str, list[ScheduleExecution]]:
    """Return the executions with a task of each schedule."""
    with app.app_context():
        rows = db.session.scalars(
            sa.select(ScheduleExecution).where(
                ScheduleExecution.schedule_id.in_(schedule_ids), ScheduleExecution.task_id.is_not(None)
            )
        ).all()
    found: dict[str, list[ScheduleExecution]] = {sid: [] for sid in schedule_ids}
    for e in rows:
        found[e.schedule_id].append(e)
    return found


def test_a_tick_claims_the_on_time_lane_before_the_backlog(app, client_1):
    app.config["DISPATCH_BATCH_SIZE"] = 1
    backlog = [create(app, T0 - timedelta(days=365), cron_expression="* * * * *") for _ in range(3)]
    on_time = create(app, T0 - timedelta(minutes=1), run_at="2025-03-01T08:00:00Z")
    slices = []
    with app.app_context():
        dispatcher.tick(T0 + timedelta(seconds=1), should_stop=lambda: len(slices) > 0 or slices.append(1))
    found = fired(app, on_time, *backlog)
    assert len(found[on_time]) == 1
    assert all(not found[sid] for sid in backlog)


def test_the_backlog_gets_a_bounded_share_of_each_tick(app, client_1, monkeypatch):
    monkeypatch.setattr(dispatcher, "BACKLOG_BUDGET_SECONDS", 0)  # one slice per tick, then hand back
    monkeypatch.setattr(dispatcher, "BACKLOG_SLICE_SECONDS", 60)  # a slice is the batch, however slow the machine
    app.config["DISPATCH_BATCH_SIZE"] = 2
    backlog = [create(app, T0 - timedelta(days=365), cron_expression="* * * * *") for _ in range(5)]
    now = T0 + timedelta(seconds=1)
    for expected, wake in ((2, now), (4, now), (5, now + dispatcher.MAX_SLEEP)):
        with app.app_context():
            assert dispatcher.tick(now) == wake  # at once while a backlog remains
        assert sum(len(runs) for runs in fired(app, *backlog).values()) == expected
    with app.app_context():  # fire_due itself still drains everything when asked
        assert dispatcher.fire_due(now) == 0


def test_a_backlog_slice_holds_the_claim_only_briefly(app, client_1, monkeypatch):
    monkeypatch.setattr(dispatcher, "BACKLOG_SLICE_SECONDS", 0)  # plan one schedule, then commit
    slices = []
    real = dispatcher._fire_slice
    monkeypatch.setattr(dispatcher, "_fire_slice", lambda *a: slices.append(a[3]) or real(*a))
    for _ in range(3):
        create(app, T0 - timedelta(days=365), cron_expression="* * * * *")
    with app.app_context():
        assert dispatcher.fire_due(T0) == 3
    assert slices == [dispatcher.ON_TIME, dispatcher.BACKLOG, dispatcher.BACKLOG, dispatcher.BACKLOG]


def test_a_firing_is_stamped_when_it_is_written_not_when_its_batch_began(app, client, client_1):
    app.config["DISPATCH_HOLD_SECONDS"] = 1.0  # the batch stalls after its claim, before writing
    run_at = clock.utcnow() + timedelta(seconds=0.2)
    sid = create(app, clock.utcnow(), run_at=run_at.isoformat())
    wait_for(lambda: clock.utcnow() > run_at, 5)
    with app.app_context():
        assert dispatcher.fire_due() == 1
    [execution] = fired(app, sid)[sid]
    late = (clock.as_utc(execution.executed_at) - run_at).total_seconds()
    assert late >= 1.0
    with app.app_context():
        task = db.session.get(Task, execution.task_id)
        assert clock.as_utc(task.created_at) == clock.as_utc(execution.executed_at)
    text = client.get("/metrics").get_data(as_text=True)
    assert metric(text, "scheduler_fire_lateness_seconds_bucket", 'le="1.0"') == 0
    assert metric(text, "scheduler_fire_lateness_seconds_count") == 1


def test_on_time_schedules_fire_within_a_second_during_a_year_long_catch_up(app, client_1):
    start = clock.utcnow()
    # 300 every-minute schedules a year behind: each needs its 100 SKIPPED rows and a count of the rest.
    backlog = [create(app, start - timedelta(days=365), cron_expression="* * * * *") for _ in range(300)]
    first_due = clock.utcnow() + timedelta(seconds=1.5)
    on_time = [create(app, start, run_at=(first_due + timedelta(seconds=0.2 * i)).isoformat()) for i in range(20)]
    running = timer.start(app)
    try:
        wait_for(lambda: all(fired(app, *on_time).values()), 30)
    finally:
        running.stop()
    lateness = []
    for [execution] in fired(app, *on_time).values():
        lateness.append((clock.as_utc(execution.executed_at) - clock.as_utc(execution.scheduled_for)).total_seconds())
    caught_up = sum(1 for runs in fired(app, *backlog).values() if runs)
    print(
        f"on-time lateness: median {sorted(lateness)[10]:.3f} s, worst {max(lateness):.3f} s; "
        f"{caught_up} of 300 backlog schedules caught up meanwhile"
    )
    assert max(lateness) < 1.0
    assert min(lateness) >= 0
    assert caught_up > 0  # the backlog was being worked on, not merely postponed
    with app.app_context():
        statuses = set(
            db.session.scalars(sa.select(ScheduledTask.status).where(ScheduledTask.schedule_id.in_(on_time)))
        )
    assert statuses == {"COMPLETED"}
