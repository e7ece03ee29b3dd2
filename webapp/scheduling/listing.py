"""Pages of schedules and of a schedule's executions, newest first; each caller sees only its own."""

from __future__ import annotations

import sqlalchemy as sa

from .. import paging
from ..auth import Caller
from ..errors import invalid
from ..extensions import db
from ..models import ExecutionStatus, ExecutionTrigger, ScheduledTask, ScheduleExecution, ScheduleStatus
from . import counts
from .schedules import schedule_or_404


def list_schedules(
    caller: Caller,
    client_id: str | None,
    status: str | None,
    limit: int,
    offset: int,
    cursor: str | None = None,
) -> tuple[list[ScheduledTask], int]:
    """Return a page of schedules, newest first, and the total that match.

    A `cursor` (from paging.page_cursor) continues after a given row in constant time,
    where a deep `offset` has to walk the index up to it.
    """
    if status is not None and status not in list(ScheduleStatus):
        raise invalid(f"status must be one of {', '.join(ScheduleStatus)}", "status")
    if not caller.is_admin:
        if client_id and client_id != caller.agent_id:
            return [], 0
        client_id = caller.agent_id
    # An IN list (rather than != 'DELETED') lets both databases answer from an index.
    shown = [status] if status else [s for s in ScheduleStatus if s != ScheduleStatus.DELETED]
    conditions = [ScheduledTask.status.in_(shown)]
    if client_id:
        conditions.append(ScheduledTask.client_id == client_id)
    total = counts.total(db.session(), client_id, shown)  # never folds: a GET does not write
    order = (ScheduledTask.created_at.desc(), ScheduledTask.schedule_id.desc())
    # Page over the index first, then fetch the 'limit' full rows: a deep offset stays cheap.
    ids = sa.select(ScheduledTask.schedule_id).where(*conditions)
    page = paging.newest_page(
        ids, ScheduledTask.created_at, ScheduledTask.schedule_id, limit, offset, cursor
    ).subquery()
    rows = db.session.scalars(
        sa.select(ScheduledTask).join(page, ScheduledTask.schedule_id == page.c.schedule_id).order_by(*order)
    ).all()
    return list(rows), total


def list_executions(
    caller: Caller,
    schedule_id: str,
    limit: int,
    offset: int,
    status: str | None = None,
    trigger: str | None = None,
    cursor: str | None = None,
) -> tuple[list[ScheduleExecution], int]:
    """Return a page of a schedule's executions, newest first, and the total that match."""
    schedule_or_404(caller, schedule_id)
    if status is not None and status not in list(ExecutionStatus):
        raise invalid(f"status must be one of {', '.join(ExecutionStatus)}", "status")
    if trigger is not None and trigger not in list(ExecutionTrigger):
        raise invalid(f"trigger must be one of {', '.join(ExecutionTrigger)}", "trigger")
    where = [ScheduleExecution.schedule_id == schedule_id]
    if status is not None:
        where.append(ScheduleExecution.status == status)
    if trigger is not None:
        where.append(ScheduleExecution.trigger == trigger)
    at, row_id = ScheduleExecution.scheduled_for, ScheduleExecution.execution_id
    return paging.newest_first(ScheduleExecution, where, at, row_id, limit, offset, cursor)
