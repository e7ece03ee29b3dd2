"""How schedules, executions and tasks read in API answers: serializers, no rules."""

from __future__ import annotations

from datetime import datetime

import sqlalchemy as sa

from ..clock import iso_z
from ..extensions import db
from ..models import ScheduledTask, ScheduleExecution, Task
from . import policies


def duration_seconds(started: datetime | None, finished: datetime | None) -> float | None:
    """Return how long a run took, from its first claim to its end, or None when it has not both."""
    if started is None or finished is None:
        return None
    return round(max((finished - started).total_seconds(), 0.0), 6)


def last_runs(schedule_ids: list[str]) -> dict[str, ScheduleExecution]:
    """Return each schedule's latest execution that fired (had a task), by schedule id; one query."""
    if not schedule_ids:
        return {}
    e = ScheduleExecution
    newest = (
        sa.select(e.schedule_id, sa.func.max(e.scheduled_for).label("at"))
        .where(e.schedule_id.in_(schedule_ids), e.task_id.is_not(None))
        .group_by(e.schedule_id)
        .subquery()
    )
    rows = db.session.scalars(
        sa.select(e).join(newest, sa.and_(e.schedule_id == newest.c.schedule_id, e.scheduled_for == newest.c.at))
    )
    return {row.schedule_id: row for row in rows}


def _last_run(e: ScheduleExecution | None) -> dict | None:
    """Summarize the latest fired execution: when, and how it ended."""
    if e is None:
        return None
    return {
        "execution_id": e.execution_id,
        "scheduled_for": iso_z(e.scheduled_for),
        "status": e.status,
        "finished_at": iso_z(e.finished_at),
        "error_message": e.error_message,
    }


def schedule_dict(s: ScheduledTask, last_run: ScheduleExecution | None = None) -> dict:
    """Serialize every field of a schedule, its policies (defaults filled in) and its latest run."""
    return {
        "schedule_id": s.schedule_id,
        "client_id": s.client_id,
        "task_type": s.task_type,
        "capability_required": s.capability_required,
        "input_data": s.input_data,
        "priority": s.priority,
        "cron_expression": s.cron_expression,
        "run_at": iso_z(s.run_at),
        "timezone": s.timezone,
        "status": s.status,
        "next_run_at": iso_z(s.next_run_at),
        "last_run_at": iso_z(s.last_run_at),
        "total_runs": s.total_runs,
        "failed_runs": s.failed_runs,
        "description": s.description,
        "last_error": s.last_error,
        "unclaimed_alert_seconds": s.unclaimed_alert_seconds,
        "created_at": iso_z(s.created_at),
        "updated_at": iso_z(s.updated_at),
        **policies.public(s),
        "dst_gap": s.dst_gap or "SHIFT",
        "dst_repeat": s.dst_repeat or "FIRST",
        "calendar_id": s.calendar_id,
        "holiday_rule": s.holiday_rule,
        "last_run": _last_run(last_run),
    }


def schedule_answer(s: ScheduledTask) -> dict:
    """Serialize one schedule with its latest run (one more query)."""
    return schedule_dict(s, last_runs([s.schedule_id]).get(s.schedule_id))


def schedule_answers(rows: list[ScheduledTask]) -> list[dict]:
    """Serialize a page of schedules with their latest runs (one more query for the page)."""
    latest = last_runs([s.schedule_id for s in rows])
    return [schedule_dict(s, latest.get(s.schedule_id)) for s in rows]


def execution_dict(e: ScheduleExecution) -> dict:
    """Serialize an execution: its occurrence, fate, trigger, reason and timing."""
    return {
        "execution_id": e.execution_id,
        "schedule_id": e.schedule_id,
        "task_id": e.task_id,
        "scheduled_for": iso_z(e.scheduled_for),
        "executed_at": iso_z(e.executed_at),
        "status": e.status,
        "result_data": e.result_data,
        "error_message": e.error_message,
        "trigger": e.trigger or "SCHEDULE",
        "reason": e.reason,
        "attempts": e.attempts or 0,
        "started_at": iso_z(e.started_at),
        "finished_at": iso_z(e.finished_at),
        "duration_seconds": duration_seconds(e.started_at, e.finished_at),
    }


def task_dict(task: Task, execution: ScheduleExecution | None = None) -> dict:
    """Serialize a task, its attempts, and the schedule occurrence that produced it."""
    return {
        "task_id": task.task_id,
        "client_id": task.client_id,
        "task_type": task.task_type,
        "capability_required": task.capability_required,
        "input_data": task.input_data,
        "priority": task.priority,
        "status": task.status,
        "agent_id": task.agent_id,
        "lease_expires_at": iso_z(task.lease_expires_at),
        "attempts": task.attempts,
        "max_attempts": task.max_attempts or 1,
        "not_before": iso_z(task.not_before),
        "timeout_seconds": task.timeout_seconds or 300,
        "cancel_requested": bool(task.cancel_requested),
        "result_data": task.result_data,
        "error_message": task.error_message,
        "created_at": iso_z(task.created_at),
        "updated_at": iso_z(task.updated_at),
        "started_at": iso_z(task.started_at),
        "finished_at": iso_z(task.finished_at),
        "duration_seconds": duration_seconds(task.started_at, task.finished_at),
        "schedule_id": execution.schedule_id if execution else None,
        "execution": execution_dict(execution) if execution else None,
    }
