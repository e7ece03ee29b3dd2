"""Schedule policies with a fixed clock: misfires, the catch-up window, bounds, run limits, jitter, overlap.

fire_due(now) and the task functions are called directly; every instant is exact.
"""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
import sqlalchemy as sa

from webapp.auth import Caller
from webapp.extensions import db
from webapp.models import ScheduledTask, ScheduleExecution, Task
from webapp.scheduling import dispatcher, policies, schedules, tasks

T0 = datetime(2025, 3, 1, 8, 0, tzinfo=UTC)  # a Saturday
CLIENT = Caller("client-1", False)
WORKER = Caller("worker-1", False)
BODY = {"task_type": "report", "capability_required": "report-v1"}


def at(clock: str) -> datetime:
    """Return 2025-03-01 at a UTC wall time, e.g. at("08:10:01")."""
    return datetime.fromisoformat(f"2025-03-01T{clock}+00:00")


@pytest.fixture(autouse=True)
def people(make_agent):
    """Register the owner and a worker."""
    make_agent("client-1")
    make_agent("worker-1", capabilities=["report-v1"])


def add(app, **fields) -> str:
    """Create a schedule for client-1 at T0; return its id."""
    with app.app_context():
        return schedules.create_schedule(CLIENT, {**BODY, **fields}, now=T0).schedule_id


def fire(app, now: datetime) -> int:
    """Run fire_due at `now`."""
    with app.app_context():
        return dispatcher.fire_due(now)


def ledger(app, sid: str) -> list[tuple]:
    """Return (HH:MM, status, reason) of every execution, oldest occurrence first."""
    with app.app_context():
        rows = db.session.scalars(
            sa.select(ScheduleExecution)
            .where(ScheduleExecution.schedule_id == sid)
            .order_by(ScheduleExecution.scheduled_for)
        )
        return [(e.scheduled_for.strftime("%H:%M"), e.status, e.reason) for e in rows]


def schedule(app, sid: str) -> ScheduledTask:
    """Read a schedule afresh."""
    with app.app_context():
        return db.session.get(ScheduledTask, sid)


def claim(app, now: datetime) -> list[str]:
    """Claim every claimable task as the worker; return their ids."""
    with app.app_context():
        return [
            t.task_id
            for t in tasks.claim(WORKER, {"capabilities": ["report-v1"], "limit": 100, "lease_seconds": 3600}, now=now)
        ]


def finish(app, task_id: str, now: datetime, ok: bool = True, **fail) -> Task:
    """Complete (or fail) a held task at `now`."""
    with app.app_context():
        if ok:
            return tasks.complete(WORKER, task_id, {"result_data": {}}, now=now)
        return tasks.fail(WORKER, task_id, {"error_message": "boom", **fail}, now=now)


def task_of(app, sid: str, occurrence: str) -> Task | None:
    """Return the task of one occurrence (HH:MM) of a schedule."""
    with app.app_context():
        e = db.session.scalar(
            sa.select(ScheduleExecution).where(
                ScheduleExecution.schedule_id == sid, ScheduleExecution.scheduled_for == at(occurrence + ":00")
            )
        )
        return db.session.get(Task, e.task_id) if e and e.task_id else None


