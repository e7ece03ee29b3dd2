"""fire_due with a fixed clock: firing, advancing, DST, missed occurrences, failures, run-now."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from webapp.auth import Caller
from webapp.errors import ServiceError
from webapp.extensions import db, write_transaction
from webapp.models import ScheduledTask, ScheduleExecution, Task, new_id
from webapp.scheduling import catchup, dispatcher, schedules

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)
CLIENT = Caller("client-1", False)


def utc(text: str) -> datetime:
    """Parse an ISO instant with Z."""
    return datetime.fromisoformat(text.replace("Z", "+00:00"))


def add(app, now: datetime = T0, **fields) -> str:
    """Create a schedule for client-1 as of `now`; return its id."""
    body = {"task_type": "report", "capability_required": "report-v1", "input_data": {"k": 1}, "priority": 7}
    body.update(fields)
    with app.app_context():
        return schedules.create_schedule(CLIENT, body, now=now).schedule_id


def fire(app, now: datetime, **kwargs) -> int:
    """Run fire_due at `now` in an app context."""
    with app.app_context():
        return dispatcher.fire_due(now, **kwargs)


def schedule(app, schedule_id: str) -> ScheduledTask:
    """Read a schedule afresh."""
    with app.app_context():
        return db.session.get(ScheduledTask, schedule_id)


def executions(app, schedule_id: str) -> list[ScheduleExecution]:
    """Return a schedule's executions, oldest occurrence first."""
    with app.app_context():
        query = sa.select(ScheduleExecution).where(ScheduleExecution.schedule_id == schedule_id)
        return list(db.session.scalars(query.order_by(ScheduleExecution.scheduled_for)))


def fired_at(app, schedule_id: str) -> list[datetime]:
    """Return the occurrences that fired (with a task), in order."""
    return [e.scheduled_for for e in executions(app, schedule_id) if e.task_id]


@pytest.fixture
def client_1(make_agent):
    """Register client-1."""
    return make_agent("client-1")


def test_it_fires_a_due_cron_schedule_and_advances_it_from_the_occurrence(app, client_1):
    sid = add(app, cron_expression="0 9 * * *")
    assert fire(app, utc("2025-03-01T08:59:59Z")) == 0
    assert fire(app, utc("2025-03-01T09:00:40Z")) == 1
    s = schedule(app, sid)
    assert (s.next_run_at, s.last_run_at, s.total_runs, s.status) == (
        utc("2025-03-02T09:00:00Z"),
        utc("2025-03-01T09:00:00Z"),
        1,
        "ACTIVE",
    )
    [e] = executions(app, sid)
    assert (e.scheduled_for, e.status, e.executed_at) == (
        utc("2025-03-01T09:00:00Z"),
        "PENDING",
        utc("2025-03-01T09:00:40Z"),
    )
    with app.app_context():
        task = db.session.get(Task, e.task_id)
    assert (task.status, task.client_id, task.task_type, task.capability_required) == (
        "PENDING",
        "client-1",
        "report",
        "report-v1",
    )
    assert (task.input_data, task.priority, task.attempts, task.agent_id) == ({"k": 1}, 7, 0, None)
    assert fire(app, utc("2025-03-01T09:00:50Z")) == 0


def test_a_late_firing_keeps_the_rhythm_of_the_occurrences(app, client_1):
    sid = add(app, now=utc("2025-03-01T07:50:00Z"), cron_expression="*/15 * * * *")
    assert fire(app, utc("2025-03-01T08:14:00Z")) == 1  # the 08:00 occurrence, 14 minutes late
    s = schedule(app, sid)
    assert (s.last_run_at, s.next_run_at) == (utc("2025-03-01T08:00:00Z"), utc("2025-03-01T08:15:00Z"))


def test_a_one_time_schedule_fires_once_and_completes(app, client_1):
    sid = add(app, run_at="2025-03-01T08:30:00Z")
    assert fire(app, utc("2025-03-01T08:30:00Z")) == 1
    s = schedule(app, sid)
    assert (s.status, s.next_run_at, s.total_runs) == ("COMPLETED", None, 1)
    assert fire(app, utc("2025-03-02T08:30:00Z")) == 0
    assert fired_at(app, sid) == [utc("2025-03-01T08:30:00Z")]


