"""What the scheduler reports as it goes: events and SYSTEM audit entries, in the transaction of the change.

- A dispatcher batch: execution.skipped for every SKIPPED execution it writes (missed, overlap,
  outside the catch-up window), and schedule.completed / schedule.failed with a SYSTEM audit entry
  when a firing ends its schedule. Collected beside the batch's rows and written with them.
- The end of a run (attempts.end_run): execution.completed or execution.failed (final).
- Auto-pause (attempts.auto_pause): schedule.auto_paused and a SYSTEM audit entry.
"""

from __future__ import annotations

import json
from datetime import UTC, datetime

import sqlalchemy as sa
from sqlalchemy.engine import Row
from sqlalchemy.orm import Session

from ..clock import iso_z
from ..models import (
    EventType,
    ExecutionStatus,
    ScheduledTask,
    ScheduleExecution,
    ScheduleStatus,
    Task,
    TaskStatus,
)
from ..scheduling.bulkwrite import Form, executemany
from . import audit, outbox

MAX_EVENT_RESULT_BYTES = 16 * 1024
TASKS = Task.__table__
EXECUTIONS = ScheduleExecution.__table__
SCHEDULES = ScheduledTask.__table__
_ENDS = {
    ScheduleStatus.COMPLETED: ("complete", EventType.SCHEDULE_COMPLETED),
    ScheduleStatus.FAILED: ("fail", EventType.SCHEDULE_FAILED),
}


def _instant(value) -> datetime | None:
    """Read an instant back from its driver form (text on SQLite, naive UTC on PostgreSQL)."""
    if value is None:
        return None
    if isinstance(value, str):
        value = datetime.fromisoformat(value)
    return value.replace(tzinfo=UTC) if value.tzinfo is None else value


class BatchNotices:
    """The events and SYSTEM audit rows a dispatcher batch owes, collected beside its firings."""

    def __init__(self, session: Session, form: Form) -> None:
        """Start empty for one batch."""
        self.outbox = outbox.Outbox(session)
        self.form = form
        self.audits: list[dict] = []

    def firing(self, row: Row, executions: list[dict], advance: dict, now: datetime) -> None:
        """Report what one schedule's firing wrote: its SKIPPED executions and a COMPLETED or FAILED end."""
        for e in executions:
            if e.get("status") == ExecutionStatus.SKIPPED:
                data = {"scheduled_for": iso_z(_instant(e["scheduled_for"])), "reason": e.get("reason")}
                data["note"] = e.get("error_message")
                fields = {"schedule_id": row.schedule_id, "execution_id": e["execution_id"], "data": data}
                self.outbox.add(EventType.EXECUTION_SKIPPED, row.client_id, now, **fields)
        status = advance.get("b_status")
        if status not in _ENDS:
            return
        action, event = _ENDS[status]
        error = advance.get("b_error")
        changes = {"status": [ScheduleStatus.ACTIVE.value, status.value if hasattr(status, "value") else status]}
        changes["next_run_at"] = [iso_z(row.next_run_at), None]
        data = {"status": changes["status"][1], "previous_status": "ACTIVE", "reason": error}
        if advance.get("b_runs"):
            data["last_run_at"] = iso_z(_instant(advance.get("b_last")))
        if error:
            changes["last_error"] = [None, error]
        self.outbox.add(event, row.client_id, now, schedule_id=row.schedule_id, data=data)
        self.audits.append(audit.system_row(self.form, action, row.schedule_id, row.client_id, changes, now))

    def take(self) -> tuple:
        """Hand over what was collected, leaving this empty."""
        audits, self.audits = self.audits, []
        return (*self.outbox.take(), audits)


def write_notices(session: Session, notices: tuple) -> None:
    """Write what BatchNotices.take handed over, in the session's transaction."""
    events, deliveries, counts, audits = notices
    outbox.write(session, events, deliveries, counts)
    if audits:
        executemany(session, audit.INSERT_AUDIT, audits)


def run_ended(session: Session, task_id: str, status: str, result_data, error: str | None, now: datetime) -> None:
    """Write execution.completed or execution.failed (final) for a run that ended (CANCELLED: nothing)."""
    if status not in (TaskStatus.COMPLETED, TaskStatus.FAILED):
        return
    row = session.execute(
        sa.select(
            EXECUTIONS.c.execution_id,
            EXECUTIONS.c.schedule_id,
            EXECUTIONS.c.scheduled_for,
            EXECUTIONS.c.trigger,
            SCHEDULES.c.client_id,
            TASKS.c.task_type,
            TASKS.c.attempts,
            TASKS.c.agent_id,
        )
        .join(SCHEDULES, SCHEDULES.c.schedule_id == EXECUTIONS.c.schedule_id)
        .join(TASKS, TASKS.c.task_id == EXECUTIONS.c.task_id)
        .where(EXECUTIONS.c.task_id == task_id)
    ).first()
    if row is None:
        return
    data = {
        "status": status,
        "scheduled_for": iso_z(row.scheduled_for),
        "trigger": row.trigger or "SCHEDULE",
        "task_type": row.task_type,
        "agent_id": row.agent_id,
        "attempts": row.attempts,
    }
    if status == TaskStatus.COMPLETED:
        # A large result stays in the task; the event says so rather than carry it.
        small = len(json.dumps(result_data, default=str)) <= MAX_EVENT_RESULT_BYTES
        data["result_data"] = result_data if small else None
        data["result_data_truncated"] = not small
        event = EventType.EXECUTION_COMPLETED
    else:
        data["error_message"] = error
        event = EventType.EXECUTION_FAILED
    fields = {"schedule_id": row.schedule_id, "execution_id": row.execution_id, "task_id": task_id, "data": data}
    outbox.emit(session, event, row.client_id, now, **fields)


def auto_paused(session: Session, schedule_id: str, now: datetime) -> None:
    """Write schedule.auto_paused and its SYSTEM audit entry for a schedule that just paused itself."""
    row = session.execute(
        sa.select(
            SCHEDULES.c.client_id,
            SCHEDULES.c.paused_reason,
            SCHEDULES.c.consecutive_failures,
            SCHEDULES.c.pause_after_failures,
        ).where(SCHEDULES.c.schedule_id == schedule_id)
    ).one()
    data = {
        "status": "PAUSED",
        "paused_reason": row.paused_reason,
        "consecutive_failures": row.consecutive_failures,
        "pause_after_failures": row.pause_after_failures,
    }
    outbox.emit(session, EventType.SCHEDULE_AUTO_PAUSED, row.client_id, now, schedule_id=schedule_id, data=data)
    changes = {"status": ["ACTIVE", "PAUSED"], "paused_reason": [None, row.paused_reason]}
    entry = audit.system_row(Form(session), "auto_pause", schedule_id, row.client_id, changes, now)
    executemany(session, audit.INSERT_AUDIT, [entry])
