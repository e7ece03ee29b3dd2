"""How an attempt ends, and what the end of a run does to its execution and its schedule.

1. An attempt ends when its worker completes or fails the task, or when its lease runs out
   without a heartbeat (a failed attempt).
2. A failed attempt with attempts left (attempts < max_attempts, and not `"retry": false`)
   returns the task to PENDING with not_before = now + backoff; its execution stays RUNNING.
3. Otherwise the run ends (run_ended): the task and its execution become COMPLETED, FAILED or,
   for a task whose cancellation was requested, CANCELLED (reason REPLACED). The schedule counts
   it (failed_runs, consecutive_failures), may pause itself (pause_after_failures), and fires
   the occurrence its overlap policy buffered.

Every path here runs inside a write transaction that holds the schedule row before the task
row (lock_schedule_of), the order the dispatcher uses too, so they never deadlock and never
both miss a buffered occurrence. The transitions a webhook or an audit entry would report each
have one function: run_ended, auto_pause, fire_buffered.
"""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..clock import iso_z
from ..events import notices
from ..extensions import is_postgres
from ..models import (
    GOING_EXECUTION_STATUSES,
    ExecutionReason,
    ExecutionStatus,
    ScheduledTask,
    ScheduleExecution,
    ScheduleStatus,
    Task,
    TaskStatus,
)
from . import policies
from .bulkwrite import INSERT_TASK, Form, executemany, task_rows_of

TASKS = Task.__table__
EXECUTIONS = ScheduleExecution.__table__
SCHEDULES = ScheduledTask.__table__


def schedule_of(session: Session, task_id: str) -> str | None:
    """Return the id of the schedule whose execution owns a task, or None."""
    return session.scalar(sa.select(EXECUTIONS.c.schedule_id).where(EXECUTIONS.c.task_id == task_id).limit(1))


def lock_schedule_of(session: Session, task_id: str) -> str | None:
    """Lock (on PostgreSQL) the schedule that owns a task, before the task itself; return its id."""
    schedule_id = schedule_of(session, task_id)
    if schedule_id is not None and is_postgres(session):
        session.execute(
            sa.select(SCHEDULES.c.schedule_id).where(SCHEDULES.c.schedule_id == schedule_id).with_for_update()
        )
    return schedule_id


def lock_task(session: Session, task_id: str) -> Task | None:
    """Read a task afresh, locked on PostgreSQL."""
    query = sa.select(Task).where(Task.task_id == task_id).execution_options(populate_existing=True)
    if is_postgres(session):
        query = query.with_for_update()
    return session.scalar(query)


def fail_attempt(session: Session, task: Task, error: str, now: datetime, retry: bool = True) -> TaskStatus:
    """End a failed attempt of a held task: retry it after its backoff, or end the run; return the task's status."""
    if task.cancel_requested:
        end_run(session, task.task_id, TaskStatus.CANCELLED, None, error, now)
        return TaskStatus.CANCELLED
    if retry and task.attempts < (task.max_attempts or 1):
        wait = policies.backoff(task.retry_policy, task.attempts)
        not_before = now + wait
        session.execute(
            sa.update(TASKS)
            .where(TASKS.c.task_id == task.task_id)
            .values(
                status=TaskStatus.PENDING,
                agent_id=None,
                lease_expires_at=None,
                not_before=not_before,
                error_message=error,
                updated_at=now,
            )
        )
        note = f"Attempt {task.attempts} of {task.max_attempts} failed: {error}; retrying at {iso_z(not_before)}"
        session.execute(sa.update(EXECUTIONS).where(EXECUTIONS.c.task_id == task.task_id).values(error_message=note))
        return TaskStatus.PENDING
    end_run(session, task.task_id, TaskStatus.FAILED, None, error, now)
    return TaskStatus.FAILED


def end_run(session: Session, task_id: str, status: TaskStatus, result_data, error: str | None, now: datetime) -> None:
    """End a task for good (COMPLETED, FAILED or CANCELLED), with its execution, then tell its schedule."""
    result = sa.null() if result_data is None else result_data
    ended = {"status": status, "result_data": result, "error_message": error, "finished_at": now}
    session.execute(
        sa.update(TASKS)
        .where(TASKS.c.task_id == task_id)
        .values(**ended, lease_expires_at=None, not_before=None, updated_at=now)
    )
    reason = ExecutionReason.REPLACED if status == TaskStatus.CANCELLED else None
    session.execute(sa.update(EXECUTIONS).where(EXECUTIONS.c.task_id == task_id).values(**ended, reason=reason))
    notices.run_ended(session, task_id, status, result_data, error, now)
    schedule_id = schedule_of(session, task_id)
    if schedule_id is not None:
        run_ended(session, schedule_id, status, now)