def _walk(app, start: str, end: str, step_minutes: int = 10) -> None:
    """Call fire_due every few minutes between two instants."""
    at, stop = utc(start), utc(end)
    while at <= stop:
        fire(app, at)
        at += timedelta(minutes=step_minutes)


# New York, 2025: clocks spring forward on 9 March (02:00 -> 03:00) and fall back on 2 November (02:00 -> 01:00).
@pytest.mark.parametrize(
    ("expression", "start", "end", "expected"),
    [
        (
            "30 1 * * *",
            "2025-11-01T12:00:00Z",
            "2025-11-03T12:00:00Z",
            ["2025-11-02T05:30:00Z", "2025-11-03T06:30:00Z"],
        ),
        (
            "30 2 * * *",
            "2025-03-08T12:00:00Z",
            "2025-03-10T12:00:00Z",
            ["2025-03-09T07:00:00Z", "2025-03-10T06:30:00Z"],
        ),
        (
            "0 * * * *",
            "2025-11-02T03:30:00Z",
            "2025-11-02T07:30:00Z",
            ["2025-11-02T04:00:00Z", "2025-11-02T05:00:00Z", "2025-11-02T06:00:00Z", "2025-11-02T07:00:00Z"],
        ),
    ],
    ids=["fixed-time-fires-once-on-fall-back", "fixed-time-fires-after-the-gap", "hourly-fires-twice-at-1am"],
)
def test_it_follows_the_dst_rules_of_new_york(app, client_1, expression, start, end, expected):
    sid = add(app, now=utc(start) - timedelta(minutes=1), cron_expression=expression, timezone="America/New_York")
    _walk(app, start, end)
    assert fired_at(app, sid) == [utc(x) for x in expected]
    assert all(e.status == "PENDING" for e in executions(app, sid))  # nothing counted as missed


def test_missed_occurrences_fire_once_and_record_the_older_ones_as_skipped(app, client_1):
    sid = add(app, cron_expression="* * * * *")  # next run 08:01
    assert fire(app, utc("2025-03-01T08:05:30Z")) == 1
    rows = executions(app, sid)
    assert [(e.scheduled_for.minute, e.status, e.task_id is None) for e in rows] == [
        (1, "SKIPPED", True),
        (2, "SKIPPED", True),
        (3, "SKIPPED", True),
        (4, "SKIPPED", True),
        (5, "PENDING", False),
    ]
    assert "2025-03-01T08:05:00Z fired instead" in rows[0].error_message
    s = schedule(app, sid)
    assert (s.next_run_at, s.total_runs) == (utc("2025-03-01T08:06:00Z"), 1)
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == 1


def test_skipped_rows_are_capped_to_the_newest_and_the_oldest_counts_the_rest(app, client_1):
    sid = add(app, cron_expression="* * * * *")  # next run 08:01; 600 minutes later 601 are due
    assert fire(app, utc("2025-03-01T18:01:30Z")) == 1
    rows = executions(app, sid)
    skipped = [e for e in rows if e.status == "SKIPPED"]
    assert len(skipped) == catchup.SKIP_RECORD_CAP
    # The history runs without a gap up to the firing: 16:21 .. 18:00 skipped, 18:01 fired.
    assert [e.scheduled_for for e in skipped] == [
        utc("2025-03-01T16:21:00Z") + timedelta(minutes=i) for i in range(100)
    ]
    assert (
        "; 500 earlier missed occurrences, from 2025-03-01T08:01:00Z on, were skipped without a record"
        in skipped[0].error_message
    )
    assert "without a record" not in skipped[1].error_message
    assert fired_at(app, sid) == [utc("2025-03-01T18:01:00Z")]


