"""The task loop: claim, complete, fail, leases.

Rules:
- A claim takes PENDING tasks whose capability_required the caller offers, highest priority
  (10) first, then oldest, and marks them RUNNING under a lease. Claims are not limited to the
  caller's own tasks (workers serve every client), but a non-admin agent may only offer
  capabilities it registered. Two claimers never get the same task: the claim runs in one
  write transaction (BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP LOCKED on PostgreSQL).
- `attempts` counts claims.
- The lease rule (the README states it too, and this is where it lives): a lease that runs out
  ends the attempt. From `lease_expires_at` on, the holder's complete or fail answers 409,
  whether or not the task has yet gone back to the queue; the dispatcher tick (or the next
  claim) returns it to PENDING within about a second, and after MAX_ATTEMPTS expired leases
  the task and its execution FAIL. A worker must finish before its lease runs out.
- Only the agent holding a RUNNING task may finish it. A task the caller cannot see (it is
  neither its client, nor its claiming agent, nor an admin) answers 404; one it can see but
  does not hold, or that is already finished, answers 409.
- The execution follows its task, and a failure adds one to the schedule's failed_runs.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..api.schemas import CLAIM, COMPLETE, FAIL, validate
from ..auth import Caller
from ..clock import as_utc, iso_z
from ..errors import conflict, invalid, not_found
from ..extensions import db, is_postgres, write_transaction
from ..models import Agent, ExecutionStatus, ScheduledTask, ScheduleExecution, Task, TaskStatus

DEFAULT_LEASE_SECONDS = 300
MAX_ATTEMPTS = 5
FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED)

TASKS = Task.__table__
EXECUTIONS = ScheduleExecution.__table__
SCHEDULES = ScheduledTask.__table__


def _record(outcome: str, count: int = 1) -> None:
    """Count task outcomes in the app's metrics, when it has them."""
    metrics = current_app.extensions.get("scheduler_metrics")
    if metrics is not None and count:
        metrics.record_task(outcome, count)


def _finish_rows(
    session, task_id: str, status: TaskStatus, result_data, error_message: str | None, now: datetime
) -> None:
    """Finish a task, its execution and (on failure) its schedule's failed_runs, with core updates."""
    result = sa.null() if result_data is None else result_data
    ended = {"status": status, "result_data": result, "error_message": error_message, "finished_at": now}
    session.execute(
        sa.update(TASKS).where(TASKS.c.task_id == task_id).values(**ended, lease_expires_at=None, updated_at=now)
    )
    session.execute(sa.update(EXECUTIONS).where(EXECUTIONS.c.task_id == task_id).values(**ended))
    if status == TaskStatus.FAILED:
        owners = sa.select(EXECUTIONS.c.schedule_id).where(EXECUTIONS.c.task_id == task_id).scalar_subquery()
        session.execute(
            sa.update(SCHEDULES)
            .where(SCHEDULES.c.schedule_id == owners)
            .values(failed_runs=SCHEDULES.c.failed_runs + 1, updated_at=now)
        )


def _requeue_expired(session, now: datetime, limit: int = 1000) -> tuple[int, int]:
    """Return expired leases to PENDING, or FAIL tasks out of attempts; return (requeued, failed)."""
    query = (
        sa.select(TASKS.c.task_id, TASKS.c.attempts)
        .where(TASKS.c.status == TaskStatus.RUNNING, TASKS.c.lease_expires_at < now)
        .limit(limit)
    )
    if is_postgres(session):
        query = query.with_for_update(skip_locked=True)
    rows = session.execute(query).all()
    retry = [r.task_id for r in rows if r.attempts < MAX_ATTEMPTS]
    give_up = [r.task_id for r in rows if r.attempts >= MAX_ATTEMPTS]
    if retry:
        session.execute(
            sa.update(TASKS)
            .where(TASKS.c.task_id.in_(retry), TASKS.c.status == TaskStatus.RUNNING)
            .values(status=TaskStatus.PENDING, agent_id=None, lease_expires_at=None, updated_at=now)
        )
    for task_id in give_up:
        _finish_rows(session, task_id, TaskStatus.FAILED, None, f"Lease expired {MAX_ATTEMPTS} times; giving up", now)
    return len(retry), len(give_up)


def expire_leases(now: datetime | None = None) -> int:
    """Requeue tasks whose lease has expired (the dispatcher tick calls this); return how many."""
    now = now or clock.utcnow()
    expired = (
        sa.select(TASKS.c.task_id).where(TASKS.c.status == TaskStatus.RUNNING, TASKS.c.lease_expires_at < now).limit(1)
    )
    found = db.session.scalar(expired)
    db.session.rollback()  # a cheap read first, so idle ticks never take the write lock
    if found is None:
        return 0
    with write_transaction() as session:
        requeued, failed = _requeue_expired(session, now)
    _record("lease_expired", requeued)
    _record("failed", failed)
    return requeued + failed


def _offered(caller: Caller, capabilities: list[str]) -> list[str]:
    """Return the capabilities a claim offers; refuse ones a non-admin agent never registered."""
    if caller.agent_id is None:
        raise invalid("Only an agent can claim tasks", "capabilities")
    offered = list(dict.fromkeys(capabilities))
    if not caller.is_admin:
        agent = db.session.get(Agent, caller.agent_id)
        registered = set(agent.capabilities or []) if agent else set()
        db.session.rollback()
        unknown = [c for c in offered if c not in registered]
        if unknown:
            raise invalid(f"Capability not registered for this agent: {unknown[0]}", "capabilities")
    return offered


