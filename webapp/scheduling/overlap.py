"""Overlap: what an occurrence does while the schedule's previous run is still going.

Decided inside the firing transaction, which holds the schedule row (FOR UPDATE on PostgreSQL,
the write lock on SQLite): every path that ends a run (attempts.py) takes the same row first,
so a dispatcher and a finishing worker never both see "nothing running", and a run that ends
while an occurrence is being buffered fires the buffered one as soon as it gets the row.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import datetime

import sqlalchemy as sa
from sqlalchemy.orm import Session

from ..models import (
    GOING_EXECUTION_STATUSES,
    ExecutionReason,
    ExecutionStatus,
    OverlapPolicy,
    ScheduleExecution,
    Task,
    TaskStatus,
)

EXECUTIONS = ScheduleExecution.__table__
TASKS = Task.__table__
OPEN = (ExecutionStatus.BUFFERED, *GOING_EXECUTION_STATUSES)
_CHUNK = 500  # ids per IN list


@dataclass(frozen=True)
class Going:
    """A run of a schedule that has not ended: buffered, pending, running, or waiting for a retry."""

    execution_id: str
    task_id: str | None
    status: str  # the execution's
    task_status: str | None


@dataclass
class Decision:
    """What the due occurrences of one schedule do, given its going runs."""

    fire: list[datetime] = field(default_factory=list)  # create a task
    buffer: datetime | None = None  # record BUFFERED, fire when the going run ends
    skipped: list[datetime] = field(default_factory=list)  # SKIPPED, reason OVERLAP
    replaced: list[datetime] = field(default_factory=list)  # fired and replaced in this same tick
    replace: list[Going] = field(default_factory=list)  # going runs to cancel (pending) or flag (running)


def going_runs(session: Session, schedule_ids: list[str]) -> dict[str, list[Going]]:
    """Return each schedule's runs that have not ended, by schedule id."""
    found: dict[str, list[Going]] = {}
    for start in range(0, len(schedule_ids), _CHUNK):
        query = (
            sa.select(EXECUTIONS.c.schedule_id, EXECUTIONS.c.execution_id, EXECUTIONS.c.task_id, EXECUTIONS.c.status)
            .add_columns(TASKS.c.status.label("task_status"))
            .select_from(EXECUTIONS.outerjoin(TASKS, TASKS.c.task_id == EXECUTIONS.c.task_id))
            .where(EXECUTIONS.c.schedule_id.in_(schedule_ids[start : start + _CHUNK]), EXECUTIONS.c.status.in_(OPEN))
        )
        for row in session.execute(query):
            found.setdefault(row.schedule_id, []).append(
                Going(row.execution_id, row.task_id, row.status, row.task_status)
            )
    return found


def decide(policy: str, fires: list[datetime], going: list[Going]) -> Decision:
    """Decide the fate of the occurrences that would fire (oldest first) under an overlap policy.

    ALLOW fires them all. SKIP fires one when nothing is going, and skips the rest. BUFFER_ONE
    also keeps one waiting (BUFFERED) while a run is going. REPLACE ends every going run and
    fires the newest occurrence; older ones due in the same tick are replaced at once.
    """
    if policy == OverlapPolicy.ALLOW or not fires:
        return Decision(fire=list(fires))
    if policy == OverlapPolicy.REPLACE:
        return Decision(fire=fires[-1:], replaced=fires[:-1], replace=list(going))
    decision = Decision()
    busy = any(g.status in GOING_EXECUTION_STATUSES for g in going)
    buffered = any(g.status == ExecutionStatus.BUFFERED for g in going)
    for at in fires:
        if not busy:
            decision.fire.append(at)
            busy = True
        elif policy == OverlapPolicy.BUFFER_ONE and not buffered:
            decision.buffer, buffered = at, True
        else:
            decision.skipped.append(at)
    return decision


def replace(session: Session, going: list[Going], now: datetime) -> None:
    """End going runs for a REPLACE firing: a pending task (or a buffered run) is CANCELLED at once,
    a running task is asked to stop (cancel_requested) and ends as its worker reports."""
    if not going:
        return
    ended = {"status": ExecutionStatus.CANCELLED, "reason": ExecutionReason.REPLACED, "finished_at": now}
    buffered = [g.execution_id for g in going if g.status == ExecutionStatus.BUFFERED]
    if buffered:
        session.execute(
            sa.update(EXECUTIONS)
            .where(EXECUTIONS.c.execution_id.in_(buffered), EXECUTIONS.c.status == ExecutionStatus.BUFFERED)
            .values(**ended)
        )
    task_ids = [g.task_id for g in going if g.task_id]
    if not task_ids:
        return
    # The status conditions decide, not what was read: a task claimed meanwhile is flagged instead.
    session.execute(
        sa.update(TASKS)
        .where(TASKS.c.task_id.in_(task_ids), TASKS.c.status == TaskStatus.PENDING)
        .values(status=TaskStatus.CANCELLED, finished_at=now, updated_at=now, not_before=None)
    )
    cancelled = sa.select(TASKS.c.task_id).where(TASKS.c.task_id.in_(task_ids), TASKS.c.status == TaskStatus.CANCELLED)
    session.execute(
        sa.update(EXECUTIONS)
        .where(EXECUTIONS.c.task_id.in_(cancelled), EXECUTIONS.c.status.in_(GOING_EXECUTION_STATUSES))
        .values(**ended)
    )
    session.execute(
        sa.update(TASKS)
        .where(TASKS.c.task_id.in_(task_ids), TASKS.c.status == TaskStatus.RUNNING)
        .values(cancel_requested=True, updated_at=now)
    )