def test_a_year_down_is_caught_up_with_bounded_work(app, client_1):
    sid = add(app, cron_expression="* * * * *")
    assert fire(app, utc("2026-03-01T08:00:30Z")) == 1
    rows = executions(app, sid)
    assert len(rows) == catchup.SKIP_RECORD_CAP + 1
    assert rows[-1].scheduled_for == utc("2026-03-01T08:00:00Z")
    assert rows[0].scheduled_for == utc("2026-03-01T06:20:00Z")
    # 525,600 minutes in the year, 100 recorded, one fired: the rest are counted (estimated past 2,000).
    assert "about 525,499 earlier missed occurrences, from 2025-03-01T08:01:00Z on" in rows[0].error_message
    assert schedule(app, sid).next_run_at == utc("2026-03-01T08:01:00Z")


def test_one_broken_schedule_fails_alone(app, client_1):
    good = add(app, cron_expression="* * * * *")
    bad = add(app, cron_expression="* * * * *")
    with app.app_context(), write_transaction() as session:
        # A schedule whose expression no longer computes (say, written by an older version).
        session.execute(
            sa.update(ScheduledTask).where(ScheduledTask.schedule_id == bad).values(timezone="Mars/Olympus")
        )
    assert fire(app, utc("2025-03-01T08:01:10Z")) == 1
    s = schedule(app, bad)
    assert (s.status, s.next_run_at) == ("FAILED", None)
    assert "Mars/Olympus" in s.last_error
    assert executions(app, bad) == []
    assert fired_at(app, good) == [utc("2025-03-01T08:01:00Z")]


@pytest.mark.parametrize("action", ["PAUSED", "DELETED"])
def test_paused_and_deleted_schedules_do_not_fire(app, client_1, action):
    sid = add(app, cron_expression="* * * * *")
    with app.app_context():
        if action == "PAUSED":
            schedules.set_status(CLIENT, sid, "PAUSED", now=T0)
        else:
            schedules.delete_schedule(CLIENT, sid, now=T0)
    assert fire(app, utc("2025-03-01T09:00:00Z")) == 0
    assert executions(app, sid) == []


def test_it_drains_every_due_schedule_in_several_batches(app, client_1):
    ids = [add(app, run_at="2025-03-01T08:30:00Z") for _ in range(7)]
    assert fire(app, utc("2025-03-01T08:31:00Z"), batch_size=3) == 7
    assert all(schedule(app, sid).status == "COMPLETED" for sid in ids)


def test_an_occurrence_that_already_has_an_execution_is_not_fired_again(app, client_1):
    taken = add(app, cron_expression="* * * * *")
    other = add(app, cron_expression="* * * * *")
    with app.app_context(), write_transaction() as session:
        session.add(ScheduleExecution(execution_id=new_id("exec"), schedule_id=taken, task_id=None,
                                      scheduled_for=utc("2025-03-01T08:01:00Z"), status="SKIPPED"))  # fmt: skip
    assert fire(app, utc("2025-03-01T08:01:10Z")) == 1
    assert len(executions(app, taken)) == 1
    s = schedule(app, taken)
    assert (s.next_run_at, s.total_runs) == (utc("2025-03-01T08:02:00Z"), 0)
    assert "already had an execution" in s.last_error
    assert fired_at(app, other) == [utc("2025-03-01T08:01:00Z")]


def test_run_now_fires_once_without_moving_the_rhythm(app, client_1):
    sid = add(app, cron_expression="0 9 * * *")
    with app.app_context():
        execution = dispatcher.run_now(CLIENT, sid, now=utc("2025-03-01T08:20:00.5Z"))
    assert (execution.status, execution.scheduled_for) == ("PENDING", utc("2025-03-01T08:20:00.5Z"))
    s = schedule(app, sid)
    assert (s.next_run_at, s.total_runs) == (utc("2025-03-01T09:00:00Z"), 1)
    assert fire(app, utc("2025-03-01T09:00:01Z")) == 1