def run_ended(session: Session, schedule_id: str, status: str, now: datetime) -> None:
    """Count a run that ended on its schedule; pause the schedule or fire its buffered occurrence.

    A FAILED run adds one to failed_runs and consecutive_failures; a COMPLETED one resets
    consecutive_failures; a CANCELLED one counts neither way.
    """
    mine = SCHEDULES.c.schedule_id == schedule_id
    if status == TaskStatus.FAILED:
        counts = {
            "failed_runs": SCHEDULES.c.failed_runs + 1,
            "consecutive_failures": SCHEDULES.c.consecutive_failures + 1,
        }
        session.execute(sa.update(SCHEDULES).where(mine).values(**counts, updated_at=now))
    elif status == TaskStatus.COMPLETED:  # written only when there is a streak to reset
        reset = sa.update(SCHEDULES).where(mine, SCHEDULES.c.consecutive_failures != 0)
        session.execute(reset.values(consecutive_failures=0, updated_at=now))
    if status == TaskStatus.FAILED:
        auto_pause(session, schedule_id, now)
    fire_buffered(session, schedule_id, now)


def auto_pause(session: Session, schedule_id: str, now: datetime) -> bool:
    """Pause an ACTIVE schedule whose consecutive failures reached pause_after_failures; return whether it paused."""
    paused = session.execute(
        sa.update(SCHEDULES)
        .where(
            SCHEDULES.c.schedule_id == schedule_id,
            SCHEDULES.c.status == ScheduleStatus.ACTIVE,
            SCHEDULES.c.pause_after_failures.is_not(None),
            SCHEDULES.c.consecutive_failures >= SCHEDULES.c.pause_after_failures,
        )
        .values(
            status=ScheduleStatus.PAUSED,
            paused_reason=sa.case(
                (SCHEDULES.c.consecutive_failures == 1, sa.literal("Paused after 1 consecutive failure")),
                else_=sa.literal("Paused after ")
                + sa.cast(SCHEDULES.c.consecutive_failures, sa.String)
                + sa.literal(" consecutive failures"),
            ),
            updated_at=now,
        )
    )
    if paused.rowcount != 1:
        return False
    notices.auto_paused(session, schedule_id, now)
    return True


def fire_buffered(session: Session, schedule_id: str, now: datetime) -> str | None:
    """Fire the schedule's BUFFERED occurrence once no run of it is going; return its new task id, or None.

    The execution keeps its occurrence and becomes PENDING with a task, executed_at = now. A
    deleted schedule's buffered occurrence is CANCELLED instead.
    """
    e = EXECUTIONS.c
    open_runs = session.execute(
        sa.select(e.execution_id, e.status).where(
            e.schedule_id == schedule_id, e.status.in_((ExecutionStatus.BUFFERED, *GOING_EXECUTION_STATUSES))
        )
    ).all()
    buffered = [r.execution_id for r in open_runs if r.status == ExecutionStatus.BUFFERED]
    if not buffered or len(open_runs) > len(buffered):
        return None
    schedule = session.scalar(
        sa.select(ScheduledTask)
        .where(ScheduledTask.schedule_id == schedule_id)
        .execution_options(populate_existing=True)
    )
    if schedule.status == ScheduleStatus.DELETED:
        session.execute(
            sa.update(EXECUTIONS)
            .where(e.execution_id.in_(buffered))
            .values(status=ExecutionStatus.CANCELLED, finished_at=now, error_message="The schedule was deleted")
        )
        return None
    [row] = task_rows_of(schedule, Form(session).at(now))
    task_id = row["task_id"]
    executemany(session, INSERT_TASK, [row])
    session.execute(
        sa.update(EXECUTIONS)
        .where(e.execution_id == buffered[0])
        .values(status=ExecutionStatus.PENDING, task_id=task_id, executed_at=now)
    )
    return task_id


def expire(session: Session, now: datetime, limit: int = 1000) -> tuple[int, int]:
    """End the attempts whose lease ran out without a heartbeat; return (retried, ended).

    Each counts as a failed attempt (fail_attempt). The expired tasks are found without a lock,
    then each is taken schedule first, task second, and checked again.
    """
    expired = list(
        session.scalars(
            sa.select(TASKS.c.task_id)
            .where(TASKS.c.status == TaskStatus.RUNNING, TASKS.c.lease_expires_at < now)
            .order_by(TASKS.c.lease_expires_at)
            .limit(limit)
        )
    )
    retried = ended = 0
    for task_id in expired:
        lock_schedule_of(session, task_id)
        task = lock_task(session, task_id)
        if task is None or task.status != TaskStatus.RUNNING or task.lease_expires_at >= now:
            continue  # finished or heartbeated meanwhile
        error = f"Lease expired at {iso_z(task.lease_expires_at)} without a heartbeat"
        if fail_attempt(session, task, error, now) == TaskStatus.PENDING:
            retried += 1
        else:
            ended += 1
    return retried, ended