# Misfires: a */10 schedule (next 08:10) found due at 08:41, so 08:10, 08:20, 08:30 and 08:40 are due.
MISFIRES = [
    (
        "FIRE_LATEST",
        None,
        [
            ("08:10", "SKIPPED", "MISSED"),
            ("08:20", "SKIPPED", "MISSED"),
            ("08:30", "SKIPPED", "MISSED"),
            ("08:40", "PENDING", None),
        ],
    ),
    (
        "FIRE_ALL",
        None,
        [
            ("08:10", "PENDING", None),
            ("08:20", "PENDING", None),
            ("08:30", "PENDING", None),
            ("08:40", "PENDING", None),
        ],
    ),
    (
        "SKIP",
        None,
        [
            ("08:10", "SKIPPED", "MISSED"),
            ("08:20", "SKIPPED", "MISSED"),
            ("08:30", "SKIPPED", "MISSED"),
            ("08:40", "SKIPPED", "MISSED"),
        ],
    ),
    # A window of 15 minutes: 08:10 and 08:20 were due 31 and 21 minutes ago, whatever the policy.
    (
        "FIRE_LATEST",
        900,
        [
            ("08:10", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
            ("08:20", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
            ("08:30", "SKIPPED", "MISSED"),
            ("08:40", "PENDING", None),
        ],
    ),
    (
        "FIRE_ALL",
        900,
        [
            ("08:10", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
            ("08:20", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
            ("08:30", "PENDING", None),
            ("08:40", "PENDING", None),
        ],
    ),
    (
        "SKIP",
        30,
        [
            ("08:10", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
            ("08:20", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
            ("08:30", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
            ("08:40", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW"),
        ],
    ),
]


@pytest.mark.parametrize(("misfire", "window", "expected"), MISFIRES)
def test_missed_occurrences_follow_the_misfire_policy_and_the_window(app, misfire, window, expected):
    sid = add(app, cron_expression="*/10 * * * *", misfire_policy=misfire, catchup_window_seconds=window)
    fired = sum(1 for _, status, _ in expected if status == "PENDING")
    assert fire(app, at("08:41:00")) == fired
    assert ledger(app, sid) == expected
    s = schedule(app, sid)
    assert (s.next_run_at, s.total_runs, s.status) == (at("08:50:00"), fired, "ACTIVE")
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == fired


@pytest.mark.parametrize("misfire", ["FIRE_LATEST", "FIRE_ALL", "SKIP"])
def test_a_single_late_occurrence_still_fires_whatever_the_misfire_policy(app, misfire):
    sid = add(app, cron_expression="*/10 * * * *", misfire_policy=misfire)
    assert fire(app, at("08:19:59")) == 1
    assert ledger(app, sid) == [("08:10", "PENDING", None)]


def test_fire_all_after_300_missed_fires_the_newest_100_and_counts_the_rest(app):
    sid = add(app, cron_expression="* * * * *", misfire_policy="FIRE_ALL")  # next 08:01
    assert fire(app, at("13:01:30")) == 100  # 08:01 .. 13:01 are due: 301 occurrences
    rows = ledger(app, sid)
    assert [r for r in rows if r[1] == "PENDING"] == [
        ((at("11:22:00") + timedelta(minutes=i)).strftime("%H:%M"), "PENDING", None) for i in range(100)
    ]
    assert rows[0] == ("11:21", "SKIPPED", "MISSED")  # the one more listed; 200 older ones are only counted
    with app.app_context():
        note = db.session.scalar(
            sa.select(ScheduleExecution.error_message).where(ScheduleExecution.scheduled_for == at("11:21:00"))
        )
    assert "200 earlier missed occurrences, from 2025-03-01T08:01:00Z on" in note
    assert schedule(app, sid).next_run_at == at("13:02:00")
    assert fire(app, at("13:02:00")) == 1  # and the rhythm goes on


def test_a_one_time_schedule_found_outside_its_window_completes_without_firing(app):
    sid = add(app, run_at="2025-03-01T09:00:00Z", catchup_window_seconds=60)
    assert fire(app, at("09:05:00")) == 0
    assert ledger(app, sid) == [("09:00", "SKIPPED", "OUTSIDE_CATCHUP_WINDOW")]
    assert (schedule(app, sid).status, schedule(app, sid).next_run_at) == ("COMPLETED", None)


def test_a_year_down_with_fire_all_stays_bounded(app):
    sid = add(app, cron_expression="* * * * *", misfire_policy="FIRE_ALL", catchup_window_seconds=3600)
    assert fire(app, datetime(2026, 3, 1, 8, 0, 30, tzinfo=UTC)) == 60  # the last hour's 60 minutes
    rows = ledger(app, sid)
    assert len(rows) == 101 and rows[0][2] == "OUTSIDE_CATCHUP_WINDOW"


def test_bounds_start_at_and_end_at(app):
    sid = add(app, cron_expression="0 9 * * *", start_at="2025-03-03T00:00:00Z", end_at="2025-03-04T09:00:00Z")
    assert schedule(app, sid).next_run_at == datetime(2025, 3, 3, 9, tzinfo=UTC)  # never before start_at
    assert fire(app, datetime(2025, 3, 3, 9, 0, 1, tzinfo=UTC)) == 1
    assert schedule(app, sid).status == "ACTIVE"
    assert fire(app, datetime(2025, 3, 4, 9, 0, 1, tzinfo=UTC)) == 1  # end_at itself is an occurrence
    s = schedule(app, sid)
    assert (s.status, s.next_run_at, s.total_runs) == ("COMPLETED", None, 2)
    assert "end_at 2025-03-04T09:00:00Z" in s.last_error


def test_max_runs_counts_down_and_completes_with_the_reason(app):
    sid = add(app, cron_expression="*/10 * * * *", max_runs=2)
    assert schedule(app, sid).remaining_runs == 2
    assert fire(app, at("08:10:00")) == 1
    assert schedule(app, sid).remaining_runs == 1
    with app.app_context():  # run-now does not take one
        dispatcher.run_now(CLIENT, sid, now=at("08:15:00"))
    assert schedule(app, sid).remaining_runs == 1
    assert fire(app, at("08:20:00")) == 1
    s = schedule(app, sid)
    assert (s.status, s.remaining_runs, s.next_run_at, s.total_runs) == ("COMPLETED", 0, None, 3)
    assert s.last_error == "Completed: reached max_runs (2 firings)"
    assert fire(app, at("08:30:00")) == 0


def test_fire_all_stops_at_the_remaining_runs(app):
    sid = add(app, cron_expression="*/10 * * * *", misfire_policy="FIRE_ALL", max_runs=2)
    assert fire(app, at("08:41:00")) == 2
    assert [r for r in ledger(app, sid) if r[1] == "PENDING"] == [
        ("08:10", "PENDING", None),
        ("08:20", "PENDING", None),
    ]
    assert (schedule(app, sid).status, schedule(app, sid).remaining_runs) == ("COMPLETED", 0)


def test_jitter_fires_at_a_stable_offset_and_records_the_nominal_occurrence(app):
    sid = add(app, cron_expression="*/10 * * * *", jitter_seconds=120)
    offset = policies.jitter_offset(sid, at("08:10:00"), 120)
    assert timedelta(0) <= offset < timedelta(seconds=120)
    assert schedule(app, sid).next_run_at == at("08:10:00") + offset
    assert fire(app, at("08:10:00") + offset - timedelta(microseconds=1)) == 0
    assert fire(app, at("08:10:00") + offset) == 1
    assert ledger(app, sid) == [("08:10", "PENDING", None)]
    assert schedule(app, sid).next_run_at == at("08:20:00") + policies.jitter_offset(sid, at("08:20:00"), 120)


def test_the_jitter_offset_depends_on_the_schedule_and_occurrence_alone():
    occurrence = datetime(2025, 3, 1, 9, tzinfo=UTC)
    # The same in every process and every run: a hash, not a random draw.
    assert policies.jitter_offset("sched-a", occurrence, 3600) == policies.jitter_offset("sched-a", occurrence, 3600)
    assert policies.jitter_offset("sched-a", occurrence, 3600) == timedelta(seconds=3012)
    spread = {policies.jitter_offset(f"sched-{i}", occurrence, 60) for i in range(200)}
    assert len(spread) > 40 and all(timedelta(0) <= s < timedelta(seconds=60) for s in spread)


# Overlap: a */10 schedule fired at 08:10; its run is then pending, running or finished when 08:20 and 08:30 come.
OVERLAP = [
    ("SKIP", "pending", [("08:10", "PENDING", None), ("08:20", "SKIPPED", "OVERLAP"), ("08:30", "SKIPPED", "OVERLAP")]),
    ("SKIP", "running", [("08:10", "RUNNING", None), ("08:20", "SKIPPED", "OVERLAP"), ("08:30", "SKIPPED", "OVERLAP")]),
    ("SKIP", "finished", [("08:10", "COMPLETED", None), ("08:20", "PENDING", None), ("08:30", "SKIPPED", "OVERLAP")]),
    (
        "BUFFER_ONE",
        "pending",
        [("08:10", "PENDING", None), ("08:20", "BUFFERED", None), ("08:30", "SKIPPED", "OVERLAP")],
    ),
    (
        "BUFFER_ONE",
        "running",
        [("08:10", "RUNNING", None), ("08:20", "BUFFERED", None), ("08:30", "SKIPPED", "OVERLAP")],
    ),
    ("BUFFER_ONE", "finished", [("08:10", "COMPLETED", None), ("08:20", "PENDING", None), ("08:30", "BUFFERED", None)]),
    ("ALLOW", "running", [("08:10", "RUNNING", None), ("08:20", "PENDING", None), ("08:30", "PENDING", None)]),
]


@pytest.mark.parametrize(("policy", "state", "expected"), OVERLAP)
def test_an_occurrence_while_the_previous_run_is_going_follows_the_overlap_policy(app, policy, state, expected):
    sid = add(app, cron_expression="*/10 * * * *", overlap_policy=policy)
    assert fire(app, at("08:10:01")) == 1
    if state != "pending":
        [first] = claim(app, at("08:11:00"))
    if state == "finished":
        finish(app, first, at("08:12:00"))
    fire(app, at("08:20:01"))
    fire(app, at("08:30:01"))
    assert ledger(app, sid) == expected
    tasks_made = sum(1 for _, status, _ in expected if status in ("PENDING", "RUNNING", "COMPLETED"))
    with app.app_context():
        assert db.session.scalar(sa.select(sa.func.count()).select_from(Task)) == tasks_made
    assert schedule(app, sid).total_runs == sum(1 for _, s, _ in expected if s != "SKIPPED")


def test_a_buffered_occurrence_fires_in_the_transaction_that_ends_the_going_run(app):
    sid = add(app, cron_expression="*/10 * * * *", overlap_policy="BUFFER_ONE")
    fire(app, at("08:10:01"))
    [first] = claim(app, at("08:11:00"))
    fire(app, at("08:20:01"))
    assert ledger(app, sid)[1] == ("08:20", "BUFFERED", None)
    finish(app, first, at("08:25:00"), ok=False, retry=False)  # failing for good ends the run too
    assert ledger(app, sid) == [("08:10", "FAILED", None), ("08:20", "PENDING", None)]
    buffered = task_of(app, sid, "08:20")
    assert buffered.status == "PENDING"
    with app.app_context():
        e = db.session.scalar(sa.select(ScheduleExecution).where(ScheduleExecution.task_id == buffered.task_id))
    assert (e.executed_at, e.trigger) == (at("08:25:00"), "SCHEDULE")
    assert claim(app, at("08:25:01")) == [buffered.task_id]


def test_a_retry_keeps_the_run_going_so_the_buffered_occurrence_waits(app):
    sid = add(app, cron_expression="*/10 * * * *", overlap_policy="BUFFER_ONE", retry_policy={"max_attempts": 2})
    fire(app, at("08:10:01"))
    [first] = claim(app, at("08:11:00"))
    fire(app, at("08:20:01"))
    finish(app, first, at("08:21:00"), ok=False)  # retried: the run is still going
    assert ledger(app, sid) == [("08:10", "RUNNING", None), ("08:20", "BUFFERED", None)]
    assert claim(app, at("08:21:10")) == [first]  # after the 10 s backoff
    finish(app, first, at("08:22:00"))
    assert ledger(app, sid) == [("08:10", "COMPLETED", None), ("08:20", "PENDING", None)]


def test_replace_cancels_a_pending_run_and_fires(app):
    sid = add(app, cron_expression="*/10 * * * *", overlap_policy="REPLACE")
    fire(app, at("08:10:01"))
    old = task_of(app, sid, "08:10")
    assert fire(app, at("08:20:01")) == 1
    assert ledger(app, sid) == [("08:10", "CANCELLED", "REPLACED"), ("08:20", "PENDING", None)]
    cancelled = task_of(app, sid, "08:10")
    assert (cancelled.task_id, cancelled.status, cancelled.finished_at) == (old.task_id, "CANCELLED", at("08:20:01"))
    assert claim(app, at("08:20:02")) == [task_of(app, sid, "08:20").task_id]  # the cancelled one is never claimed


def test_replace_flags_a_running_run_which_ends_as_its_worker_reports(app, client, make_agent):
    sid = add(app, cron_expression="*/10 * * * *", overlap_policy="REPLACE")
    fire(app, at("08:10:01"))
    [old] = claim(app, at("08:11:00"))
    assert fire(app, at("08:20:01")) == 1
    assert ledger(app, sid) == [("08:10", "RUNNING", None), ("08:20", "PENDING", None)]
    with app.app_context():
        beat = tasks.heartbeat(WORKER, old, {}, now=at("08:20:30"))
        assert (beat.cancel_requested, beat.lease_expires_at) == (True, at("08:25:30"))
    finish(app, old, at("08:21:00"), ok=False)  # the worker stops: its run is CANCELLED, not a failure
    assert ledger(app, sid)[0] == ("08:10", "CANCELLED", "REPLACED")
    assert (schedule(app, sid).failed_runs, schedule(app, sid).consecutive_failures) == (0, 0)


def test_run_now_fires_whatever_the_overlap_policy_says(app):
    sid = add(app, cron_expression="*/10 * * * *", overlap_policy="SKIP")
    fire(app, at("08:10:01"))
    with app.app_context():
        execution = dispatcher.run_now(CLIENT, sid, now=at("08:12:00"))
        assert (execution.status, execution.trigger) == ("PENDING", "RUN_NOW")
    assert len(claim(app, at("08:12:01"))) == 2
