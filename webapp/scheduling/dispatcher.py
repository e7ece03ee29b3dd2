"""Firing: tick(now) is one dispatcher round, fire_due(now) turns due schedules into tasks, run_now fires one.

Exactly once with any number of dispatchers: a batch is claimed inside one write transaction
(BEGIN IMMEDIATE on SQLite serializes writers and each schedule is advanced with a conditional
UPDATE ... WHERE next_run_at = :old; FOR UPDATE SKIP LOCKED on PostgreSQL hands each dispatcher
disjoint rows), and UNIQUE(schedule_id, scheduled_for) refuses whatever slips through. A
dispatcher killed mid-batch leaves nothing behind: its transaction never committed, so the rows
it claimed are still due for the others.
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
from ..extensions import begin_write, db, is_postgres, write_transaction
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

PLAN_BUDGET_SECONDS = 0.5  # stop planning a batch after this long, so the write lock is held briefly
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


def _claim(session: Session, now: datetime, limit: int) -> list[Row]:
    """Select up to `limit` due ACTIVE schedules, oldest occurrence first, locking them on PostgreSQL."""
    query = (
        sa.select(*_DUE_COLUMNS)
        .where(SCHEDULES.c.status == ScheduleStatus.ACTIVE, SCHEDULES.c.next_run_at <= now)
        .order_by(SCHEDULES.c.next_run_at)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    return session.execute(query).all()


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


def _fire_batch(session: Session, now: datetime, limit: int, careful: bool, outcome: Outcome) -> bool:
    """Fire one batch in one transaction; return whether more may be due."""
    begin_write(session)
    rows = _claim(session, now, limit)
    more = len(rows) >= limit
    new_tasks: list[dict] = []
    executions: list[dict] = []
    advances: list[dict] = []
    done = Outcome()
    form, cache = Form(session), {}
    busy = [r.schedule_id for r in rows if r.overlap_policy != OverlapPolicy.ALLOW]
    going = overlap.going_runs(session, busy) if busy else {}
    replacements: list[overlap.Going] = []
    notices = BatchNotices(session, form)
    started = time.monotonic()
    holidays = planning.batch_holidays(session, rows)
    for planned, row in enumerate(rows):
        if planned and time.monotonic() - started > PLAN_BUDGET_SECONDS:
            more = True  # the rest stay due and go to the next batch
            break
        dates = holidays.get(row.calendar_id, frozenset())
        prepared = firing.prepare(row, now, form, cache, going.get(row.schedule_id, []), holidays=dates)
        if prepared.failed:
            log.warning("schedule %s failed: %s", row.schedule_id, prepared.advance["b_error"])
            done.failed += 1
        if careful:
            prepared = _write_one(session, row, now, prepared, going.get(row.schedule_id, []))
            if prepared.advance:  # written: report it in the same transaction
                notices.firing(row, prepared.executions, prepared.advance, now)
                write_notices(session, notices.take())
        else:
            notices.firing(row, prepared.executions, prepared.advance, now)
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
    overlap.replace(session, replacements, now)
    hold = _hold_seconds()
    if hold and rows:
        # Test-only: widen the window in which a SIGKILL lands mid-batch.
        log.warning("test hold: holding a batch of %d schedules for %.1f s before commit", len(rows), hold)
        time.sleep(hold)
    session.commit()
    outcome.fired += done.fired
    outcome.skipped += done.skipped
    outcome.failed += done.failed
    outcome.lateness += done.lateness
    return more


def _write_one(session: Session, row: Row, now: datetime, prepared: firing.Firing, going: list) -> firing.Firing:
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

    1. Fire every schedule due at `now` (the clock, read per batch, when None).
    2. Return expired task leases to the queue.
    3. Housekeeping: fold the list totals' pending deltas when many wait (firings change statuses).
    4. Return the earliest next_run_at of an ACTIVE schedule, clamped by wake_instant.
    """
    fire_due(now, should_stop=should_stop)
    tasks.expire_leases(now)
    counts.fold_if_due(db.session())
    return wake_instant(earliest_next_run(), now or clock.utcnow())


def fire_due(
    now: datetime | None = None, batch_size: int | None = None, should_stop: Callable[[], bool] | None = None
) -> int:
    """Fire every schedule due at `now` (the clock, read per batch, when None); return how many fired.

    1. Claim a batch of due ACTIVE schedules, oldest first, in one write transaction.
    2. Per schedule: fire the newest due occurrence (task + PENDING execution), record older
       missed ones as SKIPPED, advance next_run_at from the occurrence; a one-time schedule
       becomes COMPLETED; one whose next run cannot be computed becomes FAILED.
    3. Commit, and repeat until a batch comes back short or `should_stop()` says so.
    """
    limit = batch_size or current_app.config["DISPATCH_BATCH_SIZE"]
    session = db.session()
    outcome = Outcome()
    more = True
    while more and not (should_stop and should_stop()):
        at = now or clock.utcnow()
        try:
            more = _fire_batch(session, at, limit, False, outcome)
        except (IntegrityError, _LostClaim) as err:
            session.rollback()
            log.warning("batch rolled back (%s); retrying schedule by schedule", err.__class__.__name__)
            more = _fire_batch(session, at, limit, True, outcome)
        except BaseException:
            session.rollback()
            raise
    # The batches wrote with core statements; make ORM objects of this session reload.
    session.expire_all()
    if outcome.fired or outcome.failed:
        log.info("fired %d, skipped %d, failed %d", outcome.fired, outcome.skipped, outcome.failed)
    _record(outcome)
    return outcome.fired


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
