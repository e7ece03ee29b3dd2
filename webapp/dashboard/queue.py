"""The Tasks page: the queue by capability (waiting, running, oldest wait, retries) and who holds what."""

from __future__ import annotations

import sqlalchemy as sa
from flask import Blueprint

from .. import clock
from ..extensions import db
from ..models import ScheduleExecution, Task, TaskStatus
from ..scheduling import capabilities
from .htmx import page, require_login

bp = Blueprint("dashboard_queue", __name__)
bp.before_request(require_login)

SHOWN = 50


def queue_by_capability() -> list[dict]:
    """Return per capability with live tasks: waiting, running, retries waiting, the oldest wait, served or not."""
    t = Task
    rows = db.session.execute(
        sa.select(
            t.capability_required,
            sa.func.count().filter(t.status == TaskStatus.PENDING).label("pending"),
            sa.func.count().filter(t.status == TaskStatus.RUNNING).label("running"),
            sa.func.count().filter(sa.and_(t.status == TaskStatus.PENDING, t.attempts > 0)).label("retries"),
            sa.func.min(sa.case((t.status == TaskStatus.PENDING, t.updated_at))).label("oldest"),
        )
        .where(t.status.in_([TaskStatus.PENDING, TaskStatus.RUNNING]))
        .group_by(t.capability_required)
        .order_by(t.capability_required)
    ).all()
    unserved = capabilities.unserved(r.capability_required for r in rows)
    return [
        {
            "capability": r.capability_required,
            "pending": r.pending,
            "running": r.running,
            "retries": r.retries,
            "oldest": clock.as_utc(r.oldest),
            "served": r.capability_required not in unserved,
        }
        for r in rows
    ]


def _tasks(status: str, order) -> list[tuple[Task, str | None]]:
    """Return up to SHOWN tasks in a status, with their schedule ids."""
    rows = db.session.execute(
        sa.select(Task, ScheduleExecution.schedule_id)
        .outerjoin(ScheduleExecution, ScheduleExecution.task_id == Task.task_id)
        .where(Task.status == status)
        .order_by(order)
        .limit(SHOWN)
    ).all()
    return [(task, schedule_id) for task, schedule_id in rows]


@bp.get("/tasks")
def task_queue():
    """Show the queue so a stuck one is visible; HTMX refreshes it."""
    return page(
        "insight/tasks.html",
        "insight/_tasks.html",
        queue=queue_by_capability(),
        running=_tasks(TaskStatus.RUNNING, Task.lease_expires_at),
        waiting=_tasks(TaskStatus.PENDING, Task.updated_at),
        now=clock.utcnow(),
        shown=SHOWN,
    )
