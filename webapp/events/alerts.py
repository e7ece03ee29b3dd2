"""task.unclaimed: a task that has waited claimable longer than its schedule's unclaimed_alert_seconds.

Checked by the delivery timer, never by a firing. Each task is alerted once: the conditional
UPDATE ... WHERE unclaimed_alerted_at IS NULL RETURNING lets only one process stamp it, and the
event is written in that same transaction.
"""

from __future__ import annotations

from datetime import datetime, timedelta

import sqlalchemy as sa
from flask import current_app

from .. import clock
from ..clock import iso_z
from ..extensions import db, write_transaction
from ..models import ScheduledTask, ScheduleExecution, Task
from .outbox import Outbox

TASKS = Task.__table__
EXECUTIONS = ScheduleExecution.__table__
SCHEDULES = ScheduledTask.__table__
BATCH = 500


def _candidates(now: datetime) -> list:
    """Return PENDING, not yet alerted tasks of schedules with an alert, that waited past it."""
    query = (
        sa.select(
            TASKS.c.task_id,
            TASKS.c.client_id,
            TASKS.c.capability_required,
            TASKS.c.task_type,
            TASKS.c.created_at,
            TASKS.c.updated_at,
            TASKS.c.not_before,
            EXECUTIONS.c.execution_id,
            EXECUTIONS.c.schedule_id,
            SCHEDULES.c.unclaimed_alert_seconds,
        )
        .join(EXECUTIONS, EXECUTIONS.c.task_id == TASKS.c.task_id)
        .join(SCHEDULES, SCHEDULES.c.schedule_id == EXECUTIONS.c.schedule_id)
        .where(
            TASKS.c.status == "PENDING",
            TASKS.c.unclaimed_alerted_at.is_(None),
            SCHEDULES.c.unclaimed_alert_seconds.is_not(None),
            TASKS.c.updated_at < now - timedelta(seconds=1),  # the smallest alert is one second
            sa.or_(TASKS.c.not_before.is_(None), TASKS.c.not_before < now - timedelta(seconds=1)),
        )
        .order_by(TASKS.c.updated_at)
        .limit(BATCH)
    )
    rows = db.session.execute(query).all()
    db.session.rollback()
    return [r for r in rows if claimable_since(r) + timedelta(seconds=r.unclaimed_alert_seconds) < now]


def claimable_since(row) -> datetime:
    """Return when a PENDING task became claimable: its creation or last requeue, or its retry's not_before."""
    if row.not_before is not None and row.not_before > row.updated_at:
        return row.not_before
    return row.updated_at


def check_unclaimed(now: datetime | None = None) -> int:
    """Send task.unclaimed for every task that waited too long; return how many were sent."""
    now = now or clock.utcnow()
    due = _candidates(now)
    if not due:
        return 0
    with write_transaction() as session:
        stamped = set(
            session.scalars(
                sa.update(TASKS)
                .where(
                    TASKS.c.task_id.in_([r.task_id for r in due]),
                    TASKS.c.status == "PENDING",
                    TASKS.c.unclaimed_alerted_at.is_(None),
                )
                .values(unclaimed_alerted_at=now)
                .returning(TASKS.c.task_id)
            )
        )
        outbox = Outbox(session)
        for row in due:
            if row.task_id in stamped:
                outbox.add(
                    "task.unclaimed",
                    row.client_id,
                    now,
                    schedule_id=row.schedule_id,
                    execution_id=row.execution_id,
                    task_id=row.task_id,
                    data={
                        "capability_required": row.capability_required,
                        "task_type": row.task_type,
                        "created_at": iso_z(row.created_at),
                        "claimable_since": iso_z(row.updated_at),
                        "waited_seconds": int((now - claimable_since(row)).total_seconds()),
                        "unclaimed_alert_seconds": row.unclaimed_alert_seconds,
                    },
                )
        outbox.flush()
    metrics = current_app.extensions.get("scheduler_metrics")
    if metrics is not None and stamped:
        metrics.unclaimed.inc(len(stamped))
    return len(stamped)