def test_run_now_on_the_instant_of_an_occurrence_keeps_both(app, client_1):
    sid = add(app, cron_expression="0 9 * * *")
    with app.app_context():
        execution = dispatcher.run_now(CLIENT, sid, now=utc("2025-03-01T09:00:00Z"))
    assert execution.scheduled_for == utc("2025-03-01T09:00:00.000001Z")
    assert fire(app, utc("2025-03-01T09:00:00Z")) == 1
    assert fired_at(app, sid) == [utc("2025-03-01T09:00:00Z"), utc("2025-03-01T09:00:00.000001Z")]
    assert schedule(app, sid).total_runs == 2


def test_run_now_twice_in_the_same_instant_records_two_runs(app, client_1):
    sid = add(app, run_at="2025-03-01T10:00:00Z")
    now = utc("2025-03-01T08:20:00Z")
    with app.app_context():
        first = dispatcher.run_now(CLIENT, sid, now=now)
        second = dispatcher.run_now(CLIENT, sid, now=now)
    assert second.scheduled_for == first.scheduled_for + timedelta(microseconds=1)
    assert schedule(app, sid).status == "ACTIVE"


@pytest.mark.parametrize(("status", "error"), [("PAUSED", None), ("DELETED", "conflict")])
def test_run_now_works_on_paused_but_not_deleted_schedules(app, client_1, status, error):
    sid = add(app, cron_expression="0 9 * * *")
    with app.app_context():
        if status == "PAUSED":
            schedules.set_status(CLIENT, sid, "PAUSED", now=T0)
        else:
            schedules.delete_schedule(CLIENT, sid, now=T0)
        if error:
            with pytest.raises(ServiceError) as err:
                dispatcher.run_now(CLIENT, sid, now=T0)
            assert err.value.code == error
        else:
            assert dispatcher.run_now(CLIENT, sid, now=T0).task_id
    assert len(executions(app, sid)) == (0 if error else 1)


def test_run_now_of_someone_elses_schedule_is_absent(app, client_1, make_agent):
    make_agent("client-2")
    sid = add(app, cron_expression="0 9 * * *")
    with app.app_context(), pytest.raises(ServiceError) as err:
        dispatcher.run_now(Caller("client-2", False), sid, now=T0)
    assert err.value.code == "not_found"
    assert executions(app, sid) == []


def test_the_run_endpoint_answers_201_with_the_execution(app, client, auth, make_agent):
    other = make_agent("client-2")
    sid = add(app, now=datetime.now(UTC), cron_expression="0 9 * * *")
    response = client.post(f"/aitp/tasks/schedule/{sid}/run", headers=auth)
    assert response.status_code == 201
    body = response.get_json()
    assert body["status"] == "PENDING" and body["task_id"].startswith("task-") and body["scheduled_for"].endswith("Z")
    assert client.post(f"/aitp/tasks/schedule/{sid}/run", headers=other).status_code == 404
    client.delete(f"/aitp/tasks/schedule/{sid}", headers=auth)
    assert client.post(f"/aitp/tasks/schedule/{sid}/run", headers=auth).status_code == 409
    assert len(executions(app, sid)) == 1


def test_the_earliest_next_run_ignores_inactive_schedules(app, client_1):
    add(app, cron_expression="0 9 * * *")
    paused = add(app, cron_expression="30 8 * * *")
    with app.app_context():
        schedules.set_status(CLIENT, paused, "PAUSED", now=T0)
        assert dispatcher.earliest_next_run() == utc("2025-03-01T09:00:00Z")


def test_a_next_run_written_by_hand_in_another_format_still_fires(app, client_1):
    sid = add(app, cron_expression="* * * * *")
    with app.app_context(), write_transaction() as session:
        # An operator's UPDATE: SQLite keeps the text as written, without microseconds.
        statement = sa.text("UPDATE scheduled_tasks SET next_run_at = :at WHERE schedule_id = :id")
        session.execute(statement, {"at": "2025-03-01 08:03:00", "id": sid})
    assert fire(app, utc("2025-03-01T08:03:10Z")) == 1
    s = schedule(app, sid)
    assert (s.next_run_at, s.last_error) == (utc("2025-03-01T08:04:00Z"), None)
