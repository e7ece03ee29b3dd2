"""Firing: tick(now) is one dispatcher round, fire_due(now) turns due schedules into tasks, run_now fires one.

Exactly once with any number of dispatchers: a batch is claimed inside one write transaction
(BEGIN IMMEDIATE on SQLite serializes writers and each schedule is advanced with a conditional
UPDATE ... WHERE next_run_at = :old; FOR UPDATE SKIP LOCKED on PostgreSQL hands each dispatcher
disjoint rows), and UNIQUE(schedule_id, scheduled_for) refuses whatever slips through. A
dispatcher killed mid-batch leaves nothing behind: its transaction never committed, so the rows
it claimed are still due for the others.

On time however large the backlog: each tick first claims the on-time lane (schedules due within
the last ON_TIME_WINDOW), then gives the backlog (anything older) at most BACKLOG_BUDGET_SECONDS,
in small slices that each commit after about BACKLOG_SLICE_SECONDS of planning, with a pause
between slices on SQLite so writers waiting for its one write lock get in. A firing is stamped
(executed_at, task created_at, lateness) when it is written, just before its commit.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.engine import Row
from sqlalchemy.exc import IntegrityError
from sqlalchemy.orm import Session

from .. import clock
from ..auth import Caller
from ..errors import conflict
from ..events import audit
from ..events.notices import BatchNotices, write_notices
from ..extensions import SESSION_LOCK_WAIT, begin_write, db, is_postgres, write_transaction
from ..models import (
    ExecutionStatus,
    ExecutionTrigger,
    OverlapPolicy,
    ScheduledTask,
    ScheduleExecution,
    ScheduleStatus,
    new_id,
)
from . import counts, firing, overlap, planning, schedules, tasks
from .bulkwrite import (
    ADVANCE,
    INSERT_EXECUTION,
    INSERT_TASK,
    SCHEDULES,
    Form,
    executemany,
    input_json_column,
    retry_json_column,
    stored_next_run_column,
    task_rows_of,
)

log = logging.getLogger(__name__)

ON_TIME_WINDOW = timedelta(seconds=5)  # due within this long: the on-time lane, claimed first every tick
ON_TIME_SLICE_SECONDS = 0.25  # plan an on-time slice this long at most before writing it
BACKLOG_SLICE_SECONDS = 0.04  # plan a backlog slice this long at most: SQLite's write lock is held about this long
BACKLOG_BUDGET_SECONDS = 0.25  # the backlog's share of one tick; the next tick serves the on-time lane first
BACKLOG_PAUSE_SECONDS = 0.04  # between backlog slices on SQLite, so waiting writers get the lock
LOCK_WAIT_SECONDS = 10.0  # a dispatcher waits longer than a request for SQLite's write lock; it has no one waiting
_MICRO = timedelta(microseconds=1)
MAX_SLEEP = timedelta(seconds=1)  # tick at least this often, so a schedule another process wrote fires within a second
WAKE_MARGIN = timedelta(milliseconds=1)  # wake just after next_run_at, never a hair before it
_DUE_COLUMNS = (
    SCHEDULES.c.schedule_id,
    SCHEDULES.c.client_id,
    SCHEDULES.c.task_type,
    SCHEDULES.c.capability_required,
    input_json_column(),
    SCHEDULES.c.priority,
    SCHEDULES.c.cron_expression,
    SCHEDULES.c.timezone,
    SCHEDULES.c.next_run_at,
    SCHEDULES.c.last_run_at,
    stored_next_run_column(),
    SCHEDULES.c.timeout_seconds,
    retry_json_column(),
    SCHEDULES.c.total_runs,
    SCHEDULES.c.overlap_policy,
    SCHEDULES.c.misfire_policy,
    SCHEDULES.c.catchup_window_seconds,
    SCHEDULES.c.start_at,
    SCHEDULES.c.end_at,
    SCHEDULES.c.max_runs,
    SCHEDULES.c.remaining_runs,
    SCHEDULES.c.jitter_seconds,
    SCHEDULES.c.dst_gap,
    SCHEDULES.c.dst_repeat,
    SCHEDULES.c.calendar_id,
    SCHEDULES.c.holiday_rule,
)


@dataclass(frozen=True)
class Lane:
    """Which due schedules a slice claims: those due within ON_TIME_WINDOW, or the older backlog."""

    backlog: bool

    def plan_seconds(self) -> float:
        """Return how long a slice of this lane may plan while it holds its claim."""
        return BACKLOG_SLICE_SECONDS if self.backlog else ON_TIME_SLICE_SECONDS


ON_TIME = Lane(backlog=False)
BACKLOG = Lane(backlog=True)


@dataclass
class Outcome:
    """What one fire_due call did."""

    fired: int = 0
    skipped: int = 0
    failed: int = 0
    lateness: list[float] = field(default_factory=list)


class _LostClaim(Exception):
    """A conditional update found a schedule already advanced."""


def _hold_seconds() -> float:
    """Return the test-only pause inside a batch transaction (SCHEDULER_TEST_HOLD_SECONDS)."""
    return float(current_app.config.get("DISPATCH_HOLD_SECONDS") or 0)


def _claim(session: Session, now: datetime, limit: int, lane: Lane) -> list[Row]:
    """Select up to `limit` due ACTIVE schedules of a lane, oldest occurrence first, locking them on PostgreSQL."""
    cutoff = now - ON_TIME_WINDOW
    due = SCHEDULES.c.next_run_at <= cutoff if lane.backlog else SCHEDULES.c.next_run_at.between(cutoff, now)
    query = (
        sa.select(*_DUE_COLUMNS)
        .where(SCHEDULES.c.status == ScheduleStatus.ACTIVE, due)
        .order_by(SCHEDULES.c.next_run_at)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return session.execute(query.limit(limit)).all()


def _write(session: Session, new_tasks: list[dict], executions: list[dict], advances: list[dict]) -> None:
    """Insert the tasks and executions and advance the schedules; refuse a lost claim."""
    if new_tasks:
        executemany(session, INSERT_TASK, new_tasks)
    if executions:
        executemany(session, INSERT_EXECUTION, executions)
    if advances:
        locked = is_postgres(session)
        keep = [a for a in advances if a["b_status"] == ScheduleStatus.ACTIVE]
        change = [a for a in advances if a["b_status"] != ScheduleStatus.ACTIVE]
        pairs = ((ADVANCE[locked, False], keep), (ADVANCE[locked, True], change))
        changed = sum(executemany(session, statement, rows) for statement, rows in pairs if rows)
        if changed != len(advances):
            # Another dispatcher advanced one of these first; undo the whole batch and re-claim.
            raise _LostClaim(f"{len(advances) - changed} of {len(advances)} schedules were taken by another dispatcher")


def _prepare(
    session: Session, rows: list[Row], now: datetime, form: Form, going: dict, seconds: float
) -> tuple[list[tuple[Row, firing.Firing]], bool]:
    """Prepare claimed rows for `seconds` at most; return the firings and whether some rows were left for later."""
    prepared: list[tuple[Row, firing.Firing]] = []
    cache: dict = {}
    holidays = planning.batch_holidays(session, rows)
    started = time.monotonic()
    for row in rows:
        if prepared and time.monotonic() - started > seconds:
            return prepared, True  # the rest stay due and go to the next slice
        dates = holidays.get(row.calendar_id, frozenset())
        prepared.append((row, firing.prepare(row, now, form, cache, going.get(row.schedule_id, []), holidays=dates)))
    return prepared, False


def _fire_slice(
    session: Session, now: datetime | None, limit: int, lane: Lane, careful: bool, outcome: Outcome
) -> bool:
    """Fire one slice of a lane in one transaction; return whether more may be due.

    1. Claim (at `now`, or the clock) and prepare, for lane.plan_seconds() at most.
    2. Test-only hold (SCHEDULER_TEST_HOLD_SECONDS), then stamp every row with the clock's
       reading now, just before writing: executed_at and lateness say when it really fired.
    3. Write and commit.
    """
    claimed_at = now or clock.utcnow()
    begin_write(session, lock_wait=LOCK_WAIT_SECONDS)
    rows = _claim(session, claimed_at, limit, lane)
    form = Form(session)
    busy = [r.schedule_id for r in rows if r.overlap_policy != OverlapPolicy.ALLOW]
    going = overlap.going_runs(session, busy) if busy else {}
    prepared_rows, cut = _prepare(session, rows, claimed_at, form, going, lane.plan_seconds())
    hold = _hold_seconds()
    if hold and rows:
        # Test-only: widen the window in which a SIGKILL or a stalled process lands mid-batch.
        log.warning("test hold: holding a batch of %d schedules for %.1f s before commit", len(rows), hold)
        time.sleep(hold)
    written = now or clock.utcnow()
    stamp = (form.at(written), (written - claimed_at).total_seconds())
    new_tasks: list[dict] = []
    executions: list[dict] = []
    advances: list[dict] = []
    replacements: list[overlap.Going] = []
    notices = BatchNotices(session, form)
    done = Outcome()
    for row, prepared in prepared_rows:
        firing.restamp(prepared, *stamp)
        if prepared.failed:
            log.warning("schedule %s failed: %s", row.schedule_id, prepared.advance["b_error"])
            done.failed += 1
        if careful:
            prepared = _write_one(session, row, claimed_at, prepared, going.get(row.schedule_id, []), stamp)
            if prepared.advance:  # written: report it in the same transaction
                notices.firing(row, prepared.executions, prepared.advance, written)
                write_notices(session, notices.take())
        else:
            notices.firing(row, prepared.executions, prepared.advance, written)
            new_tasks += prepared.tasks
            executions += prepared.executions
            advances.append(prepared.advance)
        replacements += prepared.replace
        done.fired += prepared.fired
        done.skipped += prepared.skipped  # recorded SKIPPED rows; the estimate stays in the note
        done.lateness += prepared.lateness
    if not careful:
        _write(session, new_tasks, executions, advances)
        write_notices(session, notices.take())
    overlap.replace(session, replacements, written)
    session.commit()
    outcome.fired += done.fired
    outcome.skipped += done.skipped
    outcome.failed += done.failed
    outcome.lateness += done.lateness
    return cut or len(rows) >= limit


def _write_one(
    session: Session, row: Row, now: datetime, prepared: firing.Firing, going: list, stamp: tuple
) -> firing.Firing:
    """Write one schedule's firing inside a savepoint; return what was written.

    Occurrences that already have an execution (a backfill got there first) are not fired
    again: the firing is rebuilt without them, and the schedule still advances past them. A
    schedule that changed under the batch is left as it is, for the next tick.
    """
    try:
        with session.begin_nested():
            _write(session, prepared.tasks, prepared.executions, [prepared.advance])
        return prepared
    except _LostClaim:
        log.error("schedule %s changed while its batch held it; left for the next tick", row.schedule_id)
        return firing.Firing()
    except IntegrityError:
        taken = frozenset(
            session.scalars(
                sa.select(ScheduleExecution.scheduled_for).where(
                    ScheduleExecution.schedule_id == row.schedule_id,
                    ScheduleExecution.scheduled_for.in_(prepared.occurrences),
                )
            )
        )
    listed = ", ".join(clock.iso_z(at) for at in sorted(taken))
    log.warning("schedule %s: occurrences %s already had an execution; not fired again", row.schedule_id, listed)
    dates = planning.holidays(session, row.calendar_id) if row.holiday_rule else frozenset()
    rebuilt = firing.prepare(row, now, Form(session), {}, going, exclude=taken, holidays=dates)
    firing.restamp(rebuilt, *stamp)
    rebuilt.advance["b_error"] = (
        rebuilt.advance["b_error"] or f"Occurrence {listed} already had an execution; it was not fired again"
    )
    with session.begin_nested():
        _write(session, rebuilt.tasks, rebuilt.executions, [rebuilt.advance])
    return rebuilt


def wake_instant(at: datetime | None, now: datetime) -> datetime:
    """Return when to tick for a schedule due at `at`: just after it, within [now, now + MAX_SLEEP]."""
    if at is None:
        return now + MAX_SLEEP
    return min(max(at + WAKE_MARGIN, now), now + MAX_SLEEP)


def tick(now: datetime | None = None, should_stop: Callable[[], bool] | None = None) -> datetime:
    """Run one dispatcher round and return the instant the next one should start.

    1. Fire the on-time lane, then the backlog for BACKLOG_BUDGET_SECONDS at most (the clock is
       read per slice when `now` is None).
    2. Return expired task leases to the queue.
    3. Housekeeping: fold the list totals' pending deltas when many wait (firings change statuses).
    4. Return the earliest next_run_at of an ACTIVE schedule, clamped by wake_instant (at once
       while a backlog remains).
    """
    # Every write of the tick (firing, leases, housekeeping) may wait longer than a request for SQLite's lock.
    db.session().info[SESSION_LOCK_WAIT] = LOCK_WAIT_SECONDS
    _fire(now, None, should_stop, BACKLOG_BUDGET_SECONDS)
    tasks.expire_leases(now)
    counts.fold_if_due(db.session())
    return wake_instant(earliest_next_run(), now or clock.utcnow())


def fire_due(
    now: datetime | None = None, batch_size: int | None = None, should_stop: Callable[[], bool] | None = None
) -> int:
    """Fire every schedule due at `now` (the clock, read per slice, when None); return how many fired.

    1. Claim a slice of due ACTIVE schedules, on-time lane first, oldest first, in one write transaction.
    2. Per schedule: fire the newest due occurrence (task + PENDING execution), record older
       missed ones as SKIPPED, advance next_run_at from the occurrence; a one-time schedule
       becomes COMPLETED; one whose next run cannot be computed becomes FAILED.
    3. Commit, and repeat until both lanes are empty or `should_stop()` says so.
    """
    return _fire(now, batch_size, should_stop, None).fired


def _fire(
    now: datetime | None, batch_size: int | None, should_stop: Callable[[], bool] | None, budget: float | None
) -> Outcome:
    """Fire the on-time lane, then the backlog (for `budget` seconds when given); return what was done."""
    limit = batch_size or current_app.config["DISPATCH_BATCH_SIZE"]
    session = db.session()
    outcome = Outcome()
    try:
        _fire_lane(session, now, limit, ON_TIME, should_stop, outcome, None)
        deadline = None if budget is None else time.monotonic() + budget
        _fire_lane(session, now, limit, BACKLOG, should_stop, outcome, deadline)
    finally:
        # The slices wrote with core statements; make ORM objects of this session reload.
        session.expire_all()
        if outcome.fired or outcome.failed:
            log.info("fired %d, skipped %d, failed %d", outcome.fired, outcome.skipped, outcome.failed)
        _record(outcome)
    return outcome


def _fire_lane(
    session: Session,
    now: datetime | None,
    limit: int,
    lane: Lane,
    should_stop: Callable[[], bool] | None,
    outcome: Outcome,
    deadline: float | None,
) -> None:
    """Fire one lane slice by slice until it is empty, `should_stop()` says so, or the deadline passes."""
    more, first = True, True
    while more and not (should_stop and should_stop()):
        if not first and deadline is not None:
            if time.monotonic() >= deadline:
                return
            if not is_postgres(session):
                time.sleep(BACKLOG_PAUSE_SECONDS)  # SQLite has one write lock: let waiting writers have it
        first = False
        try:
            more = _fire_slice(session, now, limit, lane, False, outcome)
        except (IntegrityError, _LostClaim) as err:
            session.rollback()
            log.warning("batch rolled back (%s); retrying schedule by schedule", err.__class__.__name__)
            more = _fire_slice(session, now, limit, lane, True, outcome)
        except BaseException:
            session.rollback()
            raise


def _record(outcome: Outcome) -> None:
    """Feed the metrics of the app, when it has them."""
    metrics = current_app.extensions.get("scheduler_metrics")
    if metrics is not None:
        metrics.record_firings(outcome.lateness, outcome.skipped)


def earliest_next_run() -> datetime | None:
    """Return the earliest next_run_at of an ACTIVE schedule, or None."""
    query = sa.select(sa.func.min(SCHEDULES.c.next_run_at)).where(SCHEDULES.c.status == ScheduleStatus.ACTIVE)
    value = db.session.scalar(query)
    db.session.rollback()  # end the read so no snapshot is held while the timer sleeps
    return value


def _free_instant(session: Session, schedule: ScheduledTask, now: datetime) -> datetime:
    """Return the instant a run-now records: `now`, nudged off any occurrence the schedule has or will have."""
    taken = set(
        session.scalars(
            sa.select(ScheduleExecution.scheduled_for).where(
                ScheduleExecution.schedule_id == schedule.schedule_id,
                ScheduleExecution.scheduled_for >= now,
                ScheduleExecution.scheduled_for < now + timedelta(seconds=1),
            )
        )
    )
    taken.update(t for t in (schedule.next_run_at, schedule.run_at) if t is not None)
    at = now
    # Cron occurrences fall on whole minutes, so a run-now off the minute can never meet one.
    while at in taken or (schedule.cron_expression and at.second == 0 and at.microsecond == 0):
        at += _MICRO
    return at


def run_now(caller: Caller, schedule_id: str, now: datetime | None = None) -> ScheduleExecution:
    """Fire a schedule once, now, without moving its rhythm; PAUSED works too, DELETED is a 409."""
    now = now or clock.utcnow()
    with write_transaction() as session:
        schedule = schedules.schedule_or_404(caller, schedule_id, session, lock=True)
        if "run" not in schedules.allowed_actions(schedule):
            raise conflict("Schedule is deleted and cannot run", "status")
        at = _free_instant(session, schedule, now)
        [task] = task_rows_of(schedule, Form(session).at(now))
        task_id = task["task_id"]
        executemany(session, INSERT_TASK, [task])
        execution = ScheduleExecution(
            execution_id=new_id("exec"),
            schedule_id=schedule.schedule_id,
            task_id=task_id,
            scheduled_for=at,
            executed_at=now,
            status=ExecutionStatus.PENDING,
            trigger=ExecutionTrigger.RUN_NOW,
            attempts=0,
        )
        session.add(execution)
        changes = {"total_runs": [schedule.total_runs, (schedule.total_runs or 0) + 1]}
        changes["last_run_at"] = [clock.iso_z(schedule.last_run_at), clock.iso_z(at)]
        changes["execution_id"] = [None, execution.execution_id]
        schedule.total_runs = (schedule.total_runs or 0) + 1
        schedule.last_run_at = at
        schedule.updated_at = now
        audit.record(session, caller, "run_now", schedule, changes, now)
    _record(Outcome(fired=1, lateness=[0.0]))
    return execution
