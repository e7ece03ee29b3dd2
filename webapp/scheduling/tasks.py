"""The task loop: claim, complete, fail, leases.

Rules:
- A claim takes PENDING tasks whose capability_required the caller offers, highest priority
  (10) first, then oldest, and marks them RUNNING under a lease. Claims are not limited to the
  caller's own tasks (workers serve every client), but a non-admin agent may only offer
  capabilities it registered. Two claimers never get the same task: the claim runs in one
  write transaction (BEGIN IMMEDIATE on SQLite, FOR UPDATE SKIP LOCKED on PostgreSQL).
- `attempts` counts claims. A claim grants a lease of the task's timeout_seconds (or the
  claim's lease_seconds) and never takes a task before its not_before (a retry's backoff).
- The lease rule (the README states it too, and this is where it lives): a lease that runs out
  ends the attempt. From `lease_expires_at` on, the holder's complete, fail or heartbeat answers
  409, whether or not the task has yet been requeued; the dispatcher tick (or the next claim)
  counts it as a failed attempt within about a second (attempts.py: retried while attempts
  remain, else FAILED). A worker heartbeats to keep its lease.
- Only the agent holding a RUNNING task may finish or heartbeat it. A task the caller cannot
  see (it is neither its client, nor its claiming agent, nor an admin) answers 404; one it can
  see but does not hold, or that is already finished, answers 409.
- The execution follows its task (attempts.py says how a run ends and what it does to the schedule).
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app
from sqlalchemy.orm import Session

from .. import clock
from ..api.limits import DEFAULT_TIMEOUT
from ..api.schemas import CLAIM, COMPLETE, FAIL, HEARTBEAT
from ..api.validation import validate
from ..auth import Caller
from ..clock import as_utc, iso_z
from ..errors import conflict, invalid, not_found
from ..extensions import db, is_postgres, write_transaction
from ..models import Agent, ExecutionStatus, ScheduleExecution, Task, TaskStatus
from . import attempts

FINISHED = (TaskStatus.COMPLETED, TaskStatus.FAILED, TaskStatus.CANCELLED)

TASKS = Task.__table__
EXECUTIONS = ScheduleExecution.__table__


def _record(outcome: str, count: int = 1) -> None:
    """Count task outcomes in the app's metrics, when it has them."""
    metrics = current_app.extensions.get("scheduler_metrics")
    if metrics is not None and count:
        metrics.record_task(outcome, count)


def expire_leases(now: datetime | None = None) -> int:
    """End the attempts whose lease expired (the dispatcher tick calls this); return how many."""
    now = now or clock.utcnow()
    expired = (
        sa.select(TASKS.c.task_id).where(TASKS.c.status == TaskStatus.RUNNING, TASKS.c.lease_expires_at < now).limit(1)
    )
    found = db.session.scalar(expired)
    db.session.rollback()  # a cheap read first, so idle ticks never take the write lock
    if found is None:
        return 0
    with write_transaction() as session:
        requeued, failed = attempts.expire(session, now)
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
        requeued, failed = attempts.expire(session, now)
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
        leases.setdefault(asked or row.timeout_seconds or DEFAULT_TIMEOUT, []).append(row.task_id)
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


def _held(session: Session, caller: Caller, task_id: str, now: datetime) -> Task:
    """Return a task the caller holds (schedule locked first, then task); see the module rules for 404 and 409."""
    task = session.get(Task, task_id)
    if task is None or not _may_see(caller, task):
        raise not_found("Task")
    attempts.lock_schedule_of(session, task_id)
    task = attempts.lock_task(session, task_id)
    if task.status in FINISHED:
        raise conflict(f"Task is already {task.status}", "status")
    if task.status != TaskStatus.RUNNING or task.agent_id != caller.agent_id:
        raise conflict("Task is not claimed by you; claim it first", "status")
    if task.lease_expires_at is not None and as_utc(task.lease_expires_at) <= now:
        # The lease rule (module docstring): an expired lease ended this attempt.
        expired = iso_z(task.lease_expires_at)
        raise conflict(f"Your lease expired at {expired}; the task goes back to the queue", "lease_expires_at")
    return task


def complete(caller: Caller, task_id: str, body: dict, now: datetime | None = None) -> Task:
    """Complete a task the caller holds, with its result_data; its run ends COMPLETED."""
    data = validate(COMPLETE, body)
    now = now or clock.utcnow()
    with write_transaction() as session:
        task = _held(session, caller, task_id, now)
        attempts.end_run(session, task_id, TaskStatus.COMPLETED, data.get("result_data"), None, now)
        session.refresh(task)
    _record("completed")
    return task


def fail(caller: Caller, task_id: str, body: dict, now: datetime | None = None) -> Task:
    """Fail the caller's attempt at a task: retried after its backoff while attempts remain, unless `"retry": false`."""
    data = validate(FAIL, body)
    now = now or clock.utcnow()
    with write_transaction() as session:
        task = _held(session, caller, task_id, now)
        outcome = attempts.fail_attempt(session, task, data["error_message"], now, data.get("retry", True))
        session.refresh(task)
    _record("retried" if outcome == TaskStatus.PENDING else outcome.lower())
    return task


def heartbeat(caller: Caller, task_id: str, body: dict, now: datetime | None = None) -> Task:
    """Extend the lease of a task the caller holds by its timeout_seconds; the answer says whether to stop."""
    validate(HEARTBEAT, body)
    now = now or clock.utcnow()
    with write_transaction() as session:
        task = _held(session, caller, task_id, now)
        session.execute(
            sa.update(TASKS)
            .where(TASKS.c.task_id == task_id)
            .values(lease_expires_at=now + timedelta(seconds=task.timeout_seconds or DEFAULT_TIMEOUT))
        )
        session.refresh(task)
    return task


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