def claim(caller: Caller, body: dict, now: datetime | None = None) -> list[Task]:
    """Claim up to `limit` (default 1) PENDING tasks for the offered capabilities; they become RUNNING."""
    now = now or clock.utcnow()
    data = validate(CLAIM, body)
    capabilities = _offered(caller, data["capabilities"])
    asked = data.get("lease_seconds")
    with write_transaction() as session:
        requeued, failed = _requeue_expired(session, now)
        query = (
            sa.select(TASKS.c.task_id, TASKS.c.timeout_seconds)
            .where(
                TASKS.c.status == TaskStatus.PENDING,
                TASKS.c.capability_required.in_(capabilities),
                sa.or_(TASKS.c.not_before.is_(None), TASKS.c.not_before <= now),  # a retry waits out its backoff
            )
            .order_by(TASKS.c.priority.desc(), TASKS.c.created_at, TASKS.c.task_id)
            .limit(data.get("limit", 1))
        )
        if is_postgres(session):
            query = query.with_for_update(skip_locked=True)
        picked = session.execute(query).all()
        ids = [row.task_id for row in picked]
        _mark_claimed(session, caller, picked, asked, now)
        loaded = session.scalars(
            sa.select(Task).where(Task.task_id.in_(ids)).execution_options(populate_existing=True)
        ).all()
    _record("lease_expired", requeued)
    _record("failed", failed)
    _record("claimed", len(ids))
    order = {task_id: i for i, task_id in enumerate(ids)}
    return sorted(loaded, key=lambda t: order[t.task_id])


def _mark_claimed(session, caller: Caller, picked: list, asked: int | None, now: datetime) -> None:
    """Make claimed tasks RUNNING under their lease, and their executions RUNNING with the attempt counted.

    The lease is the claim's lease_seconds when it asks, else each task's timeout_seconds (one
    UPDATE per distinct lease: tasks mostly share one).
    """
    leases: dict[int, list[str]] = {}
    for row in picked:
        leases.setdefault(asked or row.timeout_seconds or DEFAULT_LEASE_SECONDS, []).append(row.task_id)
    for seconds, ids in leases.items():
        session.execute(
            sa.update(TASKS)
            .where(TASKS.c.task_id.in_(ids), TASKS.c.status == TaskStatus.PENDING)
            .values(
                status=TaskStatus.RUNNING,
                agent_id=caller.agent_id,
                lease_expires_at=now + timedelta(seconds=seconds),
                attempts=TASKS.c.attempts + 1,
                not_before=None,
                started_at=sa.func.coalesce(TASKS.c.started_at, now),
                updated_at=now,
            )
        )
    if picked:
        session.execute(
            sa.update(EXECUTIONS)
            .where(EXECUTIONS.c.task_id.in_([row.task_id for row in picked]))
            .values(
                status=ExecutionStatus.RUNNING,
                attempts=EXECUTIONS.c.attempts + 1,
                started_at=sa.func.coalesce(EXECUTIONS.c.started_at, now),
            )
        )


def _may_see(caller: Caller, task: Task) -> bool:
    """Tell whether the caller may see a task: its client, its claiming agent, or an admin."""
    return caller.is_admin or (caller.agent_id is not None and caller.agent_id in (task.client_id, task.agent_id))


def _finish(caller: Caller, task_id: str, status: TaskStatus, result_data, error_message, now: datetime | None) -> Task:
    """Finish a task the caller holds; see the module rules for 404 and 409."""
    now = now or clock.utcnow()
    with write_transaction() as session:
        query = sa.select(Task).where(Task.task_id == task_id).execution_options(populate_existing=True)
        if is_postgres(session):
            query = query.with_for_update()
        task = session.scalar(query)
        if task is None or not _may_see(caller, task):
            raise not_found("Task")
        if task.status in FINISHED:
            raise conflict(f"Task is already {task.status}", "status")
        if task.status != TaskStatus.RUNNING or task.agent_id != caller.agent_id:
            raise conflict("Task is not claimed by you; claim it first", "status")
        if task.lease_expires_at is not None and as_utc(task.lease_expires_at) <= now:
            # The lease rule (module docstring): an expired lease ended this attempt.
            expired = iso_z(task.lease_expires_at)
            raise conflict(f"Your lease expired at {expired}; the task goes back to the queue", "lease_expires_at")
        _finish_rows(session, task_id, status, result_data, error_message, now)
        session.refresh(task)
    _record(status.lower())
    return task


def complete(caller: Caller, task_id: str, body: dict, now: datetime | None = None) -> Task:
    """Complete a task the caller holds, with its result_data."""
    data = validate(COMPLETE, body)
    return _finish(caller, task_id, TaskStatus.COMPLETED, data.get("result_data"), None, now)


def fail(caller: Caller, task_id: str, body: dict, now: datetime | None = None) -> Task:
    """Fail a task the caller holds, with its error_message."""
    data = validate(FAIL, body)
    return _finish(caller, task_id, TaskStatus.FAILED, None, data["error_message"], now)


def get_task(caller: Caller, task_id: str) -> Task:
    """Return a task to its client, its claiming agent or an admin; 404 to anyone else."""
    task = db.session.get(Task, task_id)
    if task is None or not _may_see(caller, task):
        raise not_found("Task")
    return task


def executions_of(task_ids: list[str]) -> dict[str, ScheduleExecution]:
    """Return the execution of each task, by task id."""
    if not task_ids:
        return {}
    rows = db.session.scalars(sa.select(ScheduleExecution).where(ScheduleExecution.task_id.in_(task_ids)))
    return {e.task_id: e for e in rows}
